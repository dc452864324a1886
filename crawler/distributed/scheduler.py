"""scrapy-redis's scheduler, with articles claimed by content id and every popped request tracked.

- An article request (one with a content id) is queued only by the first worker of the run to
  claim its id: a short link, a sitemap entry and a feed item for one article are one request
  in the whole cluster. Article requests are `dont_filter` (the spider dedupes them by id), so
  scrapy-redis's duplicate filter never sees them; the claim does this job.
- Sitemaps, feeds and short links are `dont_filter` too (never filtered by an earlier run's
  seen requests), and claimed the same way, by URL or code (`state.claim_key`); the claims are
  cleared when a run starts, so each run reads every listing again. Any other request goes
  through scrapy-redis's duplicate filter, whose key the run's start clears too.
- A popped request is recorded in the worker's in-flight hash in the same atomic step
  (`claims.Cluster.pop`) and released once Scrapy is done with it (`worker.ClusterWorker`).
"""

from __future__ import annotations

import itertools
import logging

import redis
from scrapy.utils.request import request_from_dict
from scrapy_redis.scheduler import Scheduler

from crawler.distributed import state
from crawler.distributed.worker import ClusterWorker

logger = logging.getLogger(__name__)


class ClusterScheduler(Scheduler):
    """The scheduler of a worker: the queue and duplicate filter in Redis, shared by all workers."""

    unreachable: Exception | None = None

    @classmethod
    def from_crawler(cls, crawler):
        try:
            instance = super().from_crawler(crawler)
        except redis.RedisError as exc:  # scrapy-redis pings Redis here: report it when opening
            instance = cls(server=None)
            instance.stats = crawler.stats
            instance.unreachable = exc
        instance.crawler = crawler
        instance.worker = crawler.get_extension(ClusterWorker)
        instance.tokens = itertools.count()
        return instance

    def open(self, spider):
        """Open the shared queue; the worker joins the run when the spider opens."""
        self.spider = spider
        if self.unreachable is None:  # else the worker's join reports it and closes the spider
            super().open(spider)

    def close(self, reason):
        """Keep the shared queue (SCHEDULER_PERSIST): other workers may still be using it."""

    def enqueue_request(self, request) -> bool:
        key = state.claim_key(request)
        try:
            self.worker.keep_alive()
            if key is not None and not request.meta.get("dw_claimed"):
                if not self.worker.cluster.claim(key):
                    state.count_duplicate(self.stats, request)
                    return False
                request.meta["dw_claimed"] = True  # its retries and redirects keep the claim
            if not request.dont_filter and self.df.request_seen(request):
                self.df.log(request, self.spider)
                return False
            self.queue.push(request)
        except redis.RedisError as exc:
            self.worker.lost_redis(exc)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        if self.worker.cluster.run is None:
            return None
        token = f"{next(self.tokens)}"
        try:
            self.worker.release_finished()
            data = self.worker.cluster.pop(token)
        except redis.RedisError as exc:
            self.worker.lost_redis(exc)
            return None
        if data is None:
            return None
        try:
            # As scrapy-redis's queue decodes it, through its public serializer.
            request = request_from_dict(self.queue.serializer.loads(data), spider=self.spider)
        except Exception as exc:  # a request this spider cannot rebuild: counted, never retried
            logger.error("Dropping a queued request that cannot be decoded: %s", exc)
            self.stats.inc_value("dw/cluster/undecodable_requests")
            self.worker.track(token, None)  # released at the next look: nothing to wait for
            return None
        self.worker.track(token, request)
        content_id = state.article_id(request)
        if content_id is not None and hasattr(self.spider, "scheduled"):
            # Scheduled by another worker: the spider counts as found (`resumed`) only the ids
            # it does not know, and this one the cluster has counted once already.
            self.spider.scheduled.add(content_id)
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        if self.worker.cluster.run is None:
            return False
        try:
            return len(self) > 0
        except redis.RedisError as exc:
            self.worker.lost_redis(exc)
            return False

