"""The archive: one SQLite file, the reads the crawl needs, and batched writes, one transaction each.

Deduplication lives here and only here: inside a batch's write transaction each article is
compared, by content hash, with what the archive holds at that moment, and is stored as new,
as updated (its previous version kept whole in `revisions`), or only marked as seen. Several
processes sharing one archive therefore never insert one article twice nor lose a revision.

The archive never replaces a version with an older fetch. Every article handed to it carries
when its response was fetched (`fetched_at`: the WARC-Date of its capture); a fetch at or after
the article's `last_seen_at` updates it, an older one with other content is kept as an earlier
revision in its place in time (`crawler.archive.history`), and `first_seen_at` /
`last_seen_at` only ever move outwards. Writers pass the fetch time along; the rule is here.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import sqlite_utils

from crawler import search
from crawler import settings as defaults
from crawler.archive import history, revisits, schema
from crawler.archive.records import (
    Fetched,
    Stored,
    article_row,
    as_record,
    utc_now,
)
from crawler.archive.schema import CONTENT_FIELDS

logger = logging.getLogger(__name__)

_LINK_TABLES = ("article_agencies", "article_authors", "images")
_SEARCHED = frozenset(search.COLUMNS)

class Archive:
    """The SQLite archive at `path`: schema (migrated on open), reads and batched, atomic writes.

    `timeout` is how long, in seconds, a write waits for another process's write lock before
    failing with `sqlite3.OperationalError: database is locked`; `max_pages` caps the file's
    size in SQLite pages (0: no cap).
    """

    def __init__(self, path: str | Path, *, timeout: float = defaults.ARCHIVE_TIMEOUT,
                 max_pages: int = defaults.ARCHIVE_MAX_PAGES):
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
        self.max_pages = int(max_pages)
        if max_pages:
            self.db.execute(f"PRAGMA max_page_count = {int(max_pages)}")
        schema.migrate(self.db)

    @classmethod
    def from_settings(cls, settings, path: str | Path | None = None) -> Archive:
        """The archive at `path` (default: `ARCHIVE_PATH`) with the settings' `ARCHIVE_TIMEOUT`
        and `ARCHIVE_MAX_PAGES`: how the crawl, the archive writer and re-extraction open it."""
        return cls(path or settings.get("ARCHIVE_PATH"), timeout=settings.getfloat("ARCHIVE_TIMEOUT"),
                   max_pages=settings.getint("ARCHIVE_MAX_PAGES"))

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()

    def merge_search_index(self) -> int:
        """Merge the search index's segments that batches added (see `crawler.search.merge`);
        for when the crawl is idle. Steps that did work; raises sqlite3.Error like a write."""
        return search.merge(self.db)

    # -- reads ---------------------------------------------------------------------------

    def stored(self, article_id: int) -> Stored | None:
        """What is archived for one article id, or None."""
        row = self.db.execute(
            "SELECT content_hash, last_seen_at, modified_at, etag, last_modified, body_truncated"
            " FROM articles WHERE id = ?", [article_id]).fetchone()
        return Stored(*row) if row else None

    def due_for_revisit(self, now: datetime, languages: list[str],
                        limit: int = revisits.LIMIT) -> list[tuple]:
        """(id, url) of recent articles in `languages` to check again (`crawler.archive.revisits`)."""
        marks = ",".join("?" * len(languages))
        rows = self.db.execute(
            f"SELECT id, published_at, last_seen_at, url FROM articles WHERE language IN ({marks})"
            " AND published_at >= ?", [*languages, revisits.since(now)])
        return revisits.due(now, rows, limit)

    def has_short_link(self, code: str) -> bool:
        """True when the short code is already recorded."""
        return self.db.execute("SELECT 1 FROM short_links WHERE code = ?", [code]).fetchone() is not None

    def count(self, table: str = "articles") -> int:
        """Rows in one table."""
        return self.db[table].count

    def check(self) -> list[str]:
        """Problems `PRAGMA integrity_check` and `foreign_key_check` report; empty when sound."""
        problems = [row[0] for row in self.db.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [str(row) for row in self.db.execute("PRAGMA foreign_key_check")]
        return problems

    # -- writes --------------------------------------------------------------------------

    def write_batch(self, articles: Iterable, short_links: Iterable[tuple[str, int]] = (),
                    fetches: Iterable[Fetched] = (), seen_at: str | None = None,
                    cause: str = "crawl", also: Callable[[], None] | None = None) -> dict[str, int]:
        """Store a batch in one transaction; all of it, or (on any error) none of it.

        `articles` are normalised article items or dicts (see `as_record`; an `etag` and
        `last_modified` key, when present, are stored as the article's HTTP validators), each
        with its `fetched_at` (when its response was fetched; `seen_at`, else now, when
        missing): one fetched before the article's `last_seen_at` never replaces its content
        (see the module's docstring); `short_links` are (code, article id) pairs, stored when
        the article is archived; `fetches` mark 304s as seen (at their `fetched_at`) and keep
        validators of articles archived earlier. `cause` is recorded on each revision and
        sighting the batch makes (`crawl`, `reextract`, `commoncrawl`, `cc-news`, `wayback`).
        `also`, when given, runs inside the same transaction (a writer's own bookkeeping, such
        as what it has done, committed with the articles or not at all).
        Returns counts: `new`, `updated`, `unchanged` (the content stored), `earlier` (older
        fetches kept as earlier revisions), `older` (older fetches of an earlier version's
        content, other than the stored one's: kept as sightings in their time), `filled` (of
        the updated and unchanged: articles whose empty columns, such as one an upgrade added,
        got a value), `short_links` (stored), `refused`
        (articles `as_record` refuses: logged and left out, the rest of the batch written; a
        `Record` was checked when it was made and is not checked again). Raises sqlite3.Error
        from SQLite.
        """
        counts = {"new": 0, "updated": 0, "unchanged": 0, "earlier": 0, "older": 0, "filled": 0,
                  "short_links": 0, "refused": 0}
        records = []
        for article in articles:
            try:
                records.append(as_record(article))  # a Record as it is
            except ValueError as exc:
                counts["refused"] += 1
                logger.warning("Refusing an article: %s", exc)
        seen_at = seen_at or utc_now()

        def work():
            self._write_articles(records, seen_at, counts, cause)
            for fetch in fetches:
                at = fetch.fetched_at or seen_at
                if fetch.not_modified:  # a sighting of the current version, when it is the newest
                    self.db.execute(
                        "INSERT OR IGNORE INTO sightings (article_id, fetched_at, content_hash, cause)"
                        " SELECT id, ?, content_hash, ? FROM articles WHERE id = ?"
                        " AND ? >= coalesce(last_seen_at, '')", [at, cause, fetch.article_id, at])
                # The validators a 304 carries are the current representation's (RFC 9111
                # §4.3.4: a cache updates its stored headers with them); a header it did not
                # send leaves the stored one. Only from the newest answer: an older one (a
                # rebuild, the recovery after a kill) never replaces a later server's word.
                self.db.execute(
                    "UPDATE articles SET"
                    " etag = CASE WHEN ? >= coalesce(last_seen_at, '') THEN coalesce(?, etag) ELSE etag END,"
                    " last_modified = CASE WHEN ? >= coalesce(last_seen_at, '')"
                    " THEN coalesce(?, last_modified) ELSE last_modified END,"
                    " last_seen_at = CASE WHEN ? THEN max(coalesce(last_seen_at, ''), ?)"
                    " ELSE last_seen_at END WHERE id = ?",
                    [at, fetch.etag, at, fetch.last_modified, fetch.not_modified, at, fetch.article_id])
                counts["unchanged"] += fetch.not_modified
            for code, article_id in short_links:
                # Only for an archived article: a short link never dangles.
                cursor = self.db.execute(
                    "INSERT INTO short_links (code, article_id) SELECT ?, id FROM articles"
                    " WHERE id = ? ON CONFLICT(code) DO UPDATE SET article_id = excluded.article_id",
                    [code, article_id])
                counts["short_links"] += cursor.rowcount
            if also is not None:
                also()

        self._in_transaction(work)
        return counts

    def _write_articles(self, records: list[dict], seen_at: str, counts: dict[str, int],
                        cause: str) -> None:
        """Decide new / updated / unchanged / earlier against the archive as it is now, then write.

        An article's fetches in one batch are taken in time order (arrival order within one
        second), each against the state the ones before it left; every fetch is a sighting.
        """
        if not records:
            return
        ids = list({r["id"] for r in records})
        current = {row["id"]: row for row in self.db.query(
            f"SELECT * FROM articles WHERE id IN ({','.join('?' * len(ids))})", ids)}
        self._keep_implied_sightings(list(current.values()))
        upserts: dict[int, dict] = {}
        relink: dict[int, dict] = {}
        reindex: dict[int, dict] = {}  # only articles whose searchable text may have changed
        revisions, seen, older, sightings, reread = [], {}, [], [], []
        records = sorted(records, key=lambda r: r.get("fetched_at") or seen_at)  # stable
        for record in records:
            row = article_row(record)
            fetched = row["fetched_at"] = record.get("fetched_at") or seen_at
            sighting = _sighting(row, cause)  # this fetch, with its own capture
            old = current.get(row["id"])
            filled: list[str] = []
            if old is None:
                verdict = "new"
                row["first_seen_at"] = fetched
            elif fetched < (old["last_seen_at"] or "") and not _same_capture(old, row):
                older.append(row)  # placed in its time once this batch's newer fetches are written
                continue
            else:
                row["first_seen_at"] = min(old["first_seen_at"] or fetched, fetched)
                if fetched < (old["last_seen_at"] or ""):  # re-read: a later answer's validators stay
                    row["etag"], row["last_modified"] = old["etag"], old["last_modified"]
                row["etag"] = row["etag"] or old["etag"]
                row["last_modified"] = row["last_modified"] or old["last_modified"]
                # Re-reading the capture the stored version came from may be older than a later
                # sighting of it: that sighting stays the last.
                last = max(fetched, old["last_seen_at"] or "")
                # A column still NULL was added by an upgrade after the article was archived:
                # filling it is not an edit.
                changed = [f for f in CONTENT_FIELDS if old.get(f) is not None and old[f] != row[f]]
                filled = [c for c, v in row.items() if v is not None and old.get(c) is None]
                if old["content_hash"] == row["content_hash"] and not filled:
                    if row["id"] in upserts:  # written by this batch: the row still to write moves
                        upserts[row["id"]].update(last_seen_at=last, etag=row["etag"],
                                                  last_modified=row["last_modified"])
                    else:
                        seen[row["id"]] = (last, row["etag"], row["last_modified"], row["id"])
                    counts["unchanged"] += 1
                    current[row["id"]] = {**old, "last_seen_at": last}
                    sightings.append(sighting)
                    continue
                if _same_capture(old, row) and old["content_hash"] != row["content_hash"]:
                    (since,) = self.db.execute("SELECT max(seen_at) FROM revisions WHERE article_id = ?",
                                               [row["id"]]).fetchone()
                    reread.append((row["id"], old["content_hash"], row["content_hash"],
                                   since or old["first_seen_at"] or ""))
                if changed:
                    verdict = "updated"
                    revisions.append(history.revision_row(row["id"], old, fetched, row, cause))
                else:
                    verdict = "unchanged"
                    # The same content: the version keeps the first capture of it.
                    for column in history.CAPTURE_KEYS:
                        if old.get(column) is not None:
                            row[column] = old[column]
                fetched = last
            row["last_seen_at"] = fetched
            counts[verdict] += 1
            counts["filled"] += bool(filled)
            upserts[row["id"]] = current[row["id"]] = row
            relink[row["id"]] = record
            if verdict != "unchanged" or set(filled) & _SEARCHED:
                reindex[row["id"]] = record
            sightings.append(sighting)
        if upserts:
            self.db["articles"].upsert_all(list(upserts.values()), pk="id")
            self._replace_links(relink)
            search.index_rows(self.db, reindex.values())
        if seen:  # after the upserts: an article new in this batch may have been seen again in it
            self.db.conn.executemany(
                "UPDATE articles SET last_seen_at = max(coalesce(last_seen_at, ''), ?), etag = ?,"
                " last_modified = ? WHERE id = ?", list(seen.values()))
        if revisions:
            self.db["revisions"].insert_all(revisions)
        for article_id, before, after, since in reread:
            # A newer reading of the capture the current version came from: the sightings of
            # that version read as the new content now.
            self.db.execute("UPDATE OR REPLACE sightings SET content_hash = ? WHERE article_id = ?"
                            " AND content_hash = ? AND fetched_at >= ?", [after, article_id, before, since])
        self._add_sightings(sightings)
        for row in older:
            self._place_older(row, cause, counts)

    def _add_sightings(self, sightings: list[dict]) -> None:
        if sightings:
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO sightings (article_id, fetched_at, content_hash, warc_file,"
                " warc_offset, cause) VALUES (:article_id, :fetched_at, :content_hash, :warc_file,"
                " :warc_offset, :cause)", sightings)

    def _keep_implied_sightings(self, rows: list[dict]) -> None:
        """For articles archived before sightings were kept: record the sightings their versions
        imply (`history.implied_sightings`) before anything moves them."""
        if not rows:
            return
        ids = [row["id"] for row in rows]
        marks = ",".join("?" * len(ids))
        have = {r[0] for r in self.db.execute(
            f"SELECT DISTINCT article_id FROM sightings WHERE article_id IN ({marks})", ids)}
        for row in rows:
            if row["id"] in have:
                continue
            revisions = list(self.db.query(
                "SELECT * FROM revisions WHERE article_id = ? ORDER BY seen_at, id", [row["id"]]))
            self._add_sightings([
                {"article_id": row["id"], "fetched_at": s.at, "content_hash": s.content_hash,
                 "warc_file": s.warc_file, "warc_offset": s.warc_offset, "cause": "implied"}
                for s in history.implied_sightings(row, revisions) if s.at])

    def _place_older(self, row: dict, cause: str, counts: dict[str, int]) -> None:
        """Keep a fetch older than its article's `last_seen_at` in its place in the article's
        history (`crawler.archive.history.place`); the current content stays."""
        current = next(self.db.query("SELECT * FROM articles WHERE id = ?", [row["id"]]))
        revisions = list(self.db.query(
            "SELECT * FROM revisions WHERE article_id = ? ORDER BY seen_at, id", [row["id"]]))
        sightings = [history.Sighting(*r) for r in self.db.execute(
            "SELECT fetched_at, content_hash, warc_file, warc_offset FROM sightings WHERE article_id = ?",
            [row["id"]])]
        placement = history.place(current, revisions, sightings, row, row["fetched_at"], cause)
        # Never "unchanged" when the content differs from the stored version's.
        counts["older" if placement.verdict == "unchanged" and row["content_hash"] != current["content_hash"]
               else placement.verdict] += 1
        article = dict(placement.article)
        if "first_seen_at" in article:
            article["first_seen_at"] = min(current["first_seen_at"] or article["first_seen_at"],
                                           article["first_seen_at"])
        if article:
            self.db["articles"].update(row["id"], article)
        for revision_id, columns in placement.update:
            self.db["revisions"].update(revision_id, columns)
        if placement.insert:
            self.db["revisions"].insert_all(placement.insert)
        self._add_sightings([_sighting(row, cause)])
        if placement.verdict == "earlier":
            logger.info("Article %s: a fetch of %s older than the stored version is kept as an"
                        " earlier revision (%s)", row["id"], row["fetched_at"], cause)

    def _replace_links(self, records: dict[int, dict]) -> None:
        """The join rows of these articles, as their records carry them now."""
        marks = ",".join("?" * len(records))
        for table in _LINK_TABLES:
            self.db.execute(f"DELETE FROM {table} WHERE article_id IN ({marks})", list(records))
        agencies, tags, authors, bylines, images = {}, [], {}, [], []
        for article_id, record in records.items():
            for role, field in (("text", "agencies"), ("photo", "photo_agencies")):
                for name in record.get(field) or []:
                    agencies[name] = {"name": name}  # known ones came with the schema
                    tags.append({"article_id": article_id, "agency": name, "role": role})
            for position, name in enumerate(record.get("authors") or []):
                authors[name] = {"name": name}
                bylines.append({"article_id": article_id, "author": name, "position": position})
            images += [{"article_id": article_id, "position": position, "url": image.get("url"),
                        "caption": image.get("caption"), "credit": image.get("credit")}
                       for position, image in enumerate(record.get("images") or [])]
        self.db["agencies"].insert_all(agencies.values(), ignore=True)
        self.db["article_agencies"].insert_all(tags, ignore=True)
        self.db["authors"].insert_all(authors.values(), ignore=True)
        self.db["article_authors"].insert_all(bylines, ignore=True)
        self.db["images"].insert_all(images)

    def _in_transaction(self, work) -> None:
        """Run `work` in one `BEGIN IMMEDIATE` transaction: committed whole or rolled back.

        sqlite-utils' writers called inside join it (they use savepoints in an open
        transaction) instead of committing on their own.
        """
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
        """Add one row to `crawl_runs` (keys: its column names).

        A run stopped by the `max_pages` cap is still recorded: the cap stops articles, not the
        account of why the run stopped, so the row may take a few pages past it.
        """
        try:
            self._in_transaction(lambda: self.db["crawl_runs"].insert(run))
        except sqlite3.OperationalError as exc:
            if not self.max_pages or "full" not in str(exc):  # a real full disk: nothing to do
                raise
            self.db.execute(f"PRAGMA max_page_count = {self.max_pages + 16}")
            try:
                self._in_transaction(lambda: self.db["crawl_runs"].insert(run))
            finally:
                self.db.execute(f"PRAGMA max_page_count = {self.max_pages}")


def _sighting(row: dict, cause: str) -> dict:
    """The `sightings` row of a fetched article row."""
    return {"article_id": row["id"], "fetched_at": row["fetched_at"],
            "content_hash": row["content_hash"], "warc_file": row.get("warc_file"),
            "warc_offset": row.get("warc_offset"), "cause": cause}


def _same_capture(stored: dict, row: dict) -> bool:
    """True when `row` was read from the very capture (WARC file and offset) the stored version
    was: a re-reading (by a newer extractor), not an older fetch."""
    return (row["warc_file"] is not None and row["warc_offset"] is not None
            and stored.get("warc_offset") == row["warc_offset"]
            and Path(stored.get("warc_file") or "").name == Path(row["warc_file"]).name)
