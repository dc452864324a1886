"""Source: the current layout's markup (2023 -> 2026), on the stable hooks only (FACTS.md).

`article header` holds the kicker (`[data-tracking-name=content-detail-kicker]`), the `h1`,
`.author-details`, a `time` and `.teaser-text`; the body is `[data-tracking-name=rich-text]`;
topic tags are the related-topics links to `/t-{id}` topic pages. Generated class names are
never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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


def _header(doc):
    return first(doc, "article header", "article")


# The fields read from the header and around it, each a function of the page and its header.
# Each is read only when the merge asks for it: most pages give most of them in their
# structured data, which the merge trusts first. None of these readers notes a warning or
# changes the tree, so when they run changes nothing.
_FIELDS: dict[str, Callable] = {
    "title": lambda page, header: text(first(header, "h1")),
    "teaser": lambda page, header: text(first(header, ".teaser-text")),
    "published_at": lambda page, header: printed_day(text(first(header, "time")), page.language),
    "authors": lambda page, header: _people(header),
    "topics": lambda page, header: _kicker(header),
    "lead_image": lambda page, header: _lead_image(page),
}
_TAG_FIELDS = ("tags", "tag_ids")


class _Found(Mapping):
    """What the page's markup holds, as `read` describes it: a field is here when its value is
    (not empty, or 0). The body's fields are read at once (reading them may note warnings,
    which keep their place among the page's), the others when first asked for."""

    def __init__(self, page: Page):
        self.page, self.values, self.header = page, {}, _MISSING
        container = first(page.doc, '[data-tracking-name="rich-text"]', "article .rich-text")
        self.body = read_body(container, page.warnings) if container is not None else {}

    def _value(self, name: str):
        if name in self.body:
            return self.body[name]
        if name not in self.values:
            if name in _TAG_FIELDS:
                self.values["tags"], self.values["tag_ids"] = _tags(self.page.doc)
            else:
                reader = _FIELDS[name]  # KeyError: no field of this source
                if self.header is _MISSING:
                    self.header = _header(self.page.doc)
                self.values[name] = reader(self.page, self.header)
        return self.values[name]

    def __getitem__(self, name: str):
        value = self._value(name)
        if not (value or value == 0):
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        names = (*_FIELDS, *_TAG_FIELDS, *self.body)
        return iter([name for name in names if name in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)


_MISSING = object()


def read(page: Page) -> Mapping:
    """title, teaser, published_at (a day), authors, topics, tags/tag_ids, lead_image, body
    (with the other fields of `body.read_body`): a mapping of those the page holds."""
    return _Found(page)
