"""Source: the page's embedded state (`window.__APOLLO_STATE__` 2023-24, `__APP_STATE__` later).

The state is the front end's own data: this content's record holds the headline, teaser,
precise dates, persons, kicker category and regions, topics and the body as HTML. Strings are
HTML-unescaped once; the body HTML is parsed like the DOM's.
"""

from __future__ import annotations

import json

from selectolax.lexbor import LexborHTMLParser

from crawler import dw
from crawler.extract.body import read_body
from crawler.extract.lenient_json import value_at
from crawler.extract.page import NotAnArticle, Page, refuse_costly
from crawler.text import unescaped

_MARKERS = ("window.__APP_STATE__", "window.__APOLLO_STATE__")
_RECORD_TYPES = ("Article", "LiveBlog", "Liveblog")
_TOPIC_TYPES = ("AutoTopic", "Topic")


class _LazyRecords:
    """Top-level records of an Apollo state in the page's text, decoded when first asked for."""

    def __init__(self, text: str, start: int, warnings: list | None = None, surrogates: bool = True):
        self.text, self.start, self.cache, self.warnings = text, start, {}, warnings
        self.surrogates = surrogates  # whether `text` may hold surrogate code points (`value_at`)

    def get(self, key: str, default=None):
        if key not in self.cache:
            needle = json.dumps(key) + ":"
            at = self.text.find(needle, self.start)
            value = None
            if at >= 0:
                try:
                    value = value_at(self.text, at + len(needle), self.warnings,
                                     surrogates=self.surrogates)
                except ValueError:
                    value = None
            self.cache[key] = value
        value = self.cache[key]
        return default if value is None else value


def _find(state, wanted, depth: int = 0) -> dict | None:
    """The first object in `state`, depth first (12 levels at most), for which `wanted` is true."""
    if depth > 12:
        return None
    if isinstance(state, dict):
        if wanted(state):
            return state
        values = state.values()
    else:
        values = state if isinstance(state, list) else []
    for value in values:
        if isinstance(value, (dict, list)):
            found = _find(value, wanted, depth + 1)
            if found is not None:
                return found
    return None


def _record(page: Page) -> tuple[dict, object]:
    """This content's record and the table its `__ref`s point into; ({}, {}) when absent."""
    if "state" not in page.memo:
        page.memo["state"] = _locate(page)
    return page.memo["state"]


def _locate(page: Page) -> tuple[dict, object]:
    text = page.text
    apollo = text.find("window.__APOLLO_STATE__")
    if apollo >= 0:
        # Apollo's cache is keyed "Type:id": decode that record alone, and others on demand.
        refs = _LazyRecords(text, apollo, page.warnings, surrogates=not page.decoded)
        for kind in _RECORD_TYPES:
            record = refs.get(f"{kind}:{page.id}")
            if isinstance(record, dict):
                return record, refs
    unreadable = None
    for marker in _MARKERS:
        start = apollo if marker == "window.__APOLLO_STATE__" else text.find(marker)
        while start >= 0:
            try:
                state = value_at(text, text.find("=", start) + 1, page.warnings,
                                 surrogates=not page.decoded)
            except ValueError as exc:
                state, unreadable = None, exc
            record = _find(state, lambda d: str(d.get("id")) == str(page.id)
                           and ("text" in d or "title" in d))
            if record is not None:
                return record, state if isinstance(state, dict) else {}
            start = text.find(marker, start + len(marker))
    if unreadable is not None:
        page.warnings.append(("state_unreadable", f"the page state cannot be read: {unreadable}"))
    return {}, {}


def _ref(refs, value):
    if isinstance(value, dict) and "__ref" in value:
        return refs.get(value["__ref"], {})
    return value


def _people(record: dict, refs) -> list[str]:
    names = []
    for person in record.get("persons") or []:
        person = _ref(refs, person)
        if isinstance(person, dict) and person.get("personType", "AUTHOR") == "AUTHOR":
            names.append(unescaped(person.get("fullName")) or "")
    return names


def _topics(record: dict) -> list[str]:
    topics = []
    category = record.get("thematicFocusCategory")
    if isinstance(category, dict) and category.get("name"):
        topics.append(category["name"])
    for key, value in record.items():
        if key.startswith("regions(") and isinstance(value, list):
            topics += [r.get("alignedName") for r in value if isinstance(r, dict)]
    return [unescaped(t) for t in topics if t]


def _topic_record(refs, topic_id) -> dict:
    for kind in _TOPIC_TYPES:
        found = refs.get(f"{kind}:{topic_id}")
        if isinstance(found, dict):
            return found
    if isinstance(refs, dict):  # an __APP_STATE__: look for the topic anywhere in it
        return _find(refs, lambda d: str(d.get("id")) == str(topic_id) and bool(d.get("name"))) or {}
    return {}


def _tags(record: dict, refs) -> tuple[list[str], list[int]]:
    """The record's `topicIds` resolved to names where the state holds them, else its topics
    (`topics`, `relatedAutoTopics`: objects or references), in the state's order."""
    if record.get("topicIds"):
        topics = [_topic_record(refs, i) | {"id": i} for i in record["topicIds"] if str(i).isdigit()]
    else:
        topics = [_ref(refs, t) for t in record.get("topics") or record.get("relatedAutoTopics") or []]
    pairs = [(unescaped(t.get("name")), t.get("id")) for t in topics if isinstance(t, dict)]
    pairs = [(name, int(i)) for name, i in pairs if name and str(i).isdigit()]
    return [name for name, _ in pairs], [i for _, i in pairs]


def _lead_image(record: dict, refs) -> dict | None:
    link = _ref(refs, record.get("mainContentImageLink"))
    if not (isinstance(link, dict) and link.get("targetId")):
        return None
    target = _ref(refs, link.get("target")) or {}
    return {"url": dw.image_url(link["targetId"]), "caption": unescaped(link.get("description")),
            "credit": unescaped(target.get("licenserSupplement"))}


def read(page: Page) -> dict:
    """title, teaser, dates, authors, topics, tags/tag_ids, lead_image."""
    record, refs = _record(page)
    if not record:
        return {}
    found = {"title": unescaped(record.get("title")), "teaser": unescaped(record.get("teaser")),
             "authors": _people(record, refs), "topics": _topics(record),
             "lead_image": _lead_image(record, refs)}
    for name, key in (("published_at", "firstPublicationDate"), ("modified_at", "lastModifiedDate")):
        if page.date(record.get(key), f"page state {key}"):
            found[name] = record[key]
    found["tags"], found["tag_ids"] = _tags(record, refs)
    return found


def read_text(page: Page) -> dict:
    """The body fields from the record's `text` (HTML): read only when the DOM has no body."""
    html = _record(page)[0].get("text")
    if isinstance(html, str) and html.strip():
        try:
            refuse_costly(html, "the page state's text")
        except NotAnArticle as exc:
            page.warnings.append(("state_unreadable", exc.reason))
            return {}
        return read_body(LexborHTMLParser(html).body, page.warnings)
    return {}
