"""Gone articles in a distributed crawl, at parity with a single crawl (crawler/archive/gone.py):
workers hand the writer what answered 404/410 (`gone` items) and what answered again
(`answered`); the writer remembers a run's gone ids in `gone_articles` only when some article
page of that cluster run answered, from any worker (`state.GoneHeld`), and publishes the table in
Redis (`{prefix}:gone`) so that workers skip those ids as a single crawl does.

A real redis-server throughout; the writer's rule on the real `ArchiveWriter` and a real SQLite
archive; one module fixture runs two real cluster runs (two workers and the writer each).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.archive import Archive, gone
from devtools.sitegen import synthetic_spec, write_site
from tests.cluster import needs_redis, no_traceback, redis_server
from tests.conftest import project_crawler
from tests.crawling import Mirror, query, running_mirror
from tests.test_distributed import run_cluster

pytestmark = needs_redis

GONE = 80_099_999  # listed in en/news-sitemap.xml, no page
GONE_URL = f"https://www.dw.com/en/removed-story/a-{GONE}"
NEWS = ("-a", "lang=en", "-a", "sources=news", "-s", "AUTOTHROTTLE_ENABLED=False")
AT = "2026-12-06T07:00:00Z"


def found(article_id: int, at: str = AT, status: int = 404) -> gone.Gone:
    return gone.Gone(article_id, f"https://www.dw.com/en/x/a-{article_id}", status, at)


def article(article_id: int) -> dict:
    return {"id": article_id, "url": f"https://www.dw.com/en/x/a-{article_id}", "title": "T",
            "body": "Text.", "language": "en", "published_at": "2026-12-01T10:00:00Z",
            "fetched_at": AT, "agencies": ["dpa"]}


def item(kind: str, data, run: str = "r1") -> str:
    return json.dumps({"kind": kind, "data": data, "run": run, "worker": "w"})


def gone_item(article_id: int, run: str = "r1") -> str:
    return item("gone", asdict(found(article_id)), run)


def worker_row(fetched: int, not_modified: int = 0, run: str = "r1") -> str:
    return item("run", {"started_at": AT, "finished_at": AT, "arguments": "{}", "finish_reason": "finished",
                        "outcome": "ok", "found": fetched + not_modified, "fetched": fetched,
                        "not_modified": not_modified,
                        "stats": json.dumps({"dw/cluster/worker": f"w-{run}-{fetched}-{not_modified}"})}, run)


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
def writer(redis_url, tmp_path):
    """The real archive writer on a fresh archive, its state seeded, driven batch by batch."""
    import redis

    from crawler.distributed import state
    from crawler.distributed.claims import Keys
    from crawler.distributed.writer import ArchiveWriter

    archive = Archive(tmp_path / "dw.db")
    server, keys = redis.Redis.from_url(redis_url), Keys()
    state.seed(server, keys, archive)
    writer = ArchiveWriter(server, keys, archive)
    yield writer
    archive.close()


def remembered(writer) -> dict[int, str]:
    return gone.load(writer.archive.db.conn)


def published(writer) -> dict[int, str]:
    return {int(k): v.decode() for k, v in writer.server.hgetall(writer.keys.gone).items()}


def end_run(writer, run: str = "r1") -> None:
    """The cluster's run hash says `run` finished (as the last idle worker marks it)."""
    writer.server.hset(writer.keys.run, mapping={"id": run, "state": "finished"})
    writer.watch_run()


# -- the writer's rule ---------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    item("article", article(1)),  # a 200 stored
    item("fetched", {"article_id": 1, "not_modified": True, "fetched_at": AT}),  # a 304
    worker_row(fetched=1),  # a 200 that stored nothing (not an article): the worker's row counts it
    worker_row(fetched=0, not_modified=1),
])
@pytest.mark.parametrize("order", ["gone first", "answer first", "same batch"])
def test_a_runs_gone_ids_are_remembered_once_a_page_of_the_run_answered(writer, answer, order):
    batches = {"gone first": [[gone_item(7)], [answer]], "answer first": [[answer], [gone_item(7)]],
               "same batch": [[gone_item(7), answer]]}[order]
    for batch in batches:
        writer.write(batch)
    assert remembered(writer) == {7: AT}
    assert published(writer) == {7: AT}  # what workers read: the archive's table
    assert writer.totals["gone"] == writer.totals["gone_remembered"] == 1
    assert writer.gone.held == {}


