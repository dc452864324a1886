"""The archive's schema as code: every table, index and trigger, created or brought up to date.

The `articles` columns and the content fields are read off the `Article` item, so a field added
there gets its column (lists as JSON text) and its place in revisions without an edit here.

    articles          one row per DW content id: every Article field, plus when it was first and
                      last seen, its content hash and the HTTP validators of its last fetch
    revisions         the whole previous version of an article's content fields, one row per edit
    sightings         every time an article was seen: when, its content hash, where its response is kept
    authors, article_authors     people who wrote it, in byline order
    agencies, article_agencies   news agencies, role `text` (credit line) or `photo` (image credit)
    images            an article's pictures, in page order
    short_links       p.dw.com codes and the article each leads to
    crawl_runs        one row per `scrapy crawl dw`: arguments, counts, outcome, Scrapy's stats
    gone_articles     articles still listed whose page answered 404/410, and when last asked
                      (crawler/archive/gone.py)
    articles_search   the one full-text index (FTS5, folded text; see crawler/search.py)
"""

from __future__ import annotations

import types
import typing

import sqlite_utils

from crawler import dw, items, search
from crawler.archive import gone
from crawler.items import Article

# Which Article fields are content and which are columns is declared on the fields themselves
# (crawler/items.py: `NOT_CONTENT`, `NOT_A_COLUMN`); these sets are read off them.
NOT_CONTENT = frozenset(items.ARTICLE_FIELDS) - frozenset(items.CONTENT_FIELDS)
NOT_COLUMNS = frozenset(items.ARTICLE_FIELDS) - frozenset(items.COLUMN_FIELDS)
ARCHIVE_COLUMNS = {"first_seen_at": str, "last_seen_at": str, "content_hash": str,
                   "etag": str, "last_modified": str}
# Earlier archives kept a second full-text index (title, teaser, body) kept in sync by triggers;
# `articles_search` serves every search it served, so it is dropped (derived data).
_OLD_FTS = ("articles_fts", ("articles_ai", "articles_ad", "articles_au"))


def _column_type(annotation) -> type:
    """The SQLite affinity of an Article field: int for ints and booleans (0, 1), text for the
    rest (lists as JSON)."""
    kinds = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return int if int in kinds or bool in kinds else str


_HINTS = typing.get_type_hints(Article)
ARTICLE_FIELDS = items.ARTICLE_FIELDS
CONTENT_FIELDS = items.CONTENT_FIELDS
LIST_FIELDS = tuple(name for name in items.LIST_FIELDS if name not in NOT_COLUMNS)
ARTICLE_COLUMNS = {name: _column_type(_HINTS[name]) for name in items.COLUMN_FIELDS}
ARTICLE_COLUMNS.update(ARCHIVE_COLUMNS)
# A revision is one earlier version, whole. `seen_at`: until when it was the article's content
# (the fetch time of the version after it), so revisions ordered by (seen_at, id) are in capture
# order. `cause`: what wrote the revision (`crawl`, `reextract`, or a backfill source:
# `commoncrawl`, `cc-news`, `wayback`). `fetched_at`, `warc_file`, `warc_offset`: that
# version's own capture, where known.
REVISION_COLUMNS = {"id": int, "article_id": int, "seen_at": str, "modified_at": str,
                    "changed": str, "content_hash": str, "cause": str,
                    "fetched_at": str, "warc_file": str, "warc_offset": int,
                    **{name: ARTICLE_COLUMNS[name] for name in CONTENT_FIELDS}}

