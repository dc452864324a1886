"""The current layout's source (`crawler.extract.dom`) reads its header fields only when the merge
asks for them (issue 24). Asked in any order, for any field, it gives what reading every field
at once gave (that reading is kept here), and the page's warnings are the same, in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.dates import printed_day
from crawler.extract import dom
from crawler.extract.body import read_body
from crawler.extract.nodes import first, text
from crawler.extract.page import decode, identify
from devtools.sitegen import render_article
from tests.conftest import PAGES, REAL_PAGES
from tests.hostile import articles

FIELDS = ("title", "teaser", "published_at", "authors", "topics", "lead_image", "tags", "tag_ids",
          "body", "subheads", "credit_line", "agencies", "inline_images", "body_truncated", "related")


def read_at_once(page) -> dict:
    """`dom.read` as first written: every field read when the source is."""
    doc = page.doc
    header = first(doc, "article header", "article")
    found = {"title": text(first(header, "h1")), "teaser": text(first(header, ".teaser-text")),
             "published_at": printed_day(text(first(header, "time")), page.language),
             "authors": dom._people(header), "topics": dom._kicker(header),
             "lead_image": dom._lead_image(page)}
    found["tags"], found["tag_ids"] = dom._tags(doc)
    container = first(doc, '[data-tracking-name="rich-text"]', "article .rich-text")
    if container is not None:
        found |= read_body(container, page.warnings)
    return {name: value for name, value in found.items() if value or value == 0}


def _page(html: bytes):
    text_, warnings, utf8 = decode(html)
    page = identify(text_, utf8=utf8)
    page.warnings[:0] = warnings
    return page


def _current_pages() -> list[bytes]:
    pages = [render_article(article).encode() for article in articles(4)]
    pages += [path.read_bytes() for path in sorted(PAGES.glob("*/*.html"))]
    pages += [path.read_bytes() for path in sorted(REAL_PAGES.glob("*.html"))]  # none without ../shared
    return [html for html in pages if not _page(html).old_layout]


PAGES_READ = _current_pages()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(range(len(PAGES_READ))), st.permutations(FIELDS), st.integers(1, len(FIELDS)))
def test_fields_asked_in_any_order_are_those_read_at_once(index, order, asked):
    eager_page, lazy_page = _page(PAGES_READ[index]), _page(PAGES_READ[index])
    eager = read_at_once(eager_page)
    lazy = dom.read(lazy_page)
    for name in order[:asked]:
        assert lazy.get(name) == eager.get(name)
        assert (name in lazy) == (name in eager)
    assert dict(lazy) == eager
    assert lazy_page.warnings == eager_page.warnings


def test_the_pages_read_are_of_the_current_layout_with_their_fields():
    assert len(PAGES_READ) >= 5
    for html in PAGES_READ:
        found = dom.read(_page(html))
        assert found["title"] and found["body"]