def test_gone_ids_of_a_run_in_which_no_page_answered_are_let_go_when_it_ends(writer, caplog):
    # Twelve gone in r1 (a broken route?), and a page of another run that answered: not r1's.
    writer.server.hset(writer.keys.run, mapping={"id": "r1", "state": "active"})
    writer.write([gone_item(100 + n) for n in range(12)] + [item("article", article(1), run="r0")])
    writer.watch_run()
    assert len(writer.gone.held["r1"]) == 12  # still active: a page of it may answer yet
    writer.write([worker_row(fetched=0)])  # a worker's row that fetched nothing
    end_run(writer)
    assert remembered(writer) == published(writer) == {}
    assert writer.gone.held == {} and writer.totals["gone_not_remembered"] == 12
    assert "12 articles of cluster run r1 answered 404/410 and no article page of the run" in caplog.text


@pytest.mark.parametrize("waiting", ["an item in redis", "a worker still closing"])
def test_held_ids_wait_for_what_may_still_come_when_the_run_ends(writer, waiting):
    writer.write([gone_item(7)])
    if waiting == "an item in redis":  # pushed before the run was marked finished
        writer.server.rpush(writer.keys.items, item("article", article(1)))
    else:  # its row, which counted a 200 that was no article, comes after the run is finished
        writer.server.sadd(writer.keys.workers, "w")
        writer.server.set(writer.keys.heartbeat("w"), "r1", px=60_000)
    end_run(writer)
    assert 7 in writer.gone.held["r1"]  # not let go
    if waiting == "a worker still closing":
        writer.server.rpush(writer.keys.items, worker_row(fetched=1))
        writer.server.delete(writer.keys.heartbeat("w"))
    writer.write(writer.take(0.1))
    assert remembered(writer) == {7: AT}


def test_an_id_known_gone_that_answers_again_is_forgotten_and_unpublished(writer):
    from crawler.distributed import state

    gone.record(writer.archive.db.conn, [found(7), found(8)], [])
    state.seed(writer.server, writer.keys, writer.archive)
    assert published(writer) == {7: AT, 8: AT}
    writer.write([item("answered", {"article_id": 7}, run="r2")])  # no other answer needed
    assert remembered(writer) == published(writer) == {8: AT}
    assert writer.totals["answered"] == 1


def test_a_writer_that_stops_lets_its_held_ids_go_and_counts_every_item(writer, redis_url):
    writer.write([gone_item(7), item("gone", {"article_id": "x"}), item("answered", {})])
    writer.stop()
    assert writer.run(wait=0.1) == 0
    assert remembered(writer) == {} and writer.totals["gone_not_remembered"] == 1
    kinds = ("articles", "fetches", "links", "runs", "gone", "answered", "dropped")
    assert writer.totals["items"] == sum(writer.totals[k] for k in kinds) == 3


def test_the_writers_seed_publishes_gone_articles_as_a_worker_reads_them(writer, redis_url):
    from crawler.distributed import state
    from crawler.distributed.redis_archive import RedisArchive

    gone.record(writer.archive.db.conn, [found(7), found(8, "2026-11-01T00:00:00Z", 410)], [])
    writer.server.hset(writer.keys.gone, 9, AT)  # an archive restored from an older copy: not gone
    assert state.publish_gone(writer.server, writer.keys, writer.archive) == 2
    worker = RedisArchive.from_crawler(project_crawler(REDIS_URL=redis_url))
    for article_id in (7, 8, 9, 10):
        assert worker.gone_checked_at(article_id) == remembered(writer).get(article_id)


def test_a_worker_hands_gone_and_answered_ids_to_the_writer(writer, redis_url):
    from crawler.distributed import state
    from crawler.distributed.redis_archive import RedisArchive

    gone.record(writer.archive.db.conn, [found(7)], [])
    state.publish_gone(writer.server, writer.keys, writer.archive)
    worker = RedisArchive.from_crawler(project_crawler(REDIS_URL=redis_url))
    worker.envelope.update(run="r1", worker="w")
    worker.record_gone(found(8))
    worker.record_answered(7)
    worker.record_answered(9)  # never gone: nothing to forget
    pushed = [json.loads(i) for i in writer.server.lrange(writer.keys.items, 0, -1)]
    assert [(i["kind"], i["data"], i["run"]) for i in pushed] == [
        ("gone", {"article_id": 8, "url": found(8).url, "status": 404, "checked_at": AT}, "r1"),
        ("answered", {"article_id": 7}, "r1")]


