"""Bytes of a DW page in, one `Article` out: a pure function, no Scrapy, no network, no clock.

    decode -> identify -> read each source -> merge -> normalise -> validate

Sources, one module each, every one returning the fields it found: `jsonld` (the page's own
schema.org `NewsArticle`), `state` (the embedded `__APOLLO_STATE__` / `__APP_STATE__`; its
body HTML as `state_text`, read only when the page's markup has no body), `dom`
(the current layout's stable hooks) or `old_layout` (`div.longText`, `ul.smallList`; which of
the two is decided once, when the page is identified), and `meta` (the head's metadata). The
table of which source is trusted for which field is `merge.TRUST`, and a source is read only
when a field needs it; every merged value named like an `Article` field becomes that field. The
cleaning rules, and the fields computed from others, are the one normaliser's
(`crawler.extract.normalize`). Pages are parsed with lexbor (selectolax), about three times as
fast as libxml2 on DW's pages. Nothing here imports Scrapy, Twisted, SQLite or the pipelines
(tests/test_normalize.py checks in a fresh interpreter).

Run as `python -m crawler.extract PAGE.html [...] [--url URL]` to re-extract saved pages.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from crawler import dw
from crawler.extract import dom, jsonld, merge, meta, old_layout, state
from crawler.extract.normalize import normalize
from crawler.extract.page import MAX_DEPTH, NotAnArticle, Page, decode, identify
from crawler.items import ARTICLE_FIELDS, Article, missing_required

__all__ = ["NotAnArticle", "extract"]

CURRENT_SOURCES = {"jsonld": jsonld.read, "state": state.read, "state_text": state.read_text,
                   "dom": dom.read, "meta": meta.read}
OLD_SOURCES = {"jsonld": jsonld.read, "state": state.read, "state_text": state.read_text,
               "old_layout": old_layout.read, "meta": meta.read}


class _Sources(Mapping):
    """What each source found on the page, each source read once, when first asked for."""

    def __init__(self, readers: dict, page: Page):
        self.readers, self.page, self.found = readers, page, {}

    def __getitem__(self, name: str) -> dict:
        if name not in self.found:
            self.found[name] = self.readers[name](self.page)  # KeyError: not a source here
        return self.found[name]

    def get(self, name: str, default=None):
        # Mapping's own `get` goes through a KeyError for every source the layout has not
        # (the merge asks for each one in `TRUST`, per field): an exception each time.
        if name not in self.readers:
            return default
        try:
            return self[name]
        except KeyError:  # as Mapping's `get` would
            return default

    def __iter__(self):
        return iter(self.readers)

    def __len__(self) -> int:
        return len(self.readers)


# Fields that identifying the page decides, whatever a source says.
_IDENTITY = frozenset({"id", "url", "short_url", "language", "kind"})


def _article(page: Page, merged: dict) -> Article:
    """The article of an identified page from the merged fields: each merged value named like an
    `Article` field (but the page's identity) is that field; the images are the lead image and
    the body's."""
    fields = {name: value for name, value in merged.items()
              if name in ARTICLE_FIELDS and name not in _IDENTITY and value is not None}
    lead = merged.get("lead_image")
    fields["images"] = ([lead] if lead else []) + list(merged.get("inline_images") or [])
    return Article(id=page.id, url=page.url, short_url=dw.short_url(page.id),
                   language=page.language, kind=page.kind, **fields)


# The readers walk a page's tree recursively (a block nested in a block is read inside it), a few
# frames for each level; a page nested deeper than MAX_DEPTH is refused before parsing. So that a
# page's verdict never depends on how deep its caller's stack already is (a crawl's callbacks, a
# test under hypothesis, which raises the limit), the readers get room for MAX_DEPTH levels above
# the caller's frames: Python's recursion limit is raised to that, once, and never lowered.
_FRAMES_PER_LEVEL = 3


def _make_room() -> None:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    needed = depth + MAX_DEPTH * _FRAMES_PER_LEVEL + 200
    if needed > sys.getrecursionlimit():
        sys.setrecursionlimit(needed)


def extract(page: bytes | str, url: str | None = None, *, encoding: str | None = None) -> Article:
    """Extract the article from one DW page, normalised; raise `NotAnArticle` when it is none.

    `url` is where the page came from (used when it names no canonical URL); `encoding` is the
    charset the HTTP `Content-Type` header declares (or that header's whole value). What reading
    the page noticed (an unreadable JSON-LD block, a JSON-LD object for another story, bytes
    decoded as U+FFFD, a part of an image credit that is no known agency or name) is in
    `article.warnings` as (kind, detail) pairs, not in its fields. A page too costly to read
    (nested deeper than `page.MAX_DEPTH`) is refused with a `NotAnArticle` whose `kind` is
    `too_deep`, whatever the caller's stack (`_make_room`); one with too many attributes (the
    limits in `crawler.extract.page`), `too_costly`.
    """
    text, warnings, utf8 = decode(page, encoding)
    parsed = identify(text, url, utf8=utf8)
    parsed.decoded = not isinstance(page, str)
    parsed.warnings[:0] = warnings
    found = _Sources(OLD_SOURCES if parsed.old_layout else CURRENT_SOURCES, parsed)
    _make_room()
    try:
        merged = merge.merge(found)
    except RecursionError:  # markup nested deeper than the readers' recursion goes
        raise NotAnArticle("the page nests its elements too deeply to read", id=parsed.id,
                           url=parsed.url, kind="too_deep") from None
    article = _article(parsed, merged)
    article.normalized, article.unknown_agencies = normalize(article)
    # A part of an image credit that is no known agency, picture service or name: a new form.
    parsed.warnings += [("unknown_photo_credit", f"{token!r} in the image credit {image['credit']!r}")
                        for image in article.images for token in dw.read_photo_credit(image["credit"])[1]]
    article.warnings = parsed.warnings
    if "title" in missing_required(article):
        raise NotAnArticle("no headline found (truncated or not an article page)",
                           id=parsed.id, url=parsed.url)
    if not article.body:
        raise NotAnArticle("no article text found (truncated page?)", id=parsed.id, url=parsed.url)
    return article
