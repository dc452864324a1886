"""An article's text as DW marks it up, whichever source holds it: paragraphs, subheads, figures
and the closing credit line. Used by the current DOM, the page state (its body is HTML) and the
old layout."""

from __future__ import annotations

from collections.abc import Iterator

from crawler import dw
from crawler.extract.nodes import children, first, first_child, lines, own_text, text
from crawler.text import clean_text

# A safety limit, far above any article: DW's longest (hearing transcripts, lists of names) have
# a few thousand blocks. Reached, the body is cut there and the page's warnings say so
# (`body_truncated`: counted as dw/extract/body_truncated, and the run's outcome is not ok).
MAX_BLOCKS = 100_000


def image(el) -> dict | None:
    """A figure (or old-layout `picBox`) as {url, caption, credit}; None when it shows nothing."""
    caption_el = first(el, "figcaption") or first_child(el, "p")
    caption = credit = None
    if caption_el is not None:
        credit = text(first(caption_el, "small"))
        caption = clean_text("".join(own_text(caption_el, skip_tag="small")))
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


def _blocks(container) -> Iterator[tuple[str, object]]:
    for el in container.iter():
        tag = el.tag
        classes = f" {el.attributes.get('class') or ''} "
        if tag == "p":
            value = lines(el)
            if value:
                yield "paragraph", value
        elif tag in ("h2", "h3", "h4"):
            value = text(el)
            if value:
                yield "subhead", value
        elif tag == "figure" or " picBox " in classes:
            found = image(el)
            if found:
                yield "image", found
        elif tag in ("ul", "ol"):
            for li in children(el, "li"):
                value = lines(li)
                if value:
                    yield "paragraph", value
        elif tag == "blockquote" and not el.attributes.get("data-id"):
            value = lines(el)
            if value:
                yield "paragraph", value
        elif tag == "div" and " advertisement " not in classes and children(el, "p"):
            yield from _blocks(el)


def read_body(container, warnings: list | None = None) -> dict:
    """The fields a body container gives: body, subheads, credit_line, agencies, inline_images.

    Each block is one paragraph of the body (blocks separated by a blank line); a `<br>` or a
    nested block inside one is a line break (`\\n`). Past `MAX_BLOCKS` blocks the body is cut,
    with a `("body_truncated", detail)` pair appended to `warnings`.
    """
    blocks: list[tuple[str, str]] = []
    images: list[dict] = []
    for kind, value in _blocks(container):
        if kind == "image":
            images.append(value)
            continue
        if len(blocks) == MAX_BLOCKS:
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
    return found
