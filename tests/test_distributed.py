"""The crawl on scrapy-redis: a real redis-server, real `scrapy crawl dw` workers, the real writer."""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.demo import SAMPLE_LANGUAGES
from devtools.mirror import index_site
from devtools.sitegen import synthetic_spec, write_site
from tests import cluster as cl
from tests import forkserver
from tests.cluster import finish, needs_redis, no_traceback, redis_server, untouched, wait_until
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, query, running_mirror

pytestmark = needs_redis

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
ARTICLES = {a["id"] for a in SPEC["articles"]}
# Everything archived about an article but when it was seen.
CONTENT = {
    "articles": "SELECT id, url, short_url, language, kind, title, teaser, body, subheads, published_at,"
                " modified_at, authors, topics, credit_line, agencies, images, content_hash, etag,"
                " last_modified FROM articles ORDER BY id",
    "images": "SELECT * FROM images ORDER BY article_id, position",
    "article_agencies": "SELECT * FROM article_agencies ORDER BY 1, 2, 3",
    "article_authors": "SELECT * FROM article_authors ORDER BY 1, 2",
    "short_links": "SELECT * FROM short_links ORDER BY 1",
    "revisions": "SELECT count(*) FROM revisions",
}


def stamp(**ago) -> str:
    return (datetime.now(UTC) - timedelta(**ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cluster(redis_url: str):
    import redis

    from crawler.distributed.claims import Cluster, Keys

    return Cluster(redis.Redis.from_url(redis_url), Keys(), ttl=300)


def run_cluster(origin: str, redis_url: str, archive: Path, logs: Path, workers: int, *args: str,
                kill_after=None) -> tuple[list[int], int]:
    """Start `workers` workers, then the writer once all have joined; their exit statuses."""
    logs.mkdir()
    started = [cl.worker(origin, redis_url, logs / f"worker{n}.log", *args) for n in range(workers)]
    view = cluster(redis_url)
    wait_until(lambda: view.live_workers() == workers, what=f"{workers} workers to join")
    write = cl.writer(redis_url, archive, logs / "writer.log", "--until-idle", "1")
    if kill_after:
        kill_after(started)
    codes = finish(started)
    return codes, finish([write])[0]


def content(archive: Path) -> dict[str, list]:
    return {table: query(archive, sql) for table, sql in CONTENT.items()}


def discovery(paths: list[str]) -> list[str]:
    return [p for p in paths if "/a-" not in p and not p.startswith("/p/") and p != "/robots.txt"]


def test_three_workers_archive_what_one_process_does_and_an_unchanged_site_costs_nothing(mirror, tmp_path):
    reference = tmp_path / "reference.db"
    assert crawl(mirror, reference, "-a", f"lang={SAMPLE_LANGUAGES}").returncode == 0
    alone = mirror.paths()
    mirror.clear()
    db = tmp_path / "cluster.db"
    with redis_server(tmp_path) as url:
        codes, written = run_cluster(mirror.origin, url, db, tmp_path / "first", 3,
                                     "-a", f"lang={SAMPLE_LANGUAGES}")
        assert (codes, written) == ([0, 0, 0], 0)
        pages = Counter(mirror.article_pages())
        assert set(pages.values()) == {1}, "an article page fetched twice"
        assert pages.keys() == Counter(p for p in alone if "/a-" in p).keys()
        assert sorted(discovery(mirror.paths())) == sorted(discovery(alone))  # each sitemap once
        assert content(db) == content(reference)
        runs = query(db, "SELECT outcome, found, fetched, skipped FROM crawl_runs")
        assert [run[0] for run in runs] == ["ok"] * 3
        # Counted once in the cluster as in one process: what each found, fetched and skipped.
        counted_alone = query(reference, "SELECT found, fetched, skipped FROM crawl_runs")[0]
        assert counted_alone[:2] == (len(ARTICLES), len(ARTICLES))
        assert tuple(sum(run[i] for run in runs) for i in (1, 2, 3)) == counted_alone
        # Each worker was judged on the run's counts, what the others fetched included.
        for (stats,) in query(db, "SELECT stats FROM crawl_runs"):
            judged = json.loads(stats)["dw/cluster/counts"]
            assert (judged["found"], judged["fetched"], judged["skipped"]) == counted_alone

        mirror.clear()
        codes, written = run_cluster(mirror.origin, url, db, tmp_path / "second", 3,
                                     "-a", f"lang={SAMPLE_LANGUAGES}")
        assert (codes, written) == ([0, 0, 0], 0)
        assert mirror.article_pages() == []
        assert discovery(mirror.paths())  # the sitemaps were read again, not filtered as seen
        assert query(db, "SELECT outcome, fetched FROM crawl_runs WHERE id > 3") == [("ok", 0)] * 3

        # A revisit due (published 3 h ago, checked 2 h ago) is picked from the writer's state
        # and asked for conditionally; its 304 reaches the archive through Redis.
        due, checked = stamp(hours=3), stamp(hours=2)
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE articles SET published_at = ?, last_seen_at = ? WHERE id = 79010001",
                         [due, checked])
        mirror.clear()
        codes, written = run_cluster(mirror.origin, url, db, tmp_path / "third", 2,
                                     "-a", f"lang={SAMPLE_LANGUAGES}")
        assert (codes, written) == ([0, 0], 0)
        assert [(p, s) for p, s in mirror.requests() if "/a-" in p] == [
            ("/en/eu-leaders-agree-on-new-climate-target/a-79010001", 304)]
        assert sum(n for (n,) in query(db, "SELECT not_modified FROM crawl_runs WHERE id > 6")) == 1
        assert query(db, "SELECT last_seen_at > ? FROM articles WHERE id = 79010001", checked) == [(1,)]
        assert query(db, "SELECT count(*) FROM revisions") == [(0,)]
    logs = [*(tmp_path / "first").glob("*.log"), *(tmp_path / "second").glob("*.log"),
            *(tmp_path / "third").glob("*.log")]
    no_traceback(*logs)
    assert all(untouched(log) for log in logs if log.name.startswith("worker"))


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory):
    """120 generated articles whose pages answer after 0.2 s: workers always hold requests."""
    site = tmp_path_factory.mktemp("site")
    write_site(synthetic_spec(120), site)
    faults = site.parent / "faults.json"
    faults.write_text(json.dumps({"/" + rel.removesuffix(".html"): "delay=0.2"
                                  for rel in index_site(site).values()}))
    return site, faults


