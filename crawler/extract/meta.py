"""Source: the page head's metadata (`og:title`, `og:description`, `date`, `keywords`), the last
resort for each field: DW appends "– DW – 30.01.2024" to its titles there."""

from __future__ import annotations

import re

from crawler.extract.nodes import first, text
from crawler.extract.page import Page

_TITLE_SUFFIX = re.compile(r"\s*(?:\||–|-)\s*DW\s*(?:\||–|-)\s*[\d./-]+\s*$")


def read(page: Page) -> dict:
    """title, teaser, published_at, topics (`keywords`)."""
    metas = page.metas
    title = metas.get("og:title") or text(first(page.doc, "title"))
    keywords = metas.get("keywords") or metas.get("news_keywords") or ""
    found = {"title": _TITLE_SUFFIX.sub("", title) if title else None,
             "teaser": metas.get("og:description") or metas.get("description"),
             "published_at": page.date(metas.get("date"), "meta date"),
             "topics": [k for k in keywords.split(",") if k.strip()]}
    return {name: value for name, value in found.items() if value}
