"""The archive as a worker sees it: `RedisArchive`, the `ArchiveExtension` of a worker.

The add-on puts it in `EXTENSIONS` in place of `ArchiveExtension`, so the spider, the archive
pipeline and the summary reach it with `crawler.get_extension(ArchiveExtension)` as in one
process. A worker never opens the SQLite file: what the spider asks the archive (is this id
archived, since when, with which validators; which articles are due for a revisit; how many
are there) is answered from the state the writer publishes in Redis (crawler/distributed/state.py),
and what the crawl hands the archive (articles with their validators, 304s, short links, the
run's `crawl_runs` row) goes at once, as JSON items, onto the list the writer takes its batches
from: an item buffered in a worker would die with it after its request was released.

An item on `{prefix}:items` is `{"kind": KIND, "data": ..., "run": RUN, "worker": WORKER}`,
KIND one of `article` (an `as_record` dict), `fetched` (a `Fetched` as a dict), `short_link`
(`{"code", "article_id"}`), `run` (a `crawl_runs` row), `gone` (a `gone.Gone` as a dict: a listed
article that answered 404/410) or `answered` (`{"article_id"}`: one the archive held as gone
answered again). Gone articles are the writer's to remember, by the rule of the whole cluster
run (crawler/distributed/state.py, `GoneHeld`); a worker reads the ones the archive holds from
the writer's hash `{prefix}:gone`, once, when it first needs them (as a single crawl reads
`gone_articles`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime

import redis
from scrapy.exceptions import CloseSpider
from scrapy_redis.connection import get_redis_from_settings

from crawler.archive import ArchiveExtension, ArchiveUnavailable, Stored, gone, revisits
from crawler.distributed import state
from crawler.distributed.claims import Keys

logger = logging.getLogger(__name__)


class RedisArchive(ArchiveExtension):
    """A worker's archive: reads from the writer's state in Redis, writes pushed to the writer."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.server = get_redis_from_settings(crawler.settings)  # connects on first use
        self.keys = Keys(crawler.settings.get("DW_REDIS_PREFIX"))
        self.envelope: dict[str, str] = {}  # the run and worker ids, set when the worker joins

    @property
    def archive(self) -> RedisArchive:
        """No SQLite file in a worker, nor its run lock: the archive is the writer's, reached
        through Redis, and the run's lock is in Redis (crawler/distributed/claims.py)."""
        return self

    def start_run(self, arguments: dict) -> None:
        """No `crawl_runs` row at start: a worker's row goes to the writer when it ends
        (`record_run`), and the writer records the cluster's run."""
        return None

    # -- what the spider asks ------------------------------------------------------------

    def stored(self, article_id: int) -> Stored | None:
        """What the archive holds for one id, as the writer last published it, or None."""
        values = [state.text(v) for v in
                  self.server.hmget(self.keys.article(article_id), state.STORED_FIELDS)]
        return Stored(*values) if any(v is not None for v in values) else None

    def gone_checked_at(self, article_id: int) -> str | None:
        """When the archive last found this article gone, as the writer published it (read once,
        on first use: the writer changes it only from this run's items), or None. Redis that
        cannot be read stops the crawl (`fail`, CloseSpider)."""
        if self._gone is None:
            try:
                self._gone = {int(k): state.text(v) for k, v in self.server.hgetall(self.keys.gone).items()}
            except redis.RedisError as exc:
                self.fail(f"cannot read the archive's gone articles in Redis: {exc}", 0)
                raise CloseSpider("archive_error") from None
        return self._gone.get(article_id)

    def record_gone(self, found: gone.Gone) -> None:
        """Hand a gone article to the writer at once: it remembers it when some article page of
        the cluster's run answered (the rule is the run's, not this worker's)."""
        self.hand_over("gone", asdict(found))

    def record_answered(self, article_id: int) -> None:
        """An article the archive held as gone answered: the writer forgets it."""
        if self.gone_checked_at(article_id) is not None:
            self.hand_over("answered", {"article_id": article_id})

    def remember_gone(self) -> None:
        """Nothing here: the writer remembers the run's gone articles (`record_gone`)."""

    def hand_over(self, kind: str, data: dict) -> None:
        """Push one item now; Redis that cannot take it stops the crawl (`fail`)."""
        if self.error:
            return
        try:
            self.push([(kind, data)])
        except redis.RedisError as exc:
            self.fail(f"cannot hand items to the archive writer through Redis: {exc}", 0)

    def due_for_revisit(self, now: datetime, languages: list[str],
                        limit: int = revisits.LIMIT) -> list[tuple]:
        """(id, url) of recent articles to check again (`crawler.archive.revisits`)."""
        rows = []
        for language in languages:
            ids = self.server.zrangebyscore(self.keys.recent(language),
                                            (now - revisits.WINDOW).timestamp(), "+inf")
            pipe = self.server.pipeline(transaction=False)
            for article_id in ids:
                pipe.hmget(self.keys.article(int(article_id)), "published_at", "last_seen_at", "url")
            for article_id, values in zip(ids, pipe.execute(), strict=True):
                rows.append((int(article_id), *[state.text(v) for v in values]))
        return revisits.due(now, rows, limit)

    def count(self, table: str = "articles") -> int:
        """Articles in the archive as the writer last published; raises `ArchiveUnavailable`
        (from the `redis.RedisError`) when Redis cannot be read, after `fail`ing the crawl."""
        try:
            return int(self.server.hget(self.keys.state, table) or 0)
        except redis.RedisError as exc:
            reason = f"cannot read the archive's state in Redis: {exc}"
            self.fail(reason, 0)
            raise ArchiveUnavailable(reason) from exc

    # -- what the crawl hands over: to Redis at once --------------------------------------

    def store_article(self, item) -> None:
        super().store_article(item)  # its validators (`record_fetched`) joined to it there
        self.flush()

    def record_not_modified(self, article_id: int, fetched_at: str | None = None,
                            etag: str | None = None, last_modified: str | None = None) -> None:
        super().record_not_modified(article_id, fetched_at, etag, last_modified)
        self.flush()

    def record_short_link(self, code: str, article_id: int) -> None:
        super().record_short_link(code, article_id)
        self.flush()

    def submit(self) -> None:
        """As `flush`: a worker hands its items over at once (no writer thread here)."""
        self.flush()

    def flush(self) -> None:
        """Push what is buffered to the writer's list in one command; counts are the writer's.

        Short links are not kept waiting here: the writer keeps those whose article is not
        archived yet. If Redis cannot take them, the crawl stops (`fail`, reason `archive_error`).
        """
        if self.error or not (self.articles or self.short_links or self.not_modified):
            return
        items = [("article", record) for record in self.articles]
        items += [("fetched", asdict(fetch)) for fetch in self.not_modified]
        items += [("short_link", {"code": code, "article_id": article_id})
                  for code, article_id in self.short_links]
        lost = len(self.articles)
        self.articles, self.not_modified, self.short_links = [], [], []
        try:
            self.push(items)
        except redis.RedisError as exc:
            self.fail(f"cannot hand items to the archive writer through Redis: {exc}", lost)

    def record_run(self, run: dict) -> None:
        """Hand this worker's `crawl_runs` row to the writer (`archive.record_run` in one process)."""
        try:
            self.push([("run", run)])
        except redis.RedisError as exc:
            # Its counts are not lost with it: the writer records the run as failed, and the row
            # is here, in the worker's log.
            logger.error("Could not hand this worker's run to the archive writer: %s; its crawl_runs"
                         " row: %s", exc, json.dumps({k: v for k, v in run.items() if k != "stats"},
                                                     default=str))

    def push(self, items: list[tuple[str, object]]) -> None:
        """RPUSH `(kind, data)` items as JSON, in order and in one command; raises RedisError."""
        payload = [json.dumps({"kind": kind, "data": data, **self.envelope},
                              ensure_ascii=False, default=str) for kind, data in items]
        self.server.rpush(self.keys.items, *payload)
