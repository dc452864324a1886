"""Source: the current layout's markup (2023 -> 2026), on the stable hooks only (FACTS.md).

`article header` holds the kicker (`[data-tracking-name=content-detail-kicker]`), the `h1`,
`.author-details`, a `time` and `.teaser-text`; the body is `[data-tracking-name=rich-text]`;
topic tags are the related-topics links to `/t-{id}` topic pages. Generated class names are
never used.
"""

from __future__ import annotations

from urllib.parse import urljoin

from crawler import dw
from crawler.dates import printed_day
from crawler.extract.body import image, read_body
from crawler.extract.nodes import children, first, inside, own_text, text
from crawler.extract.page import Page

# Mid-2023 pages mark the aside itself; 2024-26 pages mark the section around it.
_TAG_LINKS = ('aside[data-tracking-name="related-topics"] a[href]',
              '[data-tracking-name="section-related-topics"] aside a[href]')


def _people(header) -> list[str]:
    box = first(header, ".author-details")
    if box is None:
        return []
    links = box.css(".author-link, .author")
    if links:
        return [text(el) or "" for el in links]
    # 2024 markup: each person in a span, the place in a `span.extra-info` beside it.
    return ["".join(own_text(span, skip_class="extra-info")) for span in children(box, "span")]


def _kicker(header) -> list[str]:
    kicker = first(header, '[data-tracking-name="content-detail-kicker"]')
    if kicker is None:
        return []
    items = children(kicker, "span") or kicker.css("a")
    return [t for t in (text(el) for el in items) if t]


def _tags(doc) -> tuple[list[str], list[int]]:
    for selector in _TAG_LINKS:
        names, ids = [], []
        for link in doc.css(selector):
            target = dw.parse_url(urljoin(dw.WWW, link.attributes.get("href") or ""))
            name = text(link)
            if target is not None and target.kind == "topic" and name:
                names.append(name)
                ids.append(target.id)
        if names:
            return names, ids
    return [], []


def _lead_image(page: Page) -> dict | None:
    for figure in page.doc.css("article figure"):
        if (figure.css_first("figcaption") is None or inside(figure, tag="footer")
                or inside(figure, tracking_name="rich-text")):
            continue
        found = image(figure)
        if found:
            if found["url"] is None:
                found["url"] = dw.image_url_in(page.metas.get("og:image"))
            return found
    return None


def read(page: Page) -> dict:
    """title, teaser, published_at (a day), authors, topics, tags/tag_ids, lead_image, body."""
    doc = page.doc
    header = first(doc, "article header", "article")
    found = {"title": text(first(header, "h1")), "teaser": text(first(header, ".teaser-text")),
             "published_at": printed_day(text(first(header, "time")), page.language),
             "authors": _people(header), "topics": _kicker(header), "lead_image": _lead_image(page)}
    found["tags"], found["tag_ids"] = _tags(doc)
    container = first(doc, '[data-tracking-name="rich-text"]', "article .rich-text")
    if container is not None:
        found |= read_body(container, page.warnings)
    return {name: value for name, value in found.items() if value or value == 0}


