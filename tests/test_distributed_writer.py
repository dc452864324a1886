"""`scrapy archive-writer` stopped by SIGTERM or killed mid-batch loses no item and writes none twice."""

from __future__ import annotations

import json
import signal
import sqlite3

from tests.cluster import finish, needs_redis, redis_server, wait_until, writer
from tests.crawling import article_count

pytestmark = needs_redis

ITEMS = 2000
TTL = ("-s", "DW_HEARTBEAT_TTL=3")  # a killed writer's lock lasts this long


def articles(count: int) -> list[dict]:
    return [{"id": 5_000_000 + n, "url": f"https://www.dw.com/en/story-{n}/a-{5_000_000 + n}",
             "title": f"Story {n}", "body": f"Paragraph {n}.", "language": "en",
             "published_at": "2026-11-20T10:00:00Z", "agencies": ["dpa"]} for n in range(count)]


def test_a_stopped_or_killed_writer_keeps_every_item(tmp_path):
    import redis

    from crawler.distributed.claims import Keys

    db, keys = tmp_path / "dw.db", Keys()
    with redis_server(tmp_path) as url:
        server = redis.Redis.from_url(url)
        server.rpush(keys.items, *[json.dumps({"kind": "article", "data": a}) for a in articles(ITEMS)])
        stopped = writer(url, db, tmp_path / "stopped.log", "-s", "ARCHIVE_BATCH_SIZE=10", *TTL)
        wait_until(lambda: article_count(db) >= 100, what="100 articles written")
        stopped.send_signal(signal.SIGTERM)
        assert finish([stopped]) == [0]
        assert server.llen(keys.writing) == 0  # the batch in hand was finished, not dropped
        left = server.llen(keys.items)
        assert 0 < left and article_count(db) + left == ITEMS
        assert "Stopping after the batch in hand" in (tmp_path / "stopped.log").read_text()
        assert server.hget(keys.state, "ready") is None  # workers wait for the next writer

        killed = writer(url, db, tmp_path / "killed.log", "-s", "ARCHIVE_BATCH_SIZE=10", *TTL)
        done = article_count(db)
        wait_until(lambda: article_count(db) >= done + 100, what="100 more articles written")
        killed.kill()  # mid-batch, most likely: its batch stays in `writing`
        assert finish([killed]) == [-signal.SIGKILL]

        last = writer(url, db, tmp_path / "last.log", "--until-idle", "0.5", *TTL)
        assert finish([last]) == [0]
        assert server.llen(keys.items) == server.llen(keys.writing) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM articles").fetchone() == (ITEMS, ITEMS)
        assert conn.execute("SELECT count(*) FROM revisions").fetchone() == (0,)
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text()


BAD_ITEMS = [
    b"not json",
    json.dumps(["a list"]),
    json.dumps({"kind": "poem", "data": {}}),
    json.dumps({"kind": "article", "data": {"id": 7, "url": "https://www.dw.com/en/x/a-7"}}),  # no title
    json.dumps({"kind": "article", "data": {"id": 8, "url": "https://www.dw.com/en/x/a-8", "title": "T",
                                            "images": ["not a dict"]}}),
    json.dumps({"kind": "fetched", "data": {"article_id": 9, "colour": "blue"}}),
    json.dumps({"kind": "short_link", "data": {"code": "x"}}),
]


def test_the_writer_drops_items_of_the_wrong_shape_and_writes_the_rest(tmp_path):
    import redis

    from crawler.distributed.claims import Keys

    db, keys = tmp_path / "dw.db", Keys()
    good = [json.dumps({"kind": "article", "data": a}) for a in articles(2)]
    with redis_server(tmp_path) as url:
        redis.Redis.from_url(url).rpush(keys.items, good[0], *BAD_ITEMS, good[1])
        assert finish([writer(url, db, tmp_path / "writer.log", "--until-idle", "0.5")]) == [0]
    log = (tmp_path / "writer.log").read_text()
    assert log.count("Dropping an item") == len(BAD_ITEMS) and "Traceback" not in log
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id FROM articles ORDER BY id").fetchall() == [(5_000_000,), (5_000_001,)]
