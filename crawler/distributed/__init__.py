"""The crawl on scrapy-redis: many workers (`scrapy crawl dw -s REDIS_URL=...`), one archive writer.

    addon.py      turns a worker on when `REDIS_URL` is set (scheduler, dupefilter, components)
    claims.py     the cluster's protocol in Redis: keys, the run lock, in-flight requests, heartbeats
    scheduler.py  scrapy-redis's scheduler, claiming articles by content id and tracking what it pops
    worker.py     the worker's heartbeat, when it may stop, and its outcome judged for the cluster
    redis_archive.py  a worker's `ArchiveExtension`: the archive's state read from Redis, items pushed
    state.py      the archive's state in Redis (published by the writer), and the writer's batches
    writer.py     `scrapy archive-writer`: items from Redis into the one SQLite archive

Nothing here is imported unless `REDIS_URL` is set: scrapy-redis and redis are an optional extra.
"""
