"""The add-on that makes `scrapy crawl dw -s REDIS_URL=...` one worker of a distributed crawl.

Enabled in `ADDONS` for every crawl; it changes nothing unless `REDIS_URL` is set (any URL the
redis client accepts: `redis://HOST:PORT/DB`, `rediss://...`, `unix:///path/redis.sock?db=N`).
Settings of its own (defaults in crawler/settings.py): `DW_REDIS_PREFIX` (the key prefix of
this archive's cluster in Redis), `DW_HEARTBEAT_SECONDS` (how often a worker renews its
heartbeat), `DW_HEARTBEAT_TTL` (seconds of silence after which a worker is taken for dead and
the requests it held are queued again), `DW_WRITER_WAIT` (seconds a worker waits for the
archive writer's state).
"""

from __future__ import annotations

from scrapy.settings import SETTINGS_PRIORITIES

from crawler.distributed.claims import Keys

# Components swapped out (None) or in when distributed: the archive becomes `RedisArchive` (so
# `crawler.get_extension(ArchiveExtension)` finds it), the summary judges the cluster's run.
# Edited in the dict the settings hold, because the project's own values outrank an add-on's.
EXTENSIONS = {
    "crawler.archive.ArchiveExtension": None,
    "crawler.distributed.redis_archive.RedisArchive": 100,
    "crawler.extensions.CrawlSummary": None,
    "crawler.distributed.worker.ClusterSummary": 500,
    "crawler.distributed.worker.ClusterWorker": 100,
}


class Distributed:
    """Scrapy add-on: scrapy-redis's scheduler and duplicate filter, and the cluster's components."""

    def update_settings(self, settings) -> None:
        if not settings.get("REDIS_URL"):
            return
        keys = Keys(settings.get("DW_REDIS_PREFIX"))
        for name, value in (
            ("SCHEDULER", "crawler.distributed.scheduler.ClusterScheduler"),
            ("DUPEFILTER_CLASS", "scrapy_redis.dupefilter.RFPDupeFilter"),
            ("SCHEDULER_QUEUE_CLASS", "scrapy_redis.queue.PriorityQueue"),
            ("SCHEDULER_QUEUE_KEY", keys.queue),
            ("SCHEDULER_DUPEFILTER_KEY", keys.seen),
            # Without it the first worker to finish deletes the queue all workers share.
            ("SCHEDULER_PERSIST", True),
            # Every admitted article goes to the shared queue at once: entries waiting in a
            # worker's memory (crawler/spiders/listings.py) would die with a killed worker.
            ("DW_REQUESTS_AHEAD", 0),
        ):
            # A default of crawler/settings.py (priority `project`) outranks an add-on's value:
            # the worker's replaces it there; `-s NAME=...` on the command line still wins.
            from_project = settings.getpriority(name) == SETTINGS_PRIORITIES["project"]
            settings.set(name, value, "project" if from_project else "addon")
        extensions = settings["EXTENSIONS"]
        for name, order in EXTENSIONS.items():
            extensions[name] = order
