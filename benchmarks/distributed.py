"""`make bench`, distributed part: the crawl on scrapy-redis, its Redis memory, the writer's rate.

    python -m benchmarks.distributed [--articles 1000] [--workers 1,2,4]

- articles/s of 1, 2 and 4 workers plus one writer crawling a generated site on the mirror,
  from the workers' start to the writer's last commit, beside one single process on the same
  site. On a 2-core machine more workers show the cluster's overhead, not a speed-up: the
  workers, the writer, Redis and the mirror share the two cores.
- Redis memory per queued request (a pickled article request, as scrapy-redis stores it), per
  claimed content id, and per archived article's state (the hash workers read).
- The writer's sustained rate: items per second from a full list into the archive, in batches
  of ARCHIVE_BATCH_SIZE (100), state published after each batch.

Prints a table and writes benchmarks/results-distributed.json. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.archive import fresh_articles
from benchmarks.common import ROOT, WORK
from benchmarks.crawl import CRAWL, crawl_once, generated_site
from benchmarks.run import machine
from crawler.archive import Archive
from devtools.mirror import running_mirror
from tests.cluster import finish, redis_server, wait_until, worker, writer


def _client(url: str):
    import redis

    return redis.Redis.from_url(url)


def cluster_once(site: Path, workers: int, tmp: Path) -> dict:
    """Seconds from the workers' start to the writer's exit, and the articles archived."""
    from crawler.distributed.claims import Cluster, Keys

    archive, logs = tmp / "dw.db", tmp / "logs"
    logs.mkdir()
    with running_mirror(site, tmp / "access.log") as origin, redis_server(tmp) as url:
        start = time.perf_counter()
        started = [worker(origin, url, logs / f"worker{n}.log", "-a", "lang=all", *CRAWL)
                   for n in range(workers)]
        view = Cluster(_client(url), Keys())
        wait_until(lambda: view.live_workers() == workers, timeout=120, what="workers")
        write = writer(url, archive, logs / "writer.log", "--until-idle", "0.5")
        codes = finish([*started, write], timeout=900)
        seconds = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"a worker or the writer failed ({codes}); logs in {logs}")
    db = Archive(archive)
    count = db.count()
    db.close()
    return {"seconds": round(seconds, 2), "articles": count, "per_second": round(count / seconds, 1)}


def bench_crawl(count: int, counts: list[int]) -> dict:
    site = generated_site(count)
    results = {}
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        seconds = crawl_once(site, Path(tmp) / "alone.db", Path(tmp) / "alone.log").seconds
        results["one process"] = {"seconds": round(seconds, 2), "articles": count,
                                  "per_second": round(count / seconds, 1)}
    for n in counts:
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            results[f"{n} workers + writer"] = cluster_once(site, n, Path(tmp))
    return results


def _used(server) -> int:
    return int(server.info("memory")["used_memory"])


def bench_memory(count: int = 20000) -> dict:
    """Bytes of Redis memory per queued request, per claimed id, per archived article's state."""
    import scrapy
    from scrapy_redis import picklecompat

    from crawler.distributed import state
    from crawler.distributed.claims import Keys
    from crawler.spiders.dw import DwSpider

    spider, keys = DwSpider(), Keys()
    articles = fresh_articles(0, count)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp, redis_server(Path(tmp)) as url:
        server = _client(url)
        before = _used(server)
        pipe = server.pipeline(transaction=False)
        for article in articles:  # as the spider makes an article request, claimed
            request = scrapy.Request(
                article["url"].replace("https://www.dw.com", "http://127.0.0.1:8765"),
                callback=spider.parse_article, errback=spider.on_error,
                cb_kwargs={"content_id": article["id"]},
                meta={"source": "articles", "dw_claimed": True}, dont_filter=True)
            pipe.zadd(keys.queue, {picklecompat.dumps(request.to_dict(spider=spider)): 0})
        pipe.execute()
        queued = _used(server)
        server.sadd(keys.claims, *[a["id"] for a in articles])
        claimed = _used(server)
        archive = Archive(Path(tmp) / "dw.db")
        archive.write_batch(articles)
        published = state.publish(server, keys, archive)
        archived = _used(server)
        archive.close()
    return {"per_queued_request": round((queued - before) / count),
            "per_claimed_id": round((claimed - queued) / count),
            "per_archived_article_state": round((archived - claimed) / published),
            "items": count}


def bench_writer(count: int = 5000, batch: int = 100) -> dict:
    """Items per second the writer sustains from a full list, state published per batch."""
    from crawler.distributed.claims import Keys
    from crawler.distributed.writer import ArchiveWriter

    rates = []
    for attempt in range(3):
        articles = fresh_articles(attempt * count, count)
        with tempfile.TemporaryDirectory(dir=WORK) as tmp, redis_server(Path(tmp)) as url:
            server, keys = _client(url), Keys()
            server.rpush(keys.items, *[json.dumps({"kind": "article", "data": a}) for a in articles])
            archive = Archive(Path(tmp) / "dw.db")
            writer_ = ArchiveWriter(server, keys, archive, batch_size=batch)
            start = time.perf_counter()
            while batch_ := writer_.take(0.1):
                writer_.write(batch_)
            rates.append(count / (time.perf_counter() - start))
            assert archive.count() == count
            archive.close()
    return {"items_per_second": round(statistics.median(rates)), "batch_size": batch, "items": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is not installed (make redis): distributed benchmarks skipped")
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(),
               "crawl": bench_crawl(args.articles, [int(n) for n in args.workers.split(",")]),
               "redis_memory_bytes": bench_memory(), "writer": bench_writer()}
    print(f"\nDistributed crawl of {args.articles} generated articles (wall seconds, articles/s):")
    for name, row in results["crawl"].items():
        print(f"  {name:<22} {row['seconds']:>7.2f} s  {row['per_second']:>7.1f}/s"
              f"  ({row['articles']} archived)")
    memory = results["redis_memory_bytes"]
    print(f"Redis memory: {memory['per_queued_request']} B per queued request, {memory['per_claimed_id']} B"
          f" per claimed id, {memory['per_archived_article_state']} B per archived article's state")
    print(f"Writer: {results['writer']['items_per_second']} items/s sustained"
          f" (batches of {results['writer']['batch_size']})")
    (ROOT / "benchmarks" / "results-distributed.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
