"""The merge step: which source is trusted for which field, in order; the first that found a
value gives it. Structured data comes before the DOM (it is the front end's own data), the page's
metadata last. A new layout is a new source module and a name in these tuples."""

from __future__ import annotations

import re
from collections.abc import Mapping

from crawler.text import clean_text

TRUST: dict[str, tuple[str, ...]] = {
    "title": ("jsonld", "state", "dom", "old_layout", "meta"),
    "teaser": ("state", "dom", "old_layout", "meta"),
    "published_at": ("jsonld", "state", "dom", "old_layout", "meta"),
    "modified_at": ("jsonld", "state"),
    "authors": ("jsonld", "state", "dom", "old_layout"),
    "topics": ("state", "dom", "old_layout", "meta"),
    "tags": ("state", "dom", "old_layout"),
    "body": ("dom", "state_text", "old_layout"),
    "lead_image": ("old_layout", "dom", "state"),
    "related": ("old_layout",),
}
# Fields that come with another, from the source that gave it.
COMES_WITH: dict[str, tuple[str, ...]] = {
    "tags": ("tag_ids",),
    "body": ("subheads", "credit_line", "agencies", "inline_images", "body_truncated"),
}
# Where the headline the reader sees is, to undo a shortened structured headline.
SHOWN_TITLE = ("dom", "old_layout")


def _present(value) -> bool:
    if isinstance(value, str):
        # A long text is present if it is not all white space; a short one is cleaned first,
        # since it may hold only invisible characters.
        return bool(value.strip()) and (len(value) > 80 or clean_text(value) is not None)
    if isinstance(value, list):
        return any(_present(item) if isinstance(item, str) else item is not None for item in value)
    return value is not None


def full_headline(title: str | None, shown: str | None) -> str | None:
    """The title, unless it is a shortened form (`EU leaders agree…`) of the one shown."""
    cleaned, cleaned_shown = clean_text(title), clean_text(shown)
    if cleaned and cleaned_shown and len(cleaned_shown) > len(cleaned):
        stem = re.sub(r"[.…\s]+$", "", cleaned)
        if stem and cleaned_shown.startswith(stem):
            return shown
    return title if cleaned else shown


def merge(found: Mapping[str, dict]) -> dict:
    """Fields from what each source found (`{source: {field: value}}`), by `TRUST`. `found` may
    read a source when first asked for it, so that a source no field needs is never read."""
    merged: dict = {}
    for name, order in TRUST.items():
        source = next((s for s in order if _present(found.get(s, {}).get(name))), None)
        if source is None:
            continue
        merged[name] = found[source][name]
        for companion in COMES_WITH.get(name, ()):
            merged[companion] = found[source].get(companion)
    shown = next((found[s]["title"] for s in SHOWN_TITLE if _present(found.get(s, {}).get("title"))),
                 None)
    merged["title"] = full_headline(merged.get("title"), shown)
    return merged
