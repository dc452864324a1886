"""The archive's state in Redis, and the writer's side of the archive.

Workers read the state through `RedisArchive` (crawler/distributed/redis_archive.py), the
`ArchiveExtension` of a worker. The writer writes the workers' items through the project's
`Archive` (`write_items`), and `publish` mirrors what the archive then holds into Redis: one
hash per article id (`{prefix}:a:{id}`, the fields of `Stored` plus `published_at`,
`language`, `url`) and, for articles published in the last week, a sorted set per language
(`{prefix}:recent:{lang}`, scored by publication time in epoch seconds) from which workers pick
revisits; `publish_coverage` the field coverage of recent runs, for workers to judge health by.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from crawler import health
from crawler.archive import Archive, Fetched, gone, revisits, utc_now
from crawler.distributed.claims import Keys
from crawler.items import missing_required

logger = logging.getLogger(__name__)

STORED_FIELDS = ("content_hash", "last_seen_at", "modified_at", "etag", "last_modified", "body_truncated")
STATE_FIELDS = (*STORED_FIELDS, "published_at", "language", "url")


# -- what the worker's scheduler needs to know about requests and stats ----------------------

def article_id(request) -> int | None:
    """The content id an article request fetches (the spider's `cb_kwargs`), else None."""
    value = request.cb_kwargs.get("content_id")
    return value if isinstance(value, int) else None


def claim_key(request) -> int | str | None:
    """What makes a request one in the whole run, or None (left to scrapy-redis's filter).

    An article's content id; a short link's code; a sitemap's or feed's dw.com URL. The spider
    makes all three `dont_filter` (it dedupes articles by id itself, and listings must never be
    filtered by an earlier run's seen requests), so scrapy-redis's filter never sees them.
    """
    content_id = article_id(request)
    if content_id is not None:
        return content_id
    if isinstance(request.cb_kwargs.get("code"), str):
        return f"short:{request.cb_kwargs['code']}"
    if "depth" in request.cb_kwargs and request.meta.get("dw_url"):
        return f"listing:{request.meta['dw_url']}"
    return None


def count_duplicate(stats, request) -> None:
    """A request another worker already scheduled: uncounted as the spider counted it, so the
    run's totals are one process's."""
    if article_id(request) is not None:
        stats.inc_value("dw/found", -1)
        stats.inc_value("dw/skipped/already_scheduled")
    elif "code" in request.cb_kwargs:
        stats.inc_value("dw/found/short_links", -1)
    elif request.cb_kwargs.get("depth") == 0:
        stats.inc_value("dw/discovery/requested", -1)


def run_arguments(spider) -> str:
    """The spider's arguments as canonical JSON: workers of one run must agree on them."""
    given = {k: v for k, v in (getattr(spider, "arguments", None) or {}).items() if v is not None}
    return json.dumps(given, sort_keys=True)


def text(value):
    """A Redis reply as text (replies are bytes)."""
    return value.decode() if isinstance(value, bytes) else value


# -- the writer's side -------------------------------------------------------------------------

class GoneHeld:
    """The writer's account of gone articles, per cluster run (the `run` of an item's envelope).

    `held`: ids a run found gone while no article page of that run had answered yet; `answered`:
    the runs some article page of which answered; `changed`: ids whose `gone_articles` row was
    written or deleted since the writer last published them (`publish_gone`). Held ids live in
    the writer's memory: a writer that dies mid-run loses them, and the next run asks for those
    ids again, which is what a run that could not remember them costs in a single crawl too.
    """

    def __init__(self) -> None:
        self.held: dict[str, dict[int, gone.Gone]] = {}
        self.answered: set[str] = set()
        self.changed: set[int] = set()

    def due(self, found: list[tuple[str, gone.Gone]], answered: set[str]) -> list[gone.Gone]:
        """What to remember now: the ids of runs with an answer (this batch's or an earlier one's),
        held or new. Changes nothing (`commit` does, once the batch is written)."""
        runs = self.answered | answered
        due = [g for run in runs for g in self.held.get(run, {}).values()]
        return due + [g for run, g in found if run in runs]

    def commit(self, found: list[tuple[str, gone.Gone]], answered: set[str], remembered: list[gone.Gone],
               back: list[int]) -> None:
        """The batch is written: hold what waits for an answer, drop what was remembered."""
        self.answered |= answered
        for run in answered:
            self.held.pop(run, None)
        for run, g in found:
            if run not in self.answered:
                self.held.setdefault(run, {})[g.article_id] = g
        self.changed.update(g.article_id for g in remembered)
        self.changed.update(back)

    def let_go(self, run: str) -> int:
        """The run ended with no article page answered: its held ids are not remembered (the next
        run asks for them again). Returns how many."""
        self.answered.discard(run)
        return len(self.held.pop(run, {}))


def _gone(data) -> gone.Gone:
    """A `gone` item's data as `Gone` (as `RedisArchive.record_gone` pushes it); raises
    TypeError, ValueError on anything else."""
    found = gone.Gone(**data)
    if not (isinstance(found.article_id, int) and isinstance(found.url, str)
            and found.status in gone.GONE_STATUSES and isinstance(found.checked_at, str)):
        raise ValueError(data)
    return found


def _answers(kind: str, data) -> bool:
    """Whether an item shows an article page of its run answering (200 or 304): a stored
    article, a 304, or a worker's `crawl_runs` row that counted a fetch (a 200 that was no
    article, say) or a 304."""
    if kind == "article":
        return True
    if kind == "fetched":
        return bool(data.get("not_modified"))
    if kind == "run":
        return any(isinstance(data.get(n), int) and data[n] > 0 for n in ("fetched", "not_modified"))
    return False


def write_items(archive: Archive, items: list[dict], pending_links: list[tuple[str, int]],
                log_drops: bool = True, held: GoneHeld | None = None,
                ) -> tuple[dict[str, int], set[int], list[tuple[str, int]]]:
    """Write decoded items in one transaction, then record the runs among them.

    Returns (counts of new/updated/unchanged/earlier/older/refused, of the items by kind
    (articles/fetches/links/runs/gone/answered/dropped), of `gone_remembered` (ids written to
    `gone_articles`), ids written, short links still waiting for their article). Gone ids are
    remembered, and ids that answered again forgotten, in the same transaction, by `held`'s
    rule (a new `GoneHeld` when None: the batch alone). An item no worker would send (no id,
    URL or title; unknown kind) is logged and dropped. Raises `sqlite3.Error` with the archive
    as it was.
    """
    held = held if held is not None else GoneHeld()
    articles, fetches, runs = [], [], []
    found: list[tuple[str, gone.Gone]] = []
    back: list[int] = []
    answered: set[str] = set()
    links = list(pending_links)
    dropped = 0
    for item in items:
        kind = item.get("kind") if isinstance(item, dict) else None
        data = item.get("data") if kind else None
        run = str(item.get("run") or "") if kind else ""
        try:
            if kind == "article" and isinstance(data, dict) and not missing_required(data):
                articles.append(data)
            elif kind == "fetched":
                fetches.append(Fetched(**data))
            elif kind == "short_link":
                links.append((str(data["code"]), int(data["article_id"])))
            elif kind == "run" and isinstance(data, dict):
                runs.append(data)
            elif kind == "gone":
                found.append((run, _gone(data)))
            elif kind == "answered":
                back.append(int(data["article_id"]))
            else:
                raise ValueError(kind)
            if _answers(kind, data):
                answered.add(run)
        except (AttributeError, KeyError, TypeError, ValueError):
            dropped += 1
            if log_drops:
                logger.error("Dropping an item the archive cannot take: %.300r", item)
    remember = held.due(found, answered)
    also = (lambda: gone.write(archive.db.conn, remember, back)) if remember or back else None
    counts = archive.write_batch(articles, links, fetches, also=also)
    held.commit(found, answered, remember, back)
    # Every item, by kind: articles are also counted by what the archive made of them (new,
    # updated, unchanged, earlier, older, refused).
    counts.update(dropped=dropped, articles=len(articles), fetches=len(fetches),
                  links=len(links) - len(pending_links), gone=len(found), answered=len(back),
                  gone_remembered=len({g.article_id for g in remember}))
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
    since = revisits.since(now)
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
        server.zremrangebyscore(keys.recent(language), "-inf", f"({(now - revisits.WINDOW).timestamp()}")
    return done


def seed(server, keys: Keys, archive: Archive) -> int:
    """Make the whole state in Redis the archive's; workers wait until it is ready.

    Every article's hash is rewritten in place, chunk by chunk (each atomically), so that a
    worker already running never sees an archived article as missing; then the hashes of ids
    the archive does not hold (an archive restored from an older copy) are removed.
    """
    server.hdel(keys.state, "ready")
    count = publish(server, keys, archive)
    publish_gone(server, keys, archive)
    batch = []
    for key in server.scan_iter(match=f"{keys.prefix}:a:*", count=5000):
        batch.append(key)
        if len(batch) >= 500:
            _drop_unarchived(server, archive, batch)
            batch = []
    _drop_unarchived(server, archive, batch)
    mark_ready(server, keys, archive)
    return count


def publish_gone(server, keys: Keys, archive: Archive, ids: Iterable[int] | None = None) -> int:
    """Mirror `gone_articles` into the hash `{prefix}:gone` (id -> `checked_at`): the whole table
    when `ids` is None (replaced in one transaction), else those ids (deleted where the archive
    no longer holds them as gone). Returns how many ids the hash now has from this call."""
    if ids is None:
        rows = gone.load(archive.db.conn)
        pipe = server.pipeline(transaction=True)
        pipe.delete(keys.gone)
        if rows:
            pipe.hset(keys.gone, mapping=rows)
        pipe.execute()
        return len(rows)
    ids = list(ids)
    rows = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        rows.update(archive.db.execute(f"SELECT id, checked_at FROM {gone.TABLE}"
                                       f" WHERE id IN ({','.join('?' * len(part))})", part).fetchall())
    pipe = server.pipeline(transaction=True)
    if rows:
        pipe.hset(keys.gone, mapping=rows)
    if forgotten := [i for i in ids if i not in rows]:
        pipe.hdel(keys.gone, *forgotten)
    pipe.execute()
    return len(rows)


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
    cutoff = (datetime.now(UTC) - revisits.WINDOW).timestamp()
    for key in server.scan_iter(match=f"{keys.prefix}:recent:*"):
        server.zremrangebyscore(key, "-inf", f"({cutoff}")
    server.hset(keys.state, mapping={"ready": 1, "articles": archive.count(), "published_at": utc_now(),
                                     "archive": str(archive.path)})


def publish_coverage(server, keys: Keys, archive: Archive, runs: int) -> None:
    """The field coverage of the archive's last `runs` runs (`health.recent_coverage`), as JSON
    in the state hash: what a worker judges its run's health against (it has no archive to read)."""
    try:
        history = health.recent_coverage(archive.db, runs)
    except (sqlite3.Error, ValueError) as exc:
        logger.warning("Cannot read earlier runs' coverage: %s", exc)
        history = []
    server.hset(keys.state, "coverage", json.dumps(history))


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
