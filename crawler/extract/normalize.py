"""The one normaliser: every cleaning rule for an article's fields, and every field computed
from others (`DERIVED`).

`normalize()` is a pure function of the article (no Scrapy, no I/O). The extractor applies it
to what it read, so that `python -m crawler.extract` prints what the crawl stores, and keeps on
the `Article` what it changed; the pipeline (`pipelines.normalize`) only counts that, per field
(`dw/normalize/<field>`; all start at 0, so a rule that never fires shows 0). Normalising twice
changes nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from crawler import dw
from crawler.dates import to_utc
from crawler.text import clean_text

TEXT_FIELDS = ("title", "teaser", "credit_line", "language", "kind")
NAME_LISTS = ("subheads", "authors", "topics")
DATE_FIELDS = ("published_at", "modified_at")
IMAGE_KEYS = ("url", "caption", "credit")


def clean_body(value) -> str:
    """Each paragraph cleaned like `clean_text`, its line breaks kept as single `\\n`;
    paragraphs separated by one blank line."""
    if not isinstance(value, str):
        return ""
    paragraphs = (clean_text(p, lines=True) for p in re.split(r"\n\s*\n", value))
    return "\n\n".join(p for p in paragraphs if p)


def unique(values) -> list[str]:
    """Cleaned, non-empty values in first-seen order."""
    out: list[str] = []
    for value in values or []:
        value = clean_text(value)
        if value and value not in out:
            out.append(value)
    return out


def _tags(names, ids) -> tuple[list[str], list[int]]:
    """Tags cleaned and once each; their ids kept beside them when there is one per tag."""
    names, ids = list(names or []), list(ids or [])
    paired = len(ids) == len(names)
    out_names: list[str] = []
    out_ids: list[int] = []
    for position, name in enumerate(names):
        name = clean_text(name)
        if not name or name in out_names:
            continue
        out_names.append(name)
        if paired:
            out_ids.append(int(ids[position]))
    if not paired:
        out_ids = list(dict.fromkeys(int(i) for i in ids if str(i).isdigit()))
    return out_names, out_ids


def _image(image: dict) -> dict:
    """An image's URL, caption and credit cleaned; a line break in the caption (a `<br>`) kept."""
    return {key: clean_text(image.get(key), lines=key == "caption") for key in IMAGE_KEYS}


def _photo_agencies(article: dict) -> list[str]:
    return list(dict.fromkeys(
        name for image in article["images"] for name in dw.photo_agencies(image["credit"] or "")))


# Fields computed from others, after the cleaning rules, in this order: name -> function of the
# article (a dict of all its fields, the cleaned values where a rule cleaned them, and the fields
# computed before it). Each is `NOT_CONTENT` on the `Article` (a change in how it is computed is
# no edit by DW; tests/test_normalize.py checks).
DERIVED: dict[str, Callable[[dict], Any]] = {
    "short_url": lambda article: dw.short_url(article["id"]),
    "photo_agencies": _photo_agencies,
}
# Every field a rule here can change: the names of the `dw/normalize/<field>` stats.
NORMALIZED_FIELDS = (*TEXT_FIELDS, "body", *NAME_LISTS, "tags", "tag_ids", "agencies",
                     *DATE_FIELDS, "id", "url", "images", *DERIVED)


def normalize(item: Any) -> tuple[dict[str, int], list[str]]:
    """Normalise an article (an `Article`, or a dict of its fields) in place.

    Returns (changed, unknown): `changed` maps every name in `NORMALIZED_FIELDS` to 1 if its
    rule changed the value, else 0; `unknown` lists the agency tokens kept as printed.
    """
    fields = item if isinstance(item, Mapping) else vars(item)  # a plain dataclass: its fields
    before = {name: fields.get(name) for name in (*NORMALIZED_FIELDS, *DERIVED)}
    after = {name: clean_text(before[name]) for name in TEXT_FIELDS if name in fields}
    after["body"] = clean_body(before["body"])
    for name in NAME_LISTS:
        after[name] = unique(before[name])
    after["authors"] = [a for a in after["authors"] if dw.is_person(a)]
    after["tags"], after["tag_ids"] = _tags(before["tags"], before["tag_ids"])
    after["agencies"], unknown = dw.canonical_agencies(before["agencies"] or [])
    for name in DATE_FIELDS:
        after[name] = to_utc(before[name])
    after["id"] = int(before["id"])
    after["url"] = dw.canonical_url(before["url"])
    after["images"] = [_image(i) for i in before["images"] or [] if isinstance(i, dict)]
    whole = {**fields, **after}
    for name, compute in DERIVED.items():
        after[name] = whole[name] = compute(whole)
    changed = dict.fromkeys((*NORMALIZED_FIELDS, *DERIVED), 0)
    for name, value in after.items():
        if value != before[name]:
            fields[name] = value
            # A computed field filled in for the first time is no value a rule changed.
            changed[name] = int(name not in DERIVED or before[name] is not None)
    return changed, unknown