# Events of a cluster's items: (run, article id gone) or (run, None: a page of it answered).
EVENTS = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.none() | st.integers(1, 6)), max_size=25)


@settings(max_examples=200, deadline=None)
@given(EVENTS, st.data())
def test_held_remembers_exactly_the_gone_ids_of_runs_that_answered_whatever_the_batches(events, data):
    from crawler.distributed.state import GoneHeld

    held, written = GoneHeld(), set()
    cuts = sorted(data.draw(st.sets(st.integers(0, len(events)))))
    for start, end in zip([0, *cuts], [*cuts, len(events)], strict=True):
        batch = events[start:end]
        new = [(run, found(n)) for run, n in batch if n is not None]
        answered = {run for run, n in batch if n is None}
        due = held.due(new, answered)
        held.commit(new, answered, due, [])
        written |= {g.article_id for g in due}
    answering = {run for run, n in events if n is None}
    assert written == {n for run, n in events if n is not None and run in answering}
    assert {run: set(ids) for run, ids in held.held.items()} == {
        run: {n for r, n in events if r == run and n is not None}
        for run in {r for r, n in events if n is not None} - answering}


# -- two real cluster runs -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory):
    """Two cluster runs (two workers each, the writer) of a news sitemap listing one article with no
    page: {name: (worker statuses, writer's, the mirror's requests, gone_articles, worker rows)}."""
    base = tmp_path_factory.mktemp("dgone")
    site, db = base / "site", base / "dw.db"
    write_site(synthetic_spec(24), site)
    sitemap = site / "en" / "news-sitemap.xml"
    entry = (f"<url><loc>{GONE_URL}</loc><news:news><news:publication><news:name>DW</news:name>"
             "<news:language>en</news:language></news:publication><news:publication_date>"
             "2026-01-01T01:00:00Z</news:publication_date><news:title>Gone</news:title></news:news></url>\n")
    sitemap.write_text(sitemap.read_text().replace("</urlset>", entry + "</urlset>"))
    listed = len(re.findall(r"/a-\d+</loc>", sitemap.read_text()))
    done = {"listed": listed, "base": base}
    log = base / "access.log"
    with running_mirror(site, log) as origin, redis_server(base) as url:
        mirror = Mirror(origin, log)
        for name in ("first", "second"):
            mirror.clear()
            before = len(query(db, "SELECT id FROM crawl_runs")) if db.exists() else 0
            codes, written = run_cluster(origin, url, db, base / name, 2, *NEWS)
            rows = [json.loads(s) for (s,) in query(db, "SELECT stats FROM crawl_runs WHERE id > ?", before)]
            remembered_now = dict(query(db, "SELECT id, status FROM gone_articles"))
            done[name] = codes, written, mirror.paths(), remembered_now, rows
    return done


def summed(rows: list[dict], key: str) -> int:
    return sum(row.get(key, 0) for row in rows)


def test_a_cluster_run_remembers_its_gone_article(cluster_runs):
    codes, written, paths, gone_rows, rows = cluster_runs["first"]
    assert (codes, written) == ([0, 0], 0)
    assert Counter(p for p in paths if p.endswith(f"/a-{GONE}")) == {f"/en/removed-story/a-{GONE}": 1}
    assert summed(rows, "dw/gone/http_404") == 1 and summed(rows, "dw/fetched") == cluster_runs["listed"] - 1
    assert gone_rows == {GONE: 404}  # was {}: the cluster remembered nothing
    log = (cluster_runs["base"] / "first" / "writer.log").read_text()
    assert "'gone': 1" in log and "'gone_remembered': 1" in log


def test_the_next_cluster_run_does_not_ask_for_it_again(cluster_runs):
    codes, written, paths, gone_rows, rows = cluster_runs["second"]
    assert (codes, written) == ([0, 0], 0)
    assert not [p for p in paths if "/a-" in p]  # was one request for the gone article, every run
    assert summed(rows, "dw/skipped/gone") == 1 and summed(rows, "dw/gone") == 0
    assert gone_rows == {GONE: 404}
    no_traceback(*cluster_runs["base"].glob("*/*.log"))
