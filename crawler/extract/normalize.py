"""The one normaliser: every cleaning rule for an article's fields (the pipeline that counts
what it changed is `pipelines.normalize`).

`normalize()` is a pure function of the item (no Scrapy, no I/O). The extractor applies it to
what it read, so that `python -m crawler.extract` prints what the crawl stores, and records on
the `Article` what it changed; the pipeline normalises only items nobody normalised yet (any
other item type, or an `Article` made by hand) and counts, per field, how many articles a rule
changed, wherever it ran (`dw/normalize/<field>`; all start at 0, so a rule that never fires
shows 0). Normalising twice changes nothing the second time, so running it once is enough.
"""

from __future__ import annotations

import re
from typing import Any

from itemadapter import ItemAdapter

from crawler import dw
from crawler.text import clean_text, to_utc

REQUIRED = ("id", "url", "title")
TEXT_FIELDS = ("title", "teaser", "credit_line", "language", "kind")
NAME_LISTS = ("subheads", "authors", "topics")
DATE_FIELDS = ("published_at", "modified_at")
IMAGE_KEYS = ("url", "caption", "credit")
# Every field a rule below can change: the names of the `dw/normalize/<field>` stats.
NORMALIZED_FIELDS = (*TEXT_FIELDS, "body", *NAME_LISTS, "tags", "tag_ids", "agencies",
                     *DATE_FIELDS, "id", "url", "short_url", "images", "photo_agencies")


def missing_required(item: Any) -> list[str]:
    """The required fields (id, url, title) an article lacks; the one place they are checked."""
    adapter = item if isinstance(item, ItemAdapter) else ItemAdapter(item)
    return [name for name in REQUIRED if not adapter.get(name)]


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
    return {key: clean_text(image.get(key)) for key in IMAGE_KEYS}


def normalize(item: Any) -> tuple[dict[str, int], list[str]]:
    """Normalise an article (an `Article`, a dict or an `ItemAdapter`) in place.

    Returns (changed, unknown): `changed` maps every name in `NORMALIZED_FIELDS` to 1 if its
    rule changed the value, else 0; `unknown` lists the agency tokens kept as printed.
    """
    adapter = item if isinstance(item, ItemAdapter) else ItemAdapter(item)
    before = {name: adapter.get(name) for name in NORMALIZED_FIELDS}
    after = {name: clean_text(before[name]) for name in TEXT_FIELDS if name in adapter}
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
    after["short_url"] = dw.short_url(after["id"])
    after["images"] = [_image(i) for i in before["images"] or [] if isinstance(i, dict)]
    after["photo_agencies"] = list(dict.fromkeys(
        name for image in after["images"] for name in dw.photo_agencies(image["credit"] or "")))
    changed = dict.fromkeys(NORMALIZED_FIELDS, 0)
    for name, value in after.items():
        if value != before[name]:
            adapter[name] = value
            changed[name] = 1
    return changed, unknown