TABLES: dict[str, tuple[dict, dict]] = {
    # name: (columns, sqlite-utils create() options)
    "articles": (ARTICLE_COLUMNS, {"pk": "id", "not_null": {"url"}}),
    "agencies": ({"name": str, "full_name": str}, {"pk": "name"}),
    "article_agencies": ({"article_id": int, "agency": str, "role": str},
                         {"pk": ("article_id", "agency", "role"),
                          "foreign_keys": [("article_id", "articles", "id"),
                                           ("agency", "agencies", "name")]}),
    "authors": ({"name": str}, {"pk": "name"}),
    "article_authors": ({"article_id": int, "author": str, "position": int},
                        {"pk": ("article_id", "author"),
                         "foreign_keys": [("article_id", "articles", "id"),
                                          ("author", "authors", "name")]}),
    "images": ({"article_id": int, "position": int, "url": str, "caption": str, "credit": str},
               {"pk": ("article_id", "position"), "foreign_keys": [("article_id", "articles", "id")]}),
    "short_links": ({"code": str, "article_id": int},
                    {"pk": "code", "foreign_keys": [("article_id", "articles", "id")]}),
    "revisions": (REVISION_COLUMNS, {"pk": "id", "foreign_keys": [("article_id", "articles", "id")]}),
    # Every time an article was seen (a fetch, a 304, a backfilled capture): the history is
    # these in time order with runs of equal content folded (crawler/archive/history.py), so
    # it does not depend on the order in which they arrive. `warc_file`/`warc_offset`: where
    # that response is kept (NULL for a 304); `cause`: who saw it.
    "sightings": ({"id": int, "article_id": int, "fetched_at": str, "content_hash": str,
                   "warc_file": str, "warc_offset": int, "cause": str},
                  {"pk": "id", "foreign_keys": [("article_id", "articles", "id")]}),
    "crawl_runs": ({"id": int, "started_at": str, "finished_at": str, "arguments": str,
                    "finish_reason": str, "outcome": str, "found": int, "fetched": int,
                    "not_modified": int, "new": int, "updated": int, "unchanged": int,
                    "skipped": int, "failed": int, "gone": int,
                    # fetched, not stored (crawler/outcome.py `summarize`); NULL in older rows,
                    # whose `failed` counted them
                    "not_stored": int, "stats": str,
                    "coverage": str},  # share of articles with each field (crawler/health.py)
                   {"pk": "id"}),
    # Articles still listed whose page answered 404/410: when they were first found so and
    # last asked, so that later runs do not ask again (crawler/archive/gone.py). No foreign key:
    # most were never archived.
    gone.TABLE: (gone.COLUMNS, {"pk": "id"}),
}
INDEXES = [
    ("articles", ["published_at"]), ("articles", ["language", "published_at"]),
    # The order of datasette's list, its pages and exports (newest first, then by id): each page
    # read straight off this index, whatever the archive's size (plugins/dw_views.py).
    ("articles", [sqlite_utils.db.DescIndex("published_at"), "id"]),
    ("articles", ["last_seen_at"]), ("article_agencies", ["agency", "role"]),
    ("article_authors", ["author"]), ("short_links", ["article_id"]),
    ("revisions", ["article_id", "seen_at"]),
]
UNIQUE_INDEXES = [("sightings", ["article_id", "fetched_at", "content_hash"])]


def migrate(db: sqlite_utils.Database) -> None:
    """Create or bring up to date every table, index, FTS table and trigger; idempotent.

    An older archive gains the columns it lacks (NULL until the article is next fetched).
    """
    for name, (columns, options) in TABLES.items():
        table = db[name]
        if not table.exists():
            table.create(columns, **options)
        else:
            existing = table.columns_dict
            for column, kind in columns.items():
                if column not in existing:
                    table.add_column(column, kind)
    for table, columns in INDEXES:
        db[table].create_index(columns, if_not_exists=True)
    for table, columns in UNIQUE_INDEXES:
        db[table].create_index(columns, unique=True, if_not_exists=True)
    old_table, old_triggers = _OLD_FTS
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [old_table]).fetchone():
        with db.atomic():
            for trigger in old_triggers:
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            db.execute(f"DROP TABLE {old_table}")
    search.create(db)  # the folded-text search index datasette's search box uses (crawler/search.py)
    search.ensure_config(db)
    known = {row[0] for row in db.execute("SELECT name FROM agencies")}
    missing = [{"name": n, "full_name": full} for n, full in dw.AGENCIES.items() if n not in known]
    if missing:
        with db.atomic():
            db["agencies"].insert_all(missing, ignore=True)
