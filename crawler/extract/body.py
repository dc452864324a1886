"""An article's text as DW marks it up, whichever source holds it: paragraphs, subheads, figures
and the closing credit line. Used by the current DOM, the page state (its body is HTML) and the
old layout."""

from __future__ import annotations

import re
from collections.abc import Iterator

from crawler import dw
from crawler.extract.nodes import children, first, first_child, own_text, text
from crawler.text import clean_text

# "Image: …", "Bild: …", "Foto: …", "Imagen: …", "Фото: …": a label is one word then a colon.
_CREDIT_LABEL = re.compile(r"^[^\s:：]{1,20}\s*[:：]\s*")
_MAX_BLOCKS = 5000  # a page with more body blocks than this is not a news article


def image(el) -> dict | None:
    """A figure (or old-layout `picBox`) as {url, caption, credit}; None when it shows nothing."""
    caption_el = first(el, "figcaption") or first_child(el, "p")
    caption = credit = None
    if caption_el is not None:
        credit = text(first(caption_el, "small"))
        caption = clean_text("".join(own_text(caption_el, skip_tag="small")))
    if credit:
        credit = _CREDIT_LABEL.sub("", credit, count=1)
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
            value = text(el)
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
                value = text(li)
                if value:
                    yield "paragraph", value
        elif tag == "blockquote" and not el.attributes.get("data-id"):
            value = text(el)
            if value:
                yield "paragraph", value
        elif tag == "div" and " advertisement " not in classes and children(el, "p"):
            yield from _blocks(el)


def read_body(container) -> dict:
    """The fields a body container gives: body, subheads, credit_line, agencies, inline_images."""
    blocks: list[tuple[str, str]] = []
    images: list[dict] = []
    for kind, value in _blocks(container):
        if kind == "image":
            images.append(value)
        else:
            blocks.append((kind, value))
        if len(blocks) > _MAX_BLOCKS:
            break
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
