"""Small helpers over lexbor (selectolax) nodes, shared by the sources that read the DOM."""

from __future__ import annotations

import re
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


_SPACE = re.compile(r"\s+")
# Elements whose text runs on in the line around them (HTML's phrasing content); every other
# element starts and ends a line, so that the words on either side of it stay apart.
_INLINE = frozenset(
    "a abbr acronym b bdi bdo big cite code data del dfn em font i img ins kbd label mark nobr q"
    " rb rp rt rtc ruby s samp small span strike strong sub sup time tt u var wbr -text".split())
_NO_TEXT = frozenset("script style template noscript iframe object svg math button select".split())
# Elements that break a block's text into lines or hide text (a fast test before the walk).
_BREAKS = frozenset(
    "br p div li ul ol dl dt dd h1 h2 h3 h4 h5 h6 blockquote table tr td th pre section article"
    " aside header footer figure figcaption hr address script style template noscript iframe"
    " object svg math button select".split())


def _walk(node, skip_tag: str | None, skip_class: str | None) -> Iterator[str]:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            yield _SPACE.sub(" ", child.text())  # a line break in the HTML source is a space
        elif tag == "br":
            yield "\n"
        elif tag in _NO_TEXT or tag == skip_tag or tag == "-comment" or (
                skip_class and skip_class in (child.attributes.get("class") or "").split()):
            continue
        elif tag in _INLINE:
            yield from _walk(child, skip_tag, skip_class)
        else:
            yield "\n"
            yield from _walk(child, skip_tag, skip_class)
            yield "\n"


def _has_breaks(node) -> bool:
    """Whether an element below `node` breaks its text into lines or hides text: a child that
    is no inline element, or one of `_BREAKS` anywhere inside an inline child (its elements
    walked here: a CSS query, its selector parsed each time, cost more than the few nodes)."""
    for child in node.iter():
        tag = child.tag
        if tag == "-comment":
            continue
        if tag not in _INLINE:
            return True
        if child.child is not None and any(inner.tag in _BREAKS for inner in child.traverse()):
            return True
    return False


def own_text(node, skip_tag: str | None = None, skip_class: str | None = None) -> Iterator[str]:
    """The text under `node`, leaving out the subtrees of one tag or one class; a line break
    (`\\n`) where a `<br>` or a block element (a nested `<p>`, `<li>`, `<div>`...) separates text."""
    yield from _walk(node, skip_tag, skip_class)


def lines(node) -> str | None:
    """The node's text with its line boundaries (`<br>`, nested blocks) as `\\n`, or None."""
    if node is None:
        return None
    if not _has_breaks(node):  # inline markup only: one line, lexbor's own text
        return clean_text(node.text(deep=True, separator=""))
    return clean_text("".join(_walk(node, None, None)), lines=True)


def text(node) -> str | None:
    """The node's text as one line (a line boundary inside it a space), or None."""
    if node is None:
        return None
    if not _has_breaks(node):
        return clean_text(node.text(deep=True, separator=""))
    return clean_text("".join(_walk(node, None, None)))


def inside(node, tag: str | None = None, tracking_name: str | None = None) -> bool:
    """True when an ancestor of `node` has this tag or this `data-tracking-name`."""
    parent = node.parent
    while parent is not None:
        if parent.tag == tag or (tracking_name and
                                 parent.attributes.get("data-tracking-name") == tracking_name):
            return True
        parent = parent.parent
    return False
