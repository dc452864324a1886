"""The archive writer of a distributed crawl: workers' items from Redis into the one SQLite file.

    scrapy archive-writer -s REDIS_URL=redis://127.0.0.1:6379/0 -s ARCHIVE_PATH=data/dw.db
                          [--until-idle SECONDS]

At start it takes the archive's run lock (so no single-process crawl writes beside it) and the
cluster's writer lock, and publishes the archive's state to Redis for the workers. Then, batch
after batch, it moves up to `ARCHIVE_BATCH_SIZE` items to `{prefix}:items:writing`, writes them
in one transaction and publishes the new state of the ids written; only then is the batch
dropped from Redis, so a writer killed mid-batch loses nothing (the next one writes it again;
writing an article twice leaves it unchanged). It stops after the batch in hand on SIGTERM or
SIGINT, and with `--until-idle` once no item has come for that long and no worker runs.

Every item carries when its page was fetched (`fetched_at`), and the archive applies its rule
to the writer's batches as to a crawl's: an item written late (a writer that hung or was down
while a single-process crawl stored a newer fetch) never replaces newer content, it becomes an
earlier revision, and `last_seen_at` never goes back. A writer that loses Redis records, for
each cluster run it was writing, a `crawl_runs` row saying so (`finish_reason` `redis_error`):
the run's workers cannot hand over their own rows without Redis.

Articles a run found gone (404/410 of a listed article) are remembered in `gone_articles` as a
single crawl remembers them, by the rule applied to the whole cluster run: only once some
article page of that run answered (`state.GoneHeld`); the table is published in Redis for the
workers (`state.publish_gone`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sqlite3
import sys
import time
import uuid

from crawler import settings as defaults
from crawler.archive import Archive, ArchiveLocked, RunLock, integrity, utc_now
from crawler.distributed import state
from crawler.distributed.claims import Cluster, Keys
from crawler.outcome import EXIT_FAILED, failed

logger = logging.getLogger(__name__)

LINGER = 0.2  # seconds a batch may wait to fill up
_TAKE = """
while redis.call('LLEN', KEYS[2]) < tonumber(ARGV[1]) do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') then break end
end
return redis.call('LRANGE', KEYS[2], 0, -1)
"""


class ArchiveWriter:
    """Write the items of a distributed crawl into the archive, batch by batch."""

    def __init__(self, server, keys: Keys, archive, *, batch_size: int = defaults.ARCHIVE_BATCH_SIZE,
                 ttl: float = defaults.DW_HEARTBEAT_TTL, recent_runs: int = defaults.HEALTH_RECENT_RUNS):
        self.server = server
        self.keys = keys
        self.archive = archive
        self.batch_size = max(1, batch_size)
        self.ttl_ms = int(ttl * 1000)
        self.recent_runs = recent_runs  # whose field coverage workers judge their run against
        self.id = uuid.uuid4().hex[:12]
        self.cluster = Cluster(server, keys, ttl=ttl)
        self.stopping = False
        self.error = ""  # why `run` stopped with EXIT_FAILED
        self.pending_links: list[tuple[str, int]] = []
        # Every item taken is counted by kind (items = articles + fetches + links + runs + gone +
        # answered + dropped), every article by what the archive made of it (a stale one:
        # earlier, older), and every gone id by what became of it: remembered in gone_articles,
        # or let go with its run (no article page of it answered).
        self.totals = dict.fromkeys(("batches", "items", "articles", "fetches", "links", "runs", "gone",
                                     "answered", "dropped", "new", "updated", "unchanged", "earlier",
                                     "older", "refused", "gone_remembered", "gone_not_remembered"), 0)
        # Cluster runs seen (the run hash, items' envelopes): id -> started_at, arguments, state,
        # items written, workers' rows written; what a writer that loses Redis records.
        self.runs: dict[str, dict] = {}
        self.gone = state.GoneHeld()  # the runs' gone ids, held until a page of their run answered
        self._take = server.register_script(_TAKE)

    def stop(self, signum=None, frame=None) -> None:
        """Finish the batch in hand, then stop."""
        if not self.stopping:
            logger.info("Stopping after the batch in hand")
        self.stopping = True

    def claim(self) -> bool:
        """Take the cluster's writer lock; False while another writer keeps its lock alive.

        A writer killed outright leaves its lock until the TTL runs out: wait that long once.
        """
        deadline = time.monotonic() + self.ttl_ms / 1000 + 1
        while not self.server.set(self.keys.writer, self.id, nx=True, px=self.ttl_ms):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def keep_alive(self) -> None:
        if state.text(self.server.get(self.keys.writer)) == self.id:
            self.server.pexpire(self.keys.writer, self.ttl_ms)
        else:  # expired while we were busy: take it again
            self.server.set(self.keys.writer, self.id, px=self.ttl_ms)

    def release(self) -> None:
        if state.text(self.server.get(self.keys.writer)) == self.id:
            self.server.delete(self.keys.writer)

    def take(self, wait: float) -> list[bytes]:
        """The batch to write: one left by a writer that died, else up to `batch_size` new items."""
        if self.server.llen(self.keys.writing):
            return self.server.lrange(self.keys.writing, 0, -1)
        first = self.server.blmove(self.keys.items, self.keys.writing, wait, "LEFT", "RIGHT")
        if first is None:
            return []
        # Let a batch fill for a moment: one transaction for 100 items costs little more than for 1.
        deadline = time.monotonic() + LINGER
        while True:
            batch = self._take(keys=[self.keys.items, self.keys.writing], args=[self.batch_size])
            if len(batch) >= self.batch_size or time.monotonic() >= deadline or self.stopping:
                return batch
            time.sleep(LINGER / 5)

    def watch_run(self) -> None:
        """Note the cluster's current run (its id, start, arguments, state). Raises RedisError."""
        info = {state.text(k): state.text(v) for k, v in self.server.hgetall(self.keys.run).items()}
        if info.get("id"):
            run = self._run(info["id"])
            run.update({k: info[k] for k in ("started_at", "arguments", "state") if k in info})
        if self.gone.held:
            self.let_go_ended(info.get("id"), info.get("state") == "active")

    def let_go_ended(self, current: str | None, active: bool) -> None:
        """Let go the gone ids held for runs that ended with no article page answered, once every
        item in Redis is written: the single crawl's rule for a run in which no page answered
        (the origin may be the wrong site, a route broken). The current run, finished, waits
        until none of its workers lives: a worker hands its `crawl_runs` row over (which may
        count a 200 that was no article) after the run is marked finished. Raises RedisError."""
        ended = [run for run in self.gone.held if run != current or not active]
        if not ended or self.server.llen(self.keys.items) or self.server.llen(self.keys.writing):
            return
        if current in ended and self.cluster.live_workers():
            ended.remove(current)
        for run in ended:
            self._let_go(run, "it ended")

    def _let_go(self, run: str, why: str) -> None:
        count = self.gone.let_go(run)
        self.totals["gone_not_remembered"] += count
        logger.warning("%d articles of cluster run %s answered 404/410 and no article page of the run"
                       " answered otherwise before %s: not remembered as gone, the next run asks for"
                       " them again", count, run or "(none named)", why)

    def _run(self, run_id: str) -> dict:
        return self.runs.setdefault(run_id, {"items": 0, "rows": 0, "state": "active"})

    def _note(self, items: list) -> None:
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("run"), str):
                run = self._run(item["run"])
                run["items"] += 1
                run["rows"] += item.get("kind") == "run"

    def record_lost_runs(self, error: Exception) -> int:
        """Lost Redis: a `crawl_runs` row for each run seen still under way (its workers cannot
        hand over their own rows now). Returns how many were recorded; never raises."""
        recorded = 0
        for run_id, run in self.runs.items():
            if run["state"] != "active" and run["rows"]:
                continue  # finished, its workers' rows written
            row = {"started_at": run.get("started_at") or utc_now(), "finished_at": utc_now(),
                   "arguments": run.get("arguments") or "{}", "finish_reason": "redis_error",
                   "outcome": failed(f"the archive writer lost Redis ({error}) while cluster run"
                                     f" {run_id} was under way; {run['items']} of its items were"
                                     f" archived and {run['rows']} of its workers' rows: the rest"
                                     " are in Redis or lost").text,
                   "stats": json.dumps({"dw/cluster/run": run_id, "dw/cluster/redis_error": str(error),
                                        "dw/cluster/items_archived": run["items"],
                                        "dw/cluster/worker_rows": run["rows"]}, sort_keys=True)}
            try:
                self.archive.record_run(row)
                recorded += 1
            except sqlite3.Error as exc:
                logger.error("Could not record run %s in crawl_runs: %s", run_id, exc)
        return recorded

    def write(self, raw: list[bytes]) -> None:
        """Write one batch and publish the state of what it touched; raises sqlite3.Error."""
        items = []
        for entry in raw:
            try:
                items.append(json.loads(entry))
            except ValueError:
                logger.error("Dropping an item that is not JSON: %r", entry[:200])
                self.totals["dropped"] += 1
        try:
            counts, written, self.pending_links = state.write_items(self.archive, items, self.pending_links,
                                                                    held=self.gone)
        except (AttributeError, KeyError, TypeError, ValueError):
            counts, written = self._write_one_by_one(items)
        state.publish(self.server, self.keys, self.archive, written)
        if self.gone.changed:
            state.publish_gone(self.server, self.keys, self.archive, self.gone.changed)
            self.gone.changed.clear()
        if counts.get("runs"):
            state.publish_coverage(self.server, self.keys, self.archive, self.recent_runs)
        pipe = self.server.pipeline(transaction=True)
        pipe.hincrby(self.keys.state, "articles", counts.get("new", 0))
        pipe.delete(self.keys.writing)
        pipe.execute()
        self._note(items)
        self.totals["batches"] += 1
        self.totals["items"] += len(raw)
        for name in self.totals.keys() - {"batches", "items"}:
            self.totals[name] += counts.get(name, 0)
        logger.debug("Wrote a batch of %d items: %s", len(raw), counts)

    def _write_one_by_one(self, items: list) -> tuple[dict[str, int], set[int]]:
        """A batch with an item of the wrong shape: write the others, drop and log that one."""
        counts: dict[str, int] = {}
        written: set[int] = set()
        for item in items:
            try:
                # Items of a wrong shape were logged when the whole batch was sorted.
                one, ids, self.pending_links = state.write_items(self.archive, [item], self.pending_links,
                                                                 log_drops=False, held=self.gone)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                logger.error("Dropping an item the archive cannot take (%s): %.300r", exc, item)
                one, ids = {"dropped": 1}, set()
            written |= ids
            for name, value in one.items():
                counts[name] = counts.get(name, 0) + value
        return counts, written

    def idle(self) -> bool:
        """No item waiting and no worker alive."""
        return not self.server.llen(self.keys.items) and self.cluster.live_workers() == 0

    def run(self, until_idle: float | None = None, wait: float = 1.0) -> int:
        """Write until stopped; 0 when stopped cleanly, 3 (`EXIT_FAILED`) when the archive could not
        be written (`self.error` says why)."""
        self.server.delete(self.keys.writer_error)
        state.publish_coverage(self.server, self.keys, self.archive, self.recent_runs)
        count = state.seed(self.server, self.keys, self.archive)
        logger.info("Published the state of %d archived articles to Redis; writing items", count)
        idle_since = None
        while not self.stopping:
            self.keep_alive()
            self.watch_run()
            batch = self.take(wait)
            if batch:
                idle_since = None
                try:
                    self.write(batch)
                except sqlite3.Error as exc:
                    logger.error("The archive cannot be written (%s); %d items stay in Redis for the"
                                 " next writer", exc, len(batch))
                    self.server.set(self.keys.writer_error, str(exc))
                    self.error = f"the archive cannot be written ({exc}); {len(batch)} items stay in Redis"
                    return EXIT_FAILED
                continue
            if until_idle is not None and self.idle():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= until_idle:
                    logger.info("Idle for %.1f s with no worker running: stopping", until_idle)
                    break
            else:
                idle_since = None
        for run in list(self.gone.held):
            self._let_go(run, "the writer stopped")
        if self.pending_links:
            logger.warning("%d short links point at articles not in the archive: %s",
                           len(self.pending_links), [code for code, _ in self.pending_links][:20])
        logger.info("Archive writer done: %s", self.totals)
        return 0