def test_a_worker_killed_mid_run_loses_no_article(slow_site, tmp_path):
    site, faults = slow_site
    log, db = tmp_path / "access.log", tmp_path / "cluster.db"
    total = len(index_site(site))
    killed = {}

    def kill_one(workers):
        wait_until(lambda: len(mirror.article_pages()) >= 30, what="30 article pages fetched")
        workers[1].kill()
        killed["status"] = workers[1].wait()

    with running_mirror(site, log, faults) as origin, redis_server(tmp_path, unix=False) as url:
        mirror = Mirror(origin, log)
        codes, written = run_cluster(origin, url, db, tmp_path / "logs", 3,
                                     "-a", "lang=en,de,es,pt-br,ar", "-s", "CONCURRENT_REQUESTS=4",
                                     "-s", "DW_HEARTBEAT_TTL=3", kill_after=kill_one)
    assert killed["status"] == -9
    assert (codes[0], codes[2], written) == (0, 0, 0)
    assert query(db, "SELECT count(DISTINCT id), count(*) FROM articles") == [(total, total)]
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]
    pages = Counter(mirror.article_pages())
    assert len(pages) == total
    stats = [json.loads(s) for (s,) in query(db, "SELECT stats FROM crawl_runs")]
    assert len(stats) == 2  # the killed worker never recorded its run
    requeued = sum(s.get("dw/cluster/requeued", 0) for s in stats)
    assert requeued >= 1
    again = [page for page, n in pages.items() if n > 1]
    assert max(pages.values()) <= 2 and len(again) <= requeued, again  # only what the killed one held
    no_traceback(*(tmp_path / "logs").glob("*.log"))


