"""The archive: one SQLite file, its schema as code, the reads the crawl needs, batched writes."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

from crawler import dw

logger = logging.getLogger(__name__)

# Fields whose change makes a new revision; hashed after normalisation.
CONTENT_FIELDS = ("title", "teaser", "body", "subheads", "authors", "topics", "credit_line",
                  "agencies", "images")
LIST_FIELDS = ("subheads", "authors", "topics", "agencies", "images")
ARTICLE_COLUMNS = {
    "id": int, "url": str, "short_url": str, "language": str, "kind": str, "title": str,
    "teaser": str, "body": str, "subheads": str, "published_at": str, "modified_at": str,
    "authors": str, "topics": str, "credit_line": str, "agencies": str, "images": str,
    "first_seen_at": str, "last_seen_at": str, "content_hash": str,
    "etag": str, "last_modified": str,
    "warc_file": str, "warc_offset": int, "extractor_version": str,  # issue 15
}  # fmt: skip
FTS_TOKENIZER = "unicode61 remove_diacritics 2"


def utc_now() -> str:
    """Now, in the archive's timestamp form."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_hash(article: dict) -> str:
    """A stable digest of an article's content fields."""
    payload = json.dumps([article.get(f) for f in CONTENT_FIELDS], ensure_ascii=False,
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Stored:
    """What the archive holds about one article: enough to decide whether to fetch it again."""

    content_hash: str
    last_seen_at: str
    modified_at: str | None
    etag: str | None = None
    last_modified: str | None = None


class Archive:
    """The SQLite archive: schema, reads and batched, atomic writes."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0, max_pages: int = 0):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if str(path) != ":memory:":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        if max_pages:
            self.db.execute(f"PRAGMA max_page_count = {int(max_pages)}")
        self.migrate()

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    # -- schema --------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or bring up to date every table, index, FTS table and trigger; idempotent."""
        db = self.db
        articles = self._table("articles", ARTICLE_COLUMNS, pk="id", not_null={"url"})
        self._table("agencies", {"name": str, "full_name": str}, pk="name")
        self._table("article_agencies", {"article_id": int, "agency": str, "role": str},
                    pk=("article_id", "agency", "role"),
                    foreign_keys=[("article_id", "articles", "id"), ("agency", "agencies", "name")])
        self._table("authors", {"name": str}, pk="name")
        self._table("article_authors", {"article_id": int, "author": str, "position": int},
                    pk=("article_id", "author"),
                    foreign_keys=[("article_id", "articles", "id"), ("author", "authors", "name")])
        self._table("images", {"article_id": int, "position": int, "url": str, "caption": str,
                               "credit": str},
                    pk=("article_id", "position"), foreign_keys=[("article_id", "articles", "id")])
        self._table("short_links", {"code": str, "article_id": int}, pk="code",
                    foreign_keys=[("article_id", "articles", "id")])
        self._table("revisions", {"id": int, "article_id": int, "seen_at": str, "modified_at": str,
                                  "changed": str, "title": str, "teaser": str, "body": str,
                                  "authors": str, "agencies": str, "content_hash": str,
                                  "cause": str},  # crawl | reextract (issue 15)
                    pk="id", foreign_keys=[("article_id", "articles", "id")])
        self._table("crawl_runs", {"id": int, "started_at": str, "finished_at": str,
                                   "arguments": str, "finish_reason": str, "outcome": str,
                                   "found": int, "fetched": int, "not_modified": int, "new": int,
                                   "updated": int, "unchanged": int, "skipped": int, "failed": int,
                                   "stats": str, "coverage": str},
                    pk="id")
        for table, columns in (
            ("articles", ["published_at"]), ("articles", ["language", "published_at"]),
            ("articles", ["last_seen_at"]), ("article_agencies", ["agency", "role"]),
            ("article_authors", ["author"]), ("short_links", ["article_id"]),
            ("revisions", ["article_id", "seen_at"]),
        ):
            db[table].create_index(columns, if_not_exists=True)
        if not articles.detect_fts():
            articles.enable_fts(["title", "teaser", "body"], fts_version="FTS5",
                                create_triggers=True, tokenize=FTS_TOKENIZER)
        known = {row[0] for row in db.execute("SELECT name FROM agencies")}
        missing = [(n, full) for n, full in dw.AGENCIES.items() if n not in known]
        if missing:
            self._in_transaction(lambda: db.conn.executemany(
                "INSERT OR IGNORE INTO agencies (name, full_name) VALUES (?, ?)", missing))

    def _table(self, name: str, columns: dict, **create):
        """Create a table, or add the columns an older archive lacks; idempotent."""
        table = self.db[name]
        if not table.exists():
            table.create(columns, **create)
        else:
            for column, kind in columns.items():
                if column not in table.columns_dict:
                    table.add_column(column, kind)
        return table

    # -- reads ---------------------------------------------------------------------------

    def stored(self, article_id: int) -> Stored | None:
        """What is archived for one article id, or None."""
        row = self.db.execute(
            "SELECT content_hash, last_seen_at, modified_at, etag, last_modified FROM articles"
            " WHERE id = ?",
            [article_id]).fetchone()
        return Stored(*row) if row else None

    def due_for_revisit(self, now: datetime, languages: list[str], limit: int = 5000) -> list[tuple]:
        """(id, url) of recent articles to check again: hourly on day one, daily in week one."""
        def ago(delta: timedelta) -> str:
            return (now - delta).strftime("%Y-%m-%dT%H:%M:%SZ")

        day, hour, week = timedelta(days=1), timedelta(hours=1), timedelta(days=7)
        marks = ",".join("?" * len(languages))
        return self.db.execute(
            f"SELECT id, url FROM articles WHERE language IN ({marks}) AND published_at >= ?"
            " AND ((published_at >= ? AND last_seen_at < ?)"
            " OR (published_at < ? AND last_seen_at < ?))"
            " ORDER BY published_at DESC LIMIT ?",
            [*languages, ago(week), ago(day), ago(hour), ago(day), ago(day), limit],
        ).fetchall()

    def has_short_link(self, code: str) -> bool:
        """True when the short code is already recorded."""
        return self.db.execute("SELECT 1 FROM short_links WHERE code = ?", [code]).fetchone() is not None

    def count(self, table: str = "articles") -> int:
        """Rows in one table."""
        return self.db[table].count

    # -- writes --------------------------------------------------------------------------

    def write_batch(self, articles: Iterable[dict], short_links: Iterable[tuple[str, int]] = (),
                    fetches: Iterable = (), seen_at: str | None = None,
                    cause: str = "crawl") -> dict[str, int]:
        """Store a batch in one transaction; returns counts of new, updated, unchanged rows.

        `fetches` are `Fetched` records: HTTP validators to keep, and 304s that only mark an
        article as seen.
        """
        seen_at = seen_at or utc_now()
        counts = {"new": 0, "updated": 0, "unchanged": 0, "short_links": 0}

        def work():
            for article in articles:
                counts[self._write_article(article, seen_at, cause)] += 1
            for fetch in fetches:
                self.db.execute(
                    "UPDATE articles SET etag = coalesce(?, etag),"
                    " last_modified = coalesce(?, last_modified),"
                    " last_seen_at = CASE WHEN ? THEN ? ELSE last_seen_at END WHERE id = ?",
                    [fetch.etag, fetch.last_modified, fetch.not_modified, seen_at, fetch.article_id])
                counts["unchanged"] += fetch.not_modified
            for code, article_id in short_links:
                cur = self.db.execute(
                    "INSERT INTO short_links (code, article_id) SELECT ?, id FROM articles"
                    " WHERE id = ? ON CONFLICT(code) DO UPDATE SET article_id = excluded.article_id",
                    [code, article_id])
                counts["short_links"] += cur.rowcount

        self._in_transaction(work)
        return counts

    def _write_article(self, article: dict, seen_at: str, cause: str = "crawl") -> str:
        if not (isinstance(article.get("id"), int) and article.get("url") and article.get("title")):
            raise ValueError(f"not archivable without id, url and title: {article.get('url')!r}")
        digest = article.get("content_hash") or content_hash(article)
        row = {name: article.get(name) for name in ARTICLE_COLUMNS if name in article}
        for name in LIST_FIELDS:
            row[name] = json.dumps(article.get(name) or [], ensure_ascii=False)
        row.update(content_hash=digest, last_seen_at=seen_at)
        old = self.db.execute(
            "SELECT content_hash, title, teaser, body, authors, agencies, subheads, topics,"
            " credit_line, images, modified_at FROM articles WHERE id = ?", [article["id"]]
        ).fetchone()
        if old is not None and old[0] == digest:
            self.db.execute("UPDATE articles SET last_seen_at = ? WHERE id = ?",
                            [seen_at, article["id"]])
            return "unchanged"
        if old is None:
            row["first_seen_at"] = seen_at
            verdict = "new"
        else:
            previous = dict(zip(("content_hash", "title", "teaser", "body", "authors",
                                 "agencies", "subheads", "topics", "credit_line", "images",
                                 "modified_at"), old, strict=True))
            changed = [f for f in CONTENT_FIELDS if previous.get(f) != row.get(f)]
            self.db.execute(
                "INSERT INTO revisions (article_id, seen_at, modified_at, changed, title, teaser,"
                " body, authors, agencies, content_hash, cause)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [article["id"], seen_at, previous["modified_at"], json.dumps(changed),
                 previous["title"], previous["teaser"], previous["body"], previous["authors"],
                 previous["agencies"], previous["content_hash"], cause])
            verdict = "updated"
        columns = list(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("id", "first_seen_at"))
        self.db.execute(
            f"INSERT INTO articles ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT(id) DO UPDATE SET {updates}",
            [row[c] for c in columns])
        self._replace_links(article)
        return verdict

    def _replace_links(self, article: dict) -> None:
        article_id = article["id"]
        for table in ("article_agencies", "article_authors", "images"):
            self.db.execute(f"DELETE FROM {table} WHERE article_id = ?", [article_id])
        tags = [(name, "text") for name in article.get("agencies") or []]
        tags += [(name, "photo") for name in article.get("photo_agencies") or []]
        for name, role in tags:
            self.db.execute("INSERT OR IGNORE INTO agencies (name, full_name) VALUES (?, ?)",
                            [name, dw.AGENCIES.get(name)])
            self.db.execute("INSERT OR IGNORE INTO article_agencies (article_id, agency, role)"
                            " VALUES (?, ?, ?)", [article_id, name, role])
        for position, name in enumerate(article.get("authors") or []):
            self.db.execute("INSERT OR IGNORE INTO authors (name) VALUES (?)", [name])
            self.db.execute("INSERT OR IGNORE INTO article_authors (article_id, author, position)"
                            " VALUES (?, ?, ?)", [article_id, name, position])
        for position, image in enumerate(article.get("images") or []):
            self.db.execute("INSERT INTO images (article_id, position, url, caption, credit)"
                            " VALUES (?, ?, ?, ?, ?)",
                            [article_id, position, image.get("url"), image.get("caption"),
                             image.get("credit")])
        short = article.get("short_url") or ""
        if "/p/" in short:
            self.db.execute("INSERT INTO short_links (code, article_id) VALUES (?, ?)"
                            " ON CONFLICT(code) DO UPDATE SET article_id = excluded.article_id",
                            [short.rsplit("/p/", 1)[1], article_id])

    def _in_transaction(self, work) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            work()
        except BaseException:
            # On some errors (a full disk, I/O) SQLite has rolled back already; the original
            # error is the one to report.
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def record_run(self, run: dict) -> None:
        """Add one row to `crawl_runs`."""
        columns = list(run)
        self._in_transaction(lambda: self.db.execute(
            f"INSERT INTO crawl_runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [run[c] for c in columns]))

    def check(self) -> list[str]:
        """Problems `PRAGMA integrity_check` and `foreign_key_check` report; empty when sound."""
        problems = [row[0] for row in self.db.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [str(row) for row in self.db.execute("PRAGMA foreign_key_check")]
        return problems


def archive_for(crawler) -> Archive:
    """The one Archive of a Scrapy crawler, opened at `ARCHIVE_PATH` on first use."""
    archive = getattr(crawler, "dw_archive", None)
    if archive is None:
        from scrapy import signals

        archive = Archive(crawler.settings.get("ARCHIVE_PATH", "data/dw.db"),
                          max_pages=crawler.settings.getint("ARCHIVE_MAX_PAGES", 0))
        crawler.dw_archive = archive
        crawler.signals.connect(archive.close, signal=signals.engine_stopped)
    return archive