def failing(reason: str) -> int:
    """Log why the writer stops or cannot start, and say it in the last line on stderr, as `scrapy
    crawl` does (`dw crawl failed: …`): the exit status 3 (`EXIT_FAILED`), the crawl's for a run
    that could not do its job."""
    logger.error("%s", reason)
    print(f"dw archive-writer failed: {reason}", file=sys.stderr)
    return EXIT_FAILED


def main(settings, until_idle: float | None = None) -> int:
    """`scrapy archive-writer`: the exit status (0 stopped cleanly or idle, 3 could not start or
    stopped because the archive or Redis failed, with the reason in the last line on stderr)."""
    import redis
    from scrapy_redis.connection import get_redis_from_settings

    if not settings.get("REDIS_URL"):
        return failing("archive-writer needs -s REDIS_URL=redis://HOST:PORT/DB (or unix://PATH)")
    keys = Keys(settings.get("DW_REDIS_PREFIX"))
    try:
        server = get_redis_from_settings(settings)
        server.ping()
    except redis.RedisError as exc:
        return failing(f"cannot reach Redis at {settings.get('REDIS_URL')}: {exc}")
    path = settings.get("ARCHIVE_PATH")
    lock = RunLock(path)  # the crawl's run lock: no single-process crawl writes beside the writer
    try:
        lock.acquire()
    except ArchiveLocked:
        return failing(f"a crawl or another writer holds {path}; not starting")
    except OSError as exc:
        return failing(f"cannot open the archive {path}: {exc}")
    try:
        return _write(settings, server, keys, until_idle)
    finally:
        lock.release()  # after the archive's connection is closed (crawler/archive/lock.py)


