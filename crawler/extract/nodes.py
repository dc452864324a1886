"""Small helpers over lexbor (selectolax) nodes, shared by the sources that read the DOM."""

from __future__ import annotations

from collections.abc import Iterator

from crawler.text import clean_text


def first(node, *selectors: str):
    """The first node the first matching selector finds under `node`, or None."""
    if node is None:
        return None
    for selector in selectors:
        found = node.css_first(selector)
        if found is not None:
            return found
    return None


def children(node, tag: str) -> list:
    """Direct element children of `node` with this tag."""
    return [child for child in node.iter() if child.tag == tag]


def first_child(node, tag: str):
    """The first direct element child of `node` with this tag, or None."""
    return next((child for child in node.iter() if child.tag == tag), None)


def own_text(node, skip_tag: str | None = None, skip_class: str | None = None) -> Iterator[str]:
    """The text under `node`, leaving out the subtrees of one tag or one class."""
    for child in node.iter(include_text=True):
        if child.tag == "-text":
            yield child.text()
        elif child.tag == skip_tag or (skip_class and skip_class in
                                       (child.attributes.get("class") or "").split()):
            continue
        else:
            yield from own_text(child, skip_tag, skip_class)


def text(node) -> str | None:
    """The node's text as one line (a block's text is one paragraph), or None."""
    if node is None:
        return None
    return clean_text(node.text(deep=True, separator=""))


def inside(node, tag: str | None = None, tracking_name: str | None = None) -> bool:
    """True when an ancestor of `node` has this tag or this `data-tracking-name`."""
    parent = node.parent
    while parent is not None:
        if parent.tag == tag or (tracking_name and
                                 parent.attributes.get("data-tracking-name") == tracking_name):
            return True
        parent = parent.parent
    return False
