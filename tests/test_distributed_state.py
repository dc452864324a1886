"""What a worker asks the archive, answered from the writer's state in Redis, as the archive answers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crawler.archive import Archive
from tests.cluster import needs_redis, redis_server
from tests.conftest import project_crawler

pytestmark = needs_redis

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def stamp(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


# (published, last seen) of one article each: either side of every bound of the revisit rule.
ROWS = [
    (stamp(hours=3), stamp(hours=2)),            # day one, checked 2 h ago: due
    (stamp(hours=3), stamp(minutes=30)),         # day one, checked 30 min ago: not due
    (stamp(hours=23, minutes=59), stamp(hours=1, minutes=1)),  # just inside day one: due
    (stamp(days=3), stamp(hours=2)),             # week one, checked 2 h ago: not due
    (stamp(days=3), stamp(days=1, minutes=1)),   # week one, checked a day ago: due
    (stamp(days=6, hours=23), stamp(days=2)),    # just inside week one: due
    (stamp(days=7, minutes=1), stamp(days=3)),   # past week one: never again
    (stamp(days=2)[:10], stamp(days=2)),         # a bare day as published_at
    (None, stamp(days=2)),                       # no publication date
]


def redis_archive(url: str, prefix: str):
    """A worker's archive extension, as the add-on puts it in a crawl with this REDIS_URL."""
    from crawler.distributed.redis_archive import RedisArchive

    return RedisArchive.from_crawler(project_crawler(REDIS_URL=url, DW_REDIS_PREFIX=prefix))


@pytest.fixture
def archived(tmp_path):
    archive = Archive(tmp_path / "dw.db")
    articles = []
    for n, (published, _) in enumerate(ROWS):
        language = "de" if n % 3 == 0 else "en"
        articles.append({"id": 1000 + n, "url": f"https://www.dw.com/{language}/x/a-{1000 + n}",
                         "title": f"Title {n}", "body": "Text.", "language": language,
                         "published_at": published, "agencies": ["dpa"]})
    archive.write_batch(articles, seen_at=stamp(days=10))
    for n, (_, seen) in enumerate(ROWS):
        archive.db.execute("UPDATE articles SET last_seen_at = ?, etag = ? WHERE id = ?",
                           [seen, f'"e{n}"' if n % 2 else None, 1000 + n])
    yield archive
    archive.close()


@pytest.mark.parametrize("languages", [["en"], ["de"], ["en", "de"], ["es"]])
def test_revisits_from_redis_are_the_archives(archived, tmp_path, languages):
    import redis

    from crawler.distributed import state
    from crawler.distributed.claims import Keys

    with redis_server(tmp_path) as url:
        server, keys = redis.Redis.from_url(url), Keys("t")
        assert state.publish(server, keys, archived, now=NOW) == len(ROWS)
        worker = redis_archive(url, "t")
        expected = archived.due_for_revisit(NOW, languages)
        assert worker.due_for_revisit(NOW, languages) == [tuple(row) for row in expected]
        if languages == ["en", "de"]:
            assert len(expected) == 5  # the rows above marked due, the bare day among them
        for n in range(len(ROWS)):
            assert worker.stored(1000 + n) == archived.stored(1000 + n)
        assert worker.stored(999) is None and archived.stored(999) is None


def test_the_writers_seed_replaces_the_state_with_the_archives(archived, tmp_path):
    import redis

    from crawler.distributed import state
    from crawler.distributed.claims import Keys

    with redis_server(tmp_path) as url:
        server, keys = redis.Redis.from_url(url), Keys("t")
        server.hset(keys.article(424242), mapping={"content_hash": "gone", "last_seen_at": stamp(days=1)})
        server.hset(keys.article(1000), mapping={"content_hash": "stale", "colour": "blue"})
        assert state.seed(server, keys, archived) == len(ROWS)
        worker = redis_archive(url, "t")
        assert worker.stored(424242) is None  # not in the archive (any more)
        assert worker.stored(1000) == archived.stored(1000)
        assert server.hget(keys.article(1000), "colour") is None
        assert server.hget(keys.state, "ready") == b"1" and worker.count() == len(ROWS)
