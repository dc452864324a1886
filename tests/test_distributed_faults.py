"""Distributed crawls when the writer hangs or Redis dies (#27), with a real redis-server, real
`scrapy crawl dw` workers, the real `scrapy archive-writer` and a real single-process crawl:

- items that waited in Redis while the writer hung are written after a single-process crawl
  stored a newer fetch: they never replace it (an earlier revision each), `last_seen_at` never
  goes back; the worker whose items waited says so in its outcome (not "ok");
- Redis dies mid-run: the run still gets its `crawl_runs` row, from the writer, and the worker's
  row is in its log.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import time

import pytest

from devtools.mirror import index_site
from devtools.sitegen import write_site
from tests import cluster as cl
from tests.cluster import finish, needs_redis, no_traceback, redis_server, wait_until
from tests.crawling import Mirror, article_count, crawl, query, running_mirror
from tests.hostile import articles

pytestmark = needs_redis


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url)


def test_items_a_hung_writer_held_never_replace_a_newer_fetch(tmp_path):
    from crawler.distributed.claims import Keys

    spec = articles(6)
    site, db, keys = tmp_path / "site", tmp_path / "dw.db", Keys()
    write_site({"articles": spec, "others": []}, site)
    with running_mirror(site, tmp_path / "access.log") as origin, redis_server(tmp_path) as url:
        server = redis_client(url)
        # A writer that hangs after publishing the archive's state (SIGSTOP): workers start on
        # it, their items wait in Redis.
        hung = cl.writer(url, db, tmp_path / "hung.log", "-s", "DW_HEARTBEAT_TTL=60")
        wait_until(lambda: server.hget(keys.state, "ready") == b"1", what="the writer's state")
        hung.send_signal(signal.SIGSTOP)
        worker_log = tmp_path / "worker.log"
        assert finish([cl.worker(origin, url, worker_log, "-a", "lang=en",
                                 "-s", "DW_WRITER_WAIT=2")]) == [3]
        last_line = worker_log.read_text().rstrip().splitlines()[-1]
        assert last_line.startswith("dw crawl failed: items not archived yet: "), last_line
        assert "wait in Redis for the archive writer" in last_line
        assert server.llen(keys.items) >= len(spec)
        hung.kill()  # the hung writer is killed; its lock in Redis would expire in 60 s
        hung.wait()
        server.delete(keys.writer)
        old_fetch = max(json.loads(i)["data"]["fetched_at"] for i in server.lrange(keys.items, 0, -1)
                        if json.loads(i)["kind"] == "article")
        time.sleep(1.1)  # fetch times are to the second: the next fetch is a later one

        # Meanwhile DW edits every article, and a single-process crawl stores the new version.
        for article in spec:
            article["title"] = "Edited: " + article["title"]
        write_site({"articles": spec, "others": []}, site)
        alone = crawl(Mirror(origin, tmp_path / "access.log"), db, "-a", "lang=en")
        assert alone.returncode == 0, alone.stderr[-2000:]
        newer = dict(query(db, "SELECT id, fetched_at FROM articles"))
        assert all(stamp > old_fetch for stamp in newer.values())

        # The writer comes back and writes the items that waited.
        assert finish([cl.writer(url, db, tmp_path / "back.log", "--until-idle", "1",
                                 "-s", "DW_HEARTBEAT_TTL=3")]) == [0]
        assert server.llen(keys.items) == server.llen(keys.writing) == 0
    rows = query(db, "SELECT id, title, fetched_at, first_seen_at, last_seen_at FROM articles ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [(a["id"], a["title"]) for a in spec]  # the newer titles
    for article_id, _, fetched_at, first_seen, last_seen in rows:
        assert fetched_at == newer[article_id] and last_seen >= newer[article_id]  # never back
        assert first_seen <= old_fetch < fetched_at
    earlier = query(db, "SELECT article_id, title, fetched_at FROM revisions ORDER BY article_id")
    assert [(r[0], r[1]) for r in earlier] == [(a["id"], a["title"].removeprefix("Edited: ")) for a in spec]
    assert all(r[2] <= old_fetch for r in earlier)
    # Every item the writer applied is counted: the stale articles as earlier revisions.
    done = next(line for line in (tmp_path / "back.log").read_text().splitlines()
                if "Archive writer done: " in line)
    totals = ast.literal_eval(done.split("Archive writer done: ", 1)[1])
    assert totals["articles"] == totals["earlier"] == len(spec), totals
    kinds = ("articles", "fetches", "links", "runs", "gone", "answered", "dropped")
    assert totals["items"] == sum(totals[k] for k in kinds)
    outcomes = [o for (o,) in query(db, "SELECT outcome FROM crawl_runs ORDER BY id")]
    assert outcomes[0] == "ok"  # the single-process crawl; the worker's row came with its items
    assert outcomes[1].startswith("items not archived yet: ")
    no_traceback(worker_log, tmp_path / "back.log")


@pytest.fixture
def slow_site(tmp_path):
    site = tmp_path / "site"
    write_site({"articles": articles(20), "others": []}, site)
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"/" + rel.removesuffix(".html"): "delay=0.3"
                                  for rel in index_site(site).values()}))
    return site, faults


def test_a_run_whose_redis_died_is_recorded(slow_site, tmp_path):
    site, faults = slow_site
    db, logs = tmp_path / "dw.db", tmp_path / "logs"
    logs.mkdir()
    with running_mirror(site, tmp_path / "access.log", faults) as origin, redis_server(tmp_path) as url:
        server = redis_client(url)
        redis_pid = server.info()["process_id"]
        write = cl.writer(url, db, logs / "writer.log", "--until-idle", "5")
        work = cl.worker(origin, url, logs / "worker.log", "-a", "lang=en", "-s", "CONCURRENT_REQUESTS=1")
        wait_until(lambda: article_count(db) >= 3, what="3 articles archived")
        run_id = server.hget("dw:run", "id").decode()
        os.kill(redis_pid, signal.SIGKILL)  # Redis dies mid-run
        codes = finish([work, write])
    assert codes == [3, 3]  # the writer's too, as a crawl that lost its archive (was 1)
    assert (logs / "writer.log").read_text().strip().splitlines()[-1].startswith(
        "dw archive-writer failed: lost Redis: ")
    recorded = query(db, "SELECT finish_reason, outcome, stats FROM crawl_runs")
    assert len(recorded) == 1
    reason, outcome, stats = recorded[0]
    assert reason == "redis_error"
    assert outcome.startswith("the archive writer lost Redis (") and run_id in outcome
    stats = json.loads(stats)
    assert stats["dw/cluster/run"] == run_id and stats["dw/cluster/items_archived"] >= 3
    worker_log = (logs / "worker.log").read_text()
    assert "Could not hand this worker's run to the archive writer" in worker_log
    assert '"finish_reason": "redis_error"' in worker_log  # its row, in its log
    no_traceback(logs / "worker.log", logs / "writer.log")



def test_a_worker_killed_after_fetching_and_before_handing_over_loses_nothing(tmp_path):
    """A killed worker's fetched-but-not-handed-over article: in one process the killed run's
    WARC files give it back (`dw/archive/recovered`); in a cluster the request is still the
    worker's in Redis (released only once Scrapy's item pipelines, the archive's push among
    them, are done with it), so it is re-queued and fetched again by another worker."""
    from crawler import settings as project
    from crawler.distributed.claims import Keys

    spec = articles(6)
    stalled = spec[2]["id"]
    site, db, logs, marker = tmp_path / "site", tmp_path / "dw.db", tmp_path / "logs", tmp_path / "stalled"
    write_site({"articles": spec, "others": []}, site)
    pipelines = {**project.ITEM_PIPELINES, "tests.faulty.StallingPipeline": 200}  # before the archive's
    stall = ("-s", f"ITEM_PIPELINES={json.dumps(pipelines)}", "-s", f"STALL_IDS={stalled}",
             "-s", f"STALL_MARKER={marker}", "-s", "DW_HEARTBEAT_TTL=3")
    logs.mkdir()
    with running_mirror(site, tmp_path / "access.log") as origin, redis_server(tmp_path) as url:
        mirror = Mirror(origin, tmp_path / "access.log")
        write = cl.writer(url, db, logs / "writer.log", "--until-idle", "1", "-s", "DW_HEARTBEAT_TTL=3")
        workers = [cl.worker(origin, url, logs / f"worker{n}.log", "-a", "lang=en", *stall) for n in range(2)]
        try:
            wait_until(lambda: marker.exists() and marker.read_text(), what="a worker to stall")
            killed = next(w for w in workers if w.pid == int(marker.read_text()))
            killed.kill()  # fetched, in no item on Redis
            assert finish([killed]) == [-signal.SIGKILL]
            survivor = next(w for w in workers if w is not killed)
            assert finish([survivor, write]) == [0, 0]
            assert redis_client(url).llen(Keys().items) == 0
        finally:  # never leave a stalled worker behind
            finish([*workers, write], timeout=1)
    assert query(db, "SELECT count(*) FROM articles WHERE id = ?", stalled) == [(1,)]
    assert article_count(db) == len(spec)
    fetched = [p for p in mirror.article_pages() if p.endswith(f"/a-{stalled}")]
    assert len(fetched) == 2  # by the killed worker, then again by the other
    (stats,) = [json.loads(s) for (s,) in query(db, "SELECT stats FROM crawl_runs")]  # the survivor's
    assert stats["dw/cluster/requeued"] >= 1
    no_traceback(logs / "writer.log", *[logs / f"worker{n}.log" for n in range(2)
                                        if workers[n] is not killed])