def test_a_cluster_run_that_fetches_nothing_fails_on_every_worker(tmp_path):
    site = ROOT / "data" / "sample-site"
    faults = tmp_path / "faults.json"
    # 403, a failure (a listed article answering 404 is gone, not failed: tests/test_gone.py).
    faults.write_text(json.dumps({"/" + rel.removesuffix(".html"): "status=403"
                                  for rel in index_site(site).values()}))
    db = tmp_path / "cluster.db"
    with running_mirror(site, tmp_path / "access.log", faults) as origin, redis_server(tmp_path) as url:
        codes, written = run_cluster(origin, url, db, tmp_path / "logs", 2, "-a", "lang=en")
    assert (codes, written) == ([3, 3], 0)
    outcomes = [o for (o,) in query(db, "SELECT outcome FROM crawl_runs")]
    assert len(outcomes) == 2 and all(o.endswith("articles to fetch and none fetched") for o in outcomes)


def test_a_crawl_with_other_arguments_does_not_join_a_running_one(mirror, tmp_path):
    with redis_server(tmp_path) as url:
        running = cluster(url)
        assert running.join(json.dumps({"lang": "de"}), "2026-01-01T00:00:00Z")[0] == "started"
        log = tmp_path / "worker.log"
        assert finish([cl.worker(mirror.origin, url, log, "-a", "lang=en")]) == [3]
    text = log.read_text()
    assert "Another crawl" in text and "archive_locked" in text and "Traceback" not in text
    assert mirror.article_pages() == []


@pytest.mark.parametrize("case", ["no_redis_url", "archive_locked"])
def test_the_writer_refuses_to_start_and_says_why(case, tmp_path):
    db = tmp_path / "dw.db"
    with redis_server(tmp_path) as url, contextlib.ExitStack() as held:
        settings = ["-s", f"REDIS_URL={url}"] if case == "archive_locked" else []
        if case == "archive_locked":  # as a single-process crawl of this archive holds it
            db.touch()
            fcntl.flock(held.enter_context(open(db, "rb")), fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = forkserver.run([sys.executable, "-m", "scrapy", "archive-writer", *settings,
                              "-s", f"ARCHIVE_PATH={db}"], cwd=ROOT, timeout=120)
    assert run.returncode == 3  # as a crawl refused by the lock (was 2, Scrapy's usage errors')
    assert run.stderr.strip().splitlines()[-1].startswith("dw archive-writer failed: ")
    assert ("needs -s REDIS_URL" if case == "no_redis_url" else "holds") in run.stderr
    assert "Traceback" not in run.stderr
    # Nothing created or written: the archive as the crawl holding it left it.
    assert sorted(p.name for p in tmp_path.glob("dw.db*")) == (["dw.db"] if case == "archive_locked" else [])
    assert not db.exists() or db.read_bytes() == b""


def test_a_cluster_run_over_pages_that_lost_their_bylines_ends_degraded_on_every_worker(tmp_path):
    spec = json.loads(json.dumps(SPEC))
    site, db, log = tmp_path / "site", tmp_path / "dw.db", tmp_path / "access.log"
    langs = ("-a", f"lang={SAMPLE_LANGUAGES}")
    write_site(spec, site)
    with running_mirror(site, log) as origin:
        assert crawl(Mirror(origin, log), db, *langs).returncode == 0  # the history: bylines read
    for article in spec["articles"]:
        article["authors"] = []  # a new layout the extractor cannot read bylines from
    write_site(spec, site)
    with running_mirror(site, log) as origin, redis_server(tmp_path) as url:
        codes, written = run_cluster(origin, url, db, tmp_path / "logs", 2, *langs, "-a", "refresh=all")
    assert (codes, written) == ([3, 3], 0)
    outcomes = [o for (o,) in query(db, "SELECT outcome FROM crawl_runs WHERE id > 1")]
    # Judged on the run's coverage, summed over both workers: every article of the site.
    assert len(outcomes) == 2
    assert all(o.startswith(f"degraded: authors on 0% of {len(ARTICLES)} articles") for o in outcomes)
