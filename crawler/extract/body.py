"""An article's text as DW marks it up, whichever source holds it: paragraphs, subheads, figures
and the closing credit line. Used by the current DOM, the page state (its body is HTML) and the
old layout.

Everything inside the body container is the article's text, whatever the markup, but what is
known not to be its words: code, styles, embedded players, frames and form controls
(`nodes.NOT_TEXT`), comments, DW's ad slots (`AD_CLASSES`), and the figures, read as images
(their caption and credit apart). The old layout's cross-links are taken out before
(`old_layout.remove_cross_links`); the closing credit line is read apart from the last
paragraph. Blocks are found by what they hold, not by a list of tags: a heading (`h1`-`h6`) is
a subhead; a paragraph, list item, quote, table row, term or definition (`PARAGRAPHS`) is one
paragraph, its nested blocks and `<br>` line breaks in it; any other element holding blocks
(`div`, `section`, `aside`, `table`, `details`, a figure that shows no picture...) is read
block by block; one holding none (a `div`, `center` or `address` of text) is a paragraph; and
text or inline elements standing between blocks, directly in a container, are a paragraph of
their own (HTML's parser also leaves text there when it closes a `<p>` at a block inside it).
"""

from __future__ import annotations

from collections.abc import Iterator

from crawler import dw
from crawler.extract.nodes import INLINE, NOT_TEXT, first, first_child, lines, text, walk_nodes
from crawler.text import clean_text

# A safety limit, far above any article: DW's longest (hearing transcripts, lists of names) have
# a few thousand blocks. Reached, the body is cut there and the page's warnings say so
# (`body_truncated`: counted as dw/extract/body_truncated, the run's outcome is not ok, and the
# article's row says so: `body_truncated`).
MAX_BLOCKS = 100_000

# Classes of DW's ad slots inside the body (`div.advertisement` with its "Advertisement" label,
# `span.rich-text-ad`): not the article's words.
AD_CLASSES = frozenset({"advertisement", "rich-text-ad"})
# Blocks read as one paragraph each: their nested blocks, and `<br>`, are line breaks in it.
PARAGRAPHS = frozenset("p li blockquote dt dd tr pre summary caption figcaption".split())
HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
# What shows a picture in a figure.
_PICTURES = "img, picture, source, video"


def image(el) -> dict | None:
    """A figure (or old-layout `picBox`) as {url, caption, credit}; None when it shows nothing.
    A `<br>` in the caption is a line break (`\\n`)."""
    caption_el = _caption(el)
    caption = credit = None
    if caption_el is not None:
        credit = text(first(caption_el, "small"))
        caption = clean_text("".join(walk_nodes(caption_el.iter(include_text=True), skip_tag="small")),
                             lines=True)
    if credit:  # without DW's label, "Image: …", "صورة من: …" (crawler/dw/credits.py)
        credit = dw.strip_credit_label(credit)
    url = None
    for img in el.css("img, source"):
        attributes = img.attributes
        url = dw.image_url_in(" ".join(filter(None, (attributes.get("data-url"), attributes.get("src"),
                                                      attributes.get("srcset")))))
        if url:
            break
    if not (url or caption or credit):
        return None
    return {"url": url, "caption": caption or None, "credit": credit or None}


def _caption(el):
    return first(el, "figcaption") or first_child(el, "p")


def _is_picture(el, classes: set[str]) -> bool:
    """A figure (or old-layout `picBox`) that shows a picture: read as an image, not as text."""
    return "picBox" in classes or (el.tag == "figure" and el.css_first(_PICTURES) is not None)


def _holds_blocks(el) -> bool:
    """Whether an element holds a block element (anything but inline markup and `<br>`)."""
    for inner in el.traverse(include_text=False):
        if inner is not el and inner.tag not in INLINE and inner.tag not in ("br", "-comment"):
            return True
    return False


