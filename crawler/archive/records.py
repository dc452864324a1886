"""One stored article: its record (a shallow dict of an item, checked and hashed once), its
`articles` row, and the small records the archive reads and writes beside it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from itemadapter import ItemAdapter

from crawler.archive.schema import ARTICLE_COLUMNS, CONTENT_FIELDS, LIST_FIELDS
from crawler.items import missing_required

# The content fields of the first schema, hashed as a list in this order; stored hashes depend
# on it. Fields added later are hashed by name and only when they hold something, so adding a
# field to `Article` changes the hash of no article that leaves it empty.
_FIRST_CONTENT_FIELDS = ("title", "teaser", "body", "subheads", "authors", "topics", "credit_line",
                         "agencies", "images")


def utc_now() -> str:
    """Now, in the archive's timestamp form (`2026-11-29T14:03:00Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_hash(article: Mapping) -> str:
    """SHA-256 hex digest of an article's content fields (`CONTENT_FIELDS`), after normalisation."""
    values: list = [article.get(f) for f in _FIRST_CONTENT_FIELDS]
    values += [[f, article.get(f)] for f in CONTENT_FIELDS
               if f not in _FIRST_CONTENT_FIELDS and article.get(f)]
    payload = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _unstorable(value) -> str | None:
    """Why SQLite (or the archive's UTF-8 JSON text) cannot hold `value`; None when it can."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text with a lone surrogate"
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -(2**63) <= value < 2**63 else f"integer {value} beyond SQLite's 64 bits"
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return next((reason for reason in map(_unstorable, value) if reason), None)
    return None


class Record(dict):
    """One article as the archive takes it: a shallow dict of its fields and `content_hash`,
    checked once (`as_record`); the archive writes a `Record` without checking it again."""


def as_record(item) -> Record:
    """An article item (`Article`, dict or any itemadapter type) as a `Record`, checked and
    hashed once (a `Record` is returned as it is).

    Raises ValueError when it lacks the id (a DW content id, `dw.is_content_id`), URL or title
    the archive keys and shows it by (`items.missing_required`), or holds a value SQLite cannot
    store (an integer beyond 64 bits, a string with a lone surrogate).
    """
    if isinstance(item, Record):
        return item
    record = Record(ItemAdapter(item).items()) if not isinstance(item, dict) else Record(item)
    if missing_required(record):
        raise ValueError(f"not archivable without id, url and title: {str(record.get('url'))[:200]!r}")
    reason = _unstorable(record)
    if reason:
        raise ValueError(f"not archivable ({reason}): {str(record.get('url'))[:200]!r}")
    if not record.get("content_hash"):
        record["content_hash"] = content_hash(record)
    return record


def article_row(record: dict) -> dict:
    """The `articles` row of a record: every column, lists as JSON text."""
    row = {name: record.get(name) for name in ARTICLE_COLUMNS}
    for name in LIST_FIELDS:
        row[name] = json.dumps(record.get(name) or [], ensure_ascii=False)
    return row


@dataclass
class Stored:
    """What the archive holds about one article: enough to decide whether to fetch it again."""

    content_hash: str
    last_seen_at: str
    modified_at: str | None
    etag: str | None = None
    last_modified: str | None = None
    # The body was cut at the extractor's safety limit: never up to date (fetched again).
    body_truncated: bool = False

    def __post_init__(self) -> None:
        # From SQLite an integer, from Redis (crawler/distributed) its text.
        self.body_truncated = self.body_truncated in (True, 1, "1")


@dataclass(frozen=True)
class Fetched:
    """How an article's page answered: HTTP validators to keep, or a 304 (only marks it seen, at
    `fetched_at` when given: when the 304 came)."""

    article_id: int
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    fetched_at: str | None = None