def _write(settings, server, keys: Keys, until_idle: float | None) -> int:
    import redis

    try:
        # Checked read-only under the run lock before it is opened for writing, as a crawl's is
        # (an `integrity.ArchiveDamaged` says how to recover).
        integrity.refuse(settings.get("ARCHIVE_PATH"))
        archive = Archive.from_settings(settings)
    except (sqlite3.Error, OSError) as exc:
        return failing(f"cannot open the archive {settings.get('ARCHIVE_PATH')}: {exc}")
    try:
        writer = ArchiveWriter(server, keys, archive,
                               batch_size=settings.getint("ARCHIVE_BATCH_SIZE"),
                               ttl=settings.getfloat("DW_HEARTBEAT_TTL"),
                               recent_runs=settings.getint("HEALTH_RECENT_RUNS"))
        if not writer.claim():
            return failing(f"another archive writer is running for this Redis ({keys.writer})")
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, writer.stop)
        try:
            if writer.run(until_idle):
                return failing(writer.error)
            return 0
        except redis.RedisError as exc:
            logger.error("Lost Redis: %s; the batch in hand stays there for the next writer", exc)
            recorded = writer.record_lost_runs(exc)
            if recorded:
                logger.error("Recorded %d cluster run(s) under way as failed in crawl_runs", recorded)
            return failing(f"lost Redis: {exc}")
        finally:
            with contextlib.suppress(redis.RedisError):
                server.hdel(keys.state, "ready")  # the archive is anyone's again: the state may go stale
                writer.release()
    finally:
        archive.close()