def _paragraph(nodes: list) -> str | None:
    """The text of a run of inline nodes standing directly in a container, or None."""
    if len(nodes) == 1 and nodes[0].tag == "-text":
        return clean_text(nodes[0].text())
    return clean_text("".join(walk_nodes(nodes)), lines=True)


def _blocks(container, skip=None) -> Iterator[tuple[str, object]]:
    """(kind, value) of each block under `container` (see the module doc), in page order; `skip`:
    a node left out (a figure's caption, read with its image)."""
    run: list = []
    skipped = skip.mem_id if skip is not None else None
    for el in container.iter(include_text=True):
        if skipped is not None and el.mem_id == skipped:  # before the `p` case: a picBox's caption is one
            continue
        tag = el.tag
        if tag == "p":  # most blocks: one paragraph each
            if run:
                yield from _run(run)
                run = []
            value = lines(el)
            if value:
                yield "paragraph", value
            continue
        if tag == "-text" or tag == "br":
            run.append(el)
            continue
        if tag == "-comment" or tag in NOT_TEXT:  # nothing shown: text on either side runs on
            continue
        classes = set((el.attributes.get("class") or "").split())
        inline = tag in INLINE and not _holds_blocks(el)
        if inline and not classes & AD_CLASSES:
            run.append(el)
            continue
        if run and not inline:  # a block ends the text before it
            yield from _run(run)
            run = []
        if classes & AD_CLASSES:
            continue
        if tag in HEADINGS:
            value = text(el)
            if value:
                yield "subhead", value
        elif tag == "figure" or "picBox" in classes:
            if _is_picture(el, classes):
                found = image(el)
                if found:
                    yield "image", found
                yield from _blocks(el, skip=_caption(el))  # any text beside the picture
            else:  # a pull-quote, a figure of text: its words
                yield from _blocks(el)
        elif tag in PARAGRAPHS and el.css_first("figure, .picBox") is None:
            value = lines(el)
            if value:
                yield "paragraph", value
        elif _holds_blocks(el):
            yield from _blocks(el)
        else:
            value = lines(el)
            if value:
                yield "paragraph", value
    if run:
        yield from _run(run)


def _run(nodes: list) -> Iterator[tuple[str, object]]:
    """A run of inline nodes standing directly in a container, as a paragraph (if it holds text)."""
    value = _paragraph(nodes)
    if value:
        yield "paragraph", value


def read_body(container, warnings: list | None = None) -> dict:
    """The fields a body container gives: body, subheads, credit_line, agencies, inline_images,
    and `body_truncated` when the body was cut.

    Each block is one paragraph of the body (blocks separated by a blank line); a `<br>` or a
    nested block inside one is a line break (`\\n`). Past `MAX_BLOCKS` blocks the body is cut,
    with a `("body_truncated", detail)` pair appended to `warnings`.
    """
    blocks: list[tuple[str, str]] = []
    images: list[dict] = []
    truncated = False
    for kind, value in _blocks(container):
        if kind == "image":
            images.append(value)
            continue
        if len(blocks) == MAX_BLOCKS:
            truncated = True
            if warnings is not None:
                warnings.append(("body_truncated", f"the body was cut after {MAX_BLOCKS:,} blocks (the"
                                 " safety limit); the rest of the page's text, with any closing"
                                 " credit line, is not stored"))
            break
        blocks.append((kind, value))
    found: dict = {}
    # News items end with a plain paragraph of staff initials and agencies: not body text.
    if blocks and blocks[-1][0] == "paragraph":
        parsed = dw.parse_credit_line(blocks[-1][1])
        if parsed is not None:
            found["credit_line"] = blocks.pop()[1]
            found["agencies"] = parsed[0]
    found["subheads"] = [value for kind, value in blocks if kind == "subhead"]
    found["body"] = "\n\n".join(value for _, value in blocks)
    found["inline_images"] = images
    if truncated:
        found["body_truncated"] = True
    return found
