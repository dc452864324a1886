"""The one adapter between the distributed crawl and the archive (re-point here when the archive moves).

Worker side, `RedisArchive` answers what the spider and the pipelines ask the archive (is this id
archived, since when, with which validators; which articles are due for a revisit; write this
batch; record this run) from Redis, so that a worker never opens the SQLite file: reads come
from the state the writer publishes, writes become JSON items on a Redis list.

Writer side, `write_items` writes such items through the project's `Archive`, and `publish`
mirrors what the archive then holds into Redis: one hash per article id
(`{prefix}:a:{id}`, the fields of `Stored` plus `published_at`, `language`, `url`) and, for
articles published in the last week, a sorted set per language (`{prefix}:recent:{lang}`,
scored by publication time in epoch seconds) from which workers pick revisits.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from crawler.archive import Archive, Stored, utc_now
from crawler.distributed.claims import Keys
from crawler.items import Fetched

logger = logging.getLogger(__name__)

STORED_FIELDS = ("content_hash", "last_seen_at", "modified_at", "etag", "last_modified")
STATE_FIELDS = (*STORED_FIELDS, "published_at", "language", "url")
REVISIT_WINDOW = timedelta(days=7)  # Archive.due_for_revisit looks no further back
STAMP = "%Y-%m-%dT%H:%M:%SZ"


# -- what the worker's scheduler needs to know about requests and stats ----------------------

def article_id(request) -> int | None:
    """The content id an article request fetches (the spider's `cb_kwargs`), else None."""
    value = request.cb_kwargs.get("content_id")
    return value if isinstance(value, int) else None


def count_duplicate(stats) -> None:
    """An article another worker already scheduled: counted as the spider counts its own."""
    stats.inc_value("dw/found", -1)
    stats.inc_value("dw/skipped/already_scheduled")


def run_arguments(spider) -> str:
    """The spider's arguments as canonical JSON: workers of one run must agree on them."""
    given = {k: v for k, v in (getattr(spider, "arguments", None) or {}).items() if v is not None}
    return json.dumps(given, sort_keys=True)


# -- the worker's archive ---------------------------------------------------------------------

def _text(value):
    return value.decode() if isinstance(value, bytes) else value


class RedisArchive:
    """The archive as a worker sees it: state read from Redis, writes pushed to the writer."""

    def __init__(self, server, keys: Keys, envelope: dict | None = None):
        self.server = server
        self.keys = keys
        self.envelope = envelope if envelope is not None else {}  # worker and run ids, set on join

    def stored(self, article_id: int) -> Stored | None:
        """What the archive holds for one id (as the writer last published it), or None."""
        values = [_text(v) for v in self.server.hmget(self.keys.article(article_id), STORED_FIELDS)]
        return Stored(*values) if any(v is not None for v in values) else None

    def due_for_revisit(self, now: datetime, languages: list[str], limit: int = 5000) -> list[tuple]:
        """(id, url) of recent articles to check again: the rule of `Archive.due_for_revisit`."""
        since = (now - REVISIT_WINDOW).timestamp()
        rows = []
        for language in languages:
            ids = self.server.zrangebyscore(self.keys.recent(language), since, "+inf")
            pipe = self.server.pipeline(transaction=False)
            for article_id in ids:
                pipe.hmget(self.keys.article(int(article_id)), "published_at", "last_seen_at", "url")
            for article_id, values in zip(ids, pipe.execute(), strict=True):
                rows.append((int(article_id), *[_text(v) for v in values]))
        return due(now, rows, limit)

    def count(self, table: str = "articles") -> int:
        """Articles in the archive when the writer last published its state."""
        return int(self.server.hget(self.keys.state, table) or 0)

    def has_short_link(self, code: str) -> bool:
        """True: a short link pushed to the writer is the writer's to resolve."""
        return True

    def write_batch(self, articles: Iterable[dict], short_links: Iterable[tuple[str, int]] = (),
                    fetches: Iterable[Fetched] = (), seen_at: str | None = None) -> dict[str, int]:
        """Push the batch to the writer's list; new/updated/unchanged are the writer's to count."""
        items = [("article", a) for a in articles]
        items += [("short_link", {"code": c, "article_id": i}) for c, i in short_links]
        items += [("fetched", asdict(f)) for f in fetches]
        self._push(items, seen_at)
        return {"new": 0, "updated": 0, "unchanged": 0, "short_links": 0}

    def record_run(self, run: dict) -> None:
        """Hand this worker's `crawl_runs` row to the writer."""
        self._push([("run", run)], None)

    def _push(self, items: list[tuple[str, dict]], seen_at: str | None) -> None:
        if not items:
            return
        import redis

        payload = [json.dumps({"kind": kind, "data": data, "seen_at": seen_at, **self.envelope},
                              ensure_ascii=False, default=str) for kind, data in items]
        try:
            self.server.rpush(self.keys.items, *payload)
        except redis.RedisError as exc:
            # The archive pipeline stops the crawl on an archive error; Redis is this worker's archive.
            raise sqlite3.OperationalError(f"cannot hand items to Redis: {exc}") from exc

    def check(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing to close: the Redis connection is the worker's."""


def due(now: datetime, rows: Iterable[tuple], limit: int) -> list[tuple[int, str]]:
    """(id, url) of `rows` (id, published_at, last_seen_at, url) due again, newest first.

    The same rule as `Archive.due_for_revisit`'s SQL: hourly on the day of publication, daily
    in the week after (tests/test_distributed_state.py holds the two to the same answers).
    """
    def ago(delta: timedelta) -> str:
        return (now - delta).strftime(STAMP)

    week, day, hour = ago(REVISIT_WINDOW), ago(timedelta(days=1)), ago(timedelta(hours=1))
    picked = [(published, article_id, url) for article_id, published, last_seen, url in rows
              if published and last_seen and published >= week
              and ((published >= day and last_seen < hour) or (published < day and last_seen < day))]
    picked.sort(reverse=True)
    return [(article_id, url) for _, article_id, url in picked[:limit]]


# -- the writer's side -------------------------------------------------------------------------

def open_archive(settings) -> Archive:
    """The SQLite archive at `ARCHIVE_PATH`, as a single-process crawl opens it."""
    return Archive(settings.get("ARCHIVE_PATH", "data/dw.db"),
                   max_pages=settings.getint("ARCHIVE_MAX_PAGES", 0))


def lock_path(settings) -> str:
    """The run lock file a single-process crawl takes beside the archive."""
    return settings.get("ARCHIVE_PATH", "data/dw.db") + ".lock"


def write_items(archive: Archive, items: list[dict], pending_links: list[tuple[str, int]],
                log_drops: bool = True) -> tuple[dict[str, int], set[int], list[tuple[str, int]]]:
    """Write decoded items in one transaction, then record the runs among them.

    Returns (counts of new/updated/unchanged/runs/dropped, ids written, short links still
    waiting for their article). An item no worker would send (no id, URL or title; unknown
    kind) is logged and dropped. Raises `sqlite3.Error` with the archive as it was.
    """
    articles, fetches, runs = [], [], []
    links = list(pending_links)
    dropped = 0
    for item in items:
        kind = item.get("kind") if isinstance(item, dict) else None
        data = item.get("data") if kind else None
        try:
            if kind == "article" and isinstance(data["id"], int) and data["url"] and data["title"]:
                articles.append(data)
            elif kind == "fetched":
                fetches.append(Fetched(**data))
            elif kind == "short_link":
                links.append((str(data["code"]), int(data["article_id"])))
            elif kind == "run" and isinstance(data, dict):
                runs.append(data)
            else:
                raise ValueError(kind)
        except (AttributeError, KeyError, TypeError, ValueError):
            dropped += 1
            if log_drops:
                logger.error("Dropping an item the archive cannot take: %.300r", item)
    counts = archive.write_batch(articles, links, fetches)
    counts["dropped"] = dropped
    written = {a["id"] for a in articles} | {f.article_id for f in fetches}
    waiting = [link for link in links if not archive.has_short_link(link[0])]
    counts["runs"] = 0
    for run in runs:
        if not _run_recorded(archive, run):
            archive.record_run(run)
            counts["runs"] += 1
    return counts, written, waiting


def _run_recorded(archive: Archive, run: dict) -> bool:
    """True when this worker's row is already in `crawl_runs` (a batch written twice)."""
    worker = json.loads(run.get("stats") or "{}").get("dw/cluster/worker")
    if not worker:
        return False
    return archive.db.execute(
        "SELECT 1 FROM crawl_runs WHERE started_at = ?"
        " AND json_extract(stats, '$.\"dw/cluster/worker\"') = ?",
        [run.get("started_at"), worker]).fetchone() is not None


def publish(server, keys: Keys, archive: Archive, ids: Iterable[int] | None = None,
            now: datetime | None = None, chunk: int = 2000) -> int:
    """Mirror the archive's state of `ids` (all articles when None) into Redis; returns how many."""
    now = now or datetime.now(UTC)
    since = (now - REVISIT_WINDOW).strftime(STAMP)
    cursor = _rows(archive, ids)
    done, languages = 0, set()
    while rows := _take(cursor, chunk):
        pipe = server.pipeline(transaction=True)  # a reader never sees a hash half rewritten
        for article_id, *values in rows:
            fields = {name: value for name, value in zip(STATE_FIELDS, values, strict=True)
                      if value is not None}
            key = keys.article(article_id)
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            published, language = fields.get("published_at"), fields.get("language")
            if published and language and published >= since:
                try:
                    when = datetime.fromisoformat(published.replace("Z", "+00:00"))
                except ValueError:
                    continue  # not a date: the archive's rule compares it as text; so does `due`
                stamp = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
                pipe.zadd(keys.recent(language), {article_id: stamp})
                languages.add(language)
        pipe.execute()
        done += len(rows)
    for language in languages:  # what left the revisit window since
        server.zremrangebyscore(keys.recent(language), "-inf", f"({(now - REVISIT_WINDOW).timestamp()}")
    return done


def seed(server, keys: Keys, archive: Archive) -> int:
    """Make the whole state in Redis the archive's; workers wait until it is ready.

    Every article's hash is rewritten in place, chunk by chunk (each atomically), so that a
    worker already running never sees an archived article as missing; then the hashes of ids
    the archive does not hold (an archive restored from an older copy) are removed.
    """
    server.hdel(keys.state, "ready")
    count = publish(server, keys, archive)
    batch = []
    for key in server.scan_iter(match=f"{keys.prefix}:a:*", count=5000):
        batch.append(key)
        if len(batch) >= 500:
            _drop_unarchived(server, archive, batch)
            batch = []
    _drop_unarchived(server, archive, batch)
    mark_ready(server, keys, archive)
    return count


def _drop_unarchived(server, archive: Archive, keys: list[bytes]) -> None:
    ids = {int(key.rsplit(b":", 1)[1]): key for key in keys}
    if not ids:
        return
    held = {row[0] for row in archive.db.execute(
        f"SELECT id FROM articles WHERE id IN ({','.join('?' * len(ids))})", list(ids))}
    stale = [key for article_id, key in ids.items() if article_id not in held]
    if stale:
        server.unlink(*stale)


def mark_ready(server, keys: Keys, archive: Archive) -> None:
    """Record the archive's size and that the state in Redis is complete; trim old revisit entries."""
    cutoff = (datetime.now(UTC) - REVISIT_WINDOW).timestamp()
    for key in server.scan_iter(match=f"{keys.prefix}:recent:*"):
        server.zremrangebyscore(key, "-inf", f"({cutoff}")
    server.hset(keys.state, mapping={"ready": 1, "articles": archive.count(), "published_at": utc_now(),
                                     "archive": str(archive.path)})


def _take(cursor, n: int) -> list:
    rows = []
    for row in cursor:
        rows.append(row)
        if len(rows) >= n:
            break
    return rows


def _rows(archive: Archive, ids: Iterable[int] | None):
    columns = ", ".join(("id", *STATE_FIELDS))
    if ids is None:
        yield from archive.db.execute(f"SELECT {columns} FROM articles")
        return
    ids = list(ids)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        yield from archive.db.execute(
            f"SELECT {columns} FROM articles WHERE id IN ({','.join('?' * len(part))})", part).fetchall()
