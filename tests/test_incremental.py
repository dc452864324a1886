"""Scheduled crawls: revisits driven by the archive, conditional requests, every revision kept."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import yaml
from datasette.app import Datasette

from devtools.sitegen import write_site
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, last_run, query, running_mirror
from tests.datasette_archive import close_datasette

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def execute(db, sql: str, *params) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql, params)


def test_recent_articles_are_revisited_with_conditional_requests(mirror, tmp_path):
    db = tmp_path / "dw.db"
    assert crawl(mirror, db, "-a", "lang=en").returncode == 0
    assert query(db, "SELECT count(*) FROM articles WHERE etag IS NULL") == [(0,)]
    # One article published three hours ago and last checked two hours ago: due (hourly on
    # day one). One published three days ago, checked two hours ago: not due (daily).
    execute(db, "UPDATE articles SET published_at = ?, last_seen_at = ? WHERE id = 79010001",
            stamp(-timedelta(hours=3)), stamp(-timedelta(hours=2)))
    execute(db, "UPDATE articles SET published_at = ?, last_seen_at = ? WHERE id = 79010002",
            stamp(-timedelta(days=3)), stamp(-timedelta(hours=2)))
    mirror.clear()
    run = crawl(mirror, db, "-a", "lang=en")
    assert run.returncode == 0, run.stderr[-2000:]
    assert [(p, s) for p, s in mirror.requests() if "/a-" in p] == [
        ("/en/eu-leaders-agree-on-new-climate-target/a-79010001", 304)]
    assert last_run(db)["not_modified"] == 1
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]
    assert query(db, "SELECT last_seen_at > ? FROM articles WHERE id = 79010001",
                 stamp(-timedelta(minutes=5))) == [(1,)]


def test_sources_can_leave_revisits_out(mirror, tmp_path):
    db = tmp_path / "dw.db"
    crawl(mirror, db, "-a", "lang=en")
    execute(db, "UPDATE articles SET published_at = ?, last_seen_at = ?",
            stamp(-timedelta(hours=3)), stamp(-timedelta(hours=2)))
    mirror.clear()
    assert crawl(mirror, db, "-a", "lang=en", "-a", "sources=news,articles,feeds").returncode == 0
    assert mirror.article_pages() == []


def test_three_edits_make_three_revisions(tmp_path):
    site, db, log = tmp_path / "site", tmp_path / "dw.db", tmp_path / "access.log"
    spec = json.loads(json.dumps(SPEC))
    article = next(a for a in spec["articles"] if a["id"] == 79010006)  # in the article sitemap
    titles = [article["title"]]
    write_site(spec, site)
    with running_mirror(site, log) as origin:
        mirror = Mirror(origin, log)
        assert crawl(mirror, db, "-a", "lang=en").returncode == 0
        edits = [("title", "A new museum for Bauhaus design opens in Dessau at last"),
                 ("teaser", "The building shows objects kept in storage for decades."),
                 ("authors", ["Clara Neumann", "Jan Vogt"])]
        for n, (field, value) in enumerate(edits, start=1):
            article[field] = value
            titles.append(article["title"])
            article["modified_at"] = stamp(timedelta(minutes=n))
            write_site(spec, site)
            mirror.clear()
            assert crawl(mirror, db, "-a", "lang=en").returncode == 0
            assert [int(p.rsplit("-", 1)[1]) for p in mirror.article_pages()] == [79010006]
    revisions = query(db, "SELECT changed, title, teaser, authors FROM revisions"
                          " WHERE article_id = 79010006 ORDER BY id")
    assert [json.loads(r[0]) for r in revisions] == [["title"], ["teaser"], ["authors"]]
    assert [r[1] for r in revisions] == titles[:3]
    assert json.loads(revisions[2][3]) == ["Clara Neumann"]
    assert query(db, "SELECT title, authors FROM articles WHERE id = 79010006") == [
        (titles[-1], json.dumps(["Clara Neumann", "Jan Vogt"]))]

    async def shown():
        ds = Datasette([str(db)], metadata=yaml.safe_load((ROOT / "data/metadata.yml").read_text()))
        try:
            return (await ds.client.get("/dw/article_revisions.json?id=79010006&_shape=array")).json()
        finally:
            close_datasette(ds)

    assert [json.loads(r["changed"]) for r in asyncio.run(shown())] == [["authors"], ["teaser"], ["title"]]
