"""Normalise an article: Unicode NFC, clean whitespace, UTC dates, canonical URLs and agencies."""

from __future__ import annotations

import logging
import re

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler import dw
from crawler.text import clean_text, to_utc
from pipelines.base import ArticlePipeline

logger = logging.getLogger(__name__)

REQUIRED = ("id", "url", "title")
TEXT_FIELDS = ("title", "teaser", "credit_line", "language", "kind")
LIST_FIELDS = ("subheads", "authors", "topics")


def clean_body(value) -> str:
    """Each paragraph cleaned like `clean_text`; paragraphs separated by one blank line."""
    if not isinstance(value, str):
        return ""
    paragraphs = (clean_text(p) for p in re.split(r"\n\s*\n", value))
    return "\n\n".join(p for p in paragraphs if p)


def unique(values) -> list:
    """Cleaned, non-empty values in first-seen order."""
    out = []
    for value in values or []:
        value = clean_text(value)
        if value and value not in out:
            out.append(value)
    return out


def canonical_agencies(tokens) -> tuple[list[str], list[str]]:
    """Agency tokens mapped to canonical names; unknown tokens kept as written and returned."""
    names, unknown = [], []
    for token in tokens or []:
        token = clean_text(token)
        if not token:
            continue
        name = dw.canonical_agency(token)
        if name is None:
            unknown.append(token)
            name = token
        if name not in names:
            names.append(name)
    return names, unknown


def normalize(adapter: ItemAdapter) -> list[str]:
    """Normalise an article in place; returns the unknown agency tokens it kept."""
    for name in TEXT_FIELDS:
        if name in adapter:
            adapter[name] = clean_text(adapter.get(name))
    adapter["body"] = clean_body(adapter.get("body"))
    for name in LIST_FIELDS:
        adapter[name] = unique(adapter.get(name))
    adapter["authors"] = [a for a in adapter["authors"] if dw.is_person(a)]
    adapter["agencies"], unknown = canonical_agencies(adapter.get("agencies"))
    for name in ("published_at", "modified_at"):
        adapter[name] = to_utc(adapter.get(name))
    adapter["id"] = int(adapter["id"])
    adapter["url"] = dw.canonical_url(adapter["url"])
    adapter["short_url"] = dw.short_url(adapter["id"])
    adapter["images"] = [
        {key: clean_text(image.get(key)) for key in ("url", "caption", "credit")}
        for image in adapter.get("images") or [] if isinstance(image, dict)
    ]
    adapter["photo_agencies"] = list(dict.fromkeys(
        name for image in adapter["images"] for name in dw.photo_agencies(image["credit"] or "")))
    return unknown


class NormalizePipeline(ArticlePipeline):
    """Clean every article; drop, with a counted reason, those missing an id, URL or title."""

    def process_article(self, adapter: ItemAdapter) -> None:
        missing = [name for name in REQUIRED if not adapter.get(name)]
        if missing:
            for name in missing:
                self.stats.inc_value(f"dw/dropped/missing_{name}")
            raise DropItem(f"article without {', '.join(missing)}: {adapter.get('url')}")
        unknown = normalize(adapter)
        for token in unknown:
            self.stats.inc_value("agencies/unknown")
            logger.info("Unknown agency %r in the credit line of %s", token, adapter["url"])
