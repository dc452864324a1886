"""Sitemaps and feeds through the real `scrapy crawl dw` against the mirror: the inputs of
`../shared/bugs/` 05 (sitemap namespaces) and 06 (change by any date), and variants of each
kind written here (dialects, empty sources, dates in every field and zone).
"""

from __future__ import annotations

import gzip
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import SHARED, needs_shared
from tests.crawling import archived_ids as ids
from tests.crawling import copy_site, crawl, last_run, query, served

BUGS = SHARED / "bugs"
NAMESPACES = BUGS / "05-sitemap-namespaces"
EDITED = BUGS / "06-lastmod-after-publication"
STORY = "/en/ceasefire-talks/a-79100061"


# -- kind 3: sitemap and feed dialects -------------------------------------------------------------

@needs_shared(NAMESPACES)
@pytest.mark.parametrize("variant", ["site-https-ns", "site-no-ns", "site-prefixed", "site-hreflang-image"])
def test_bug05_every_sitemap_namespace_form_is_read(variant, tmp_path):
    db = tmp_path / "dw.db"
    with served(NAMESPACES / variant, tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=articles")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}
    assert last_run(db)["outcome"] == "ok"
    assert not any("g-7910205" in p or "a-7910105" in p for p in mirror.paths())  # image, hreflang: not pages


def _entries(template: str) -> str:
    return "".join(template.format(url=f"https://www.dw.com/en/story-{n}/a-7910005{i}")
                   for i, n in ((1, "one"), (2, "two")))


URL = "<url><loc>{url}</loc><lastmod>2026-11-05T08:00:00Z</lastmod></url>"
DIALECTS = {
    "index in https form, child without namespace": {
        "en/article-sitemap.xml": '<sitemapindex xmlns="https://www.sitemaps.org/schemas/sitemap/0.9">'
                                  "<sitemap><loc>https://www.dw.com/en/part-1.xml</loc></sitemap></sitemapindex>",
        "en/part-1.xml": f"<urlset>{_entries(URL)}</urlset>"},
    "index with prefix, gzipped child": {
        "en/article-sitemap.xml": '<i:sitemapindex xmlns:i="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                  "<i:sitemap><i:loc>https://www.dw.com/en/part-1.xml.gz</i:loc></i:sitemap>"
                                  "</i:sitemapindex>",
        "en/part-1.xml.gz": gzip.compress(
            f'<urlset xmlns="https://www.sitemaps.org/schemas/sitemap/0.9">{_entries(URL)}</urlset>'.encode())},
}


@needs_shared(NAMESPACES)
@pytest.mark.parametrize("files", DIALECTS.values(), ids=DIALECTS.keys())
def test_more_sitemap_dialects(files, tmp_path):
    site = copy_site(NAMESPACES / "site-no-ns", tmp_path / "site")
    for name, content in files.items():
        (site / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=articles")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}


FEED_DIALECTS = {
    "RSS 2.0": "<rss version='2.0'><channel>"
               + _entries("<item><link>{url}</link><pubDate>Thu, 05 Nov 2026 09:00:00 CET</pubDate></item>")
               + "</channel></rss>",
    "Atom": '<feed xmlns="http://www.w3.org/2005/Atom">'
            + _entries('<entry><link rel="alternate" href="{url}"/><updated>2026-11-05</updated></entry>')
            + "</feed>",
}


@needs_shared(NAMESPACES)
@pytest.mark.parametrize("feed", FEED_DIALECTS.values(), ids=FEED_DIALECTS.keys())
def test_feed_dialects_through_the_crawl(feed, tmp_path):
    site = copy_site(NAMESPACES / "site-no-ns", tmp_path / "site")
    (site / "rdf").mkdir()
    (site / "rdf" / "rss-en-all.xml").write_text(feed)
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=feeds")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}


EMPTY = {
    "urlset without url": '<urlset xmlns="https://www.sitemaps.org/schemas/sitemap/0.9"></urlset>',
    "empty index": '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
}


@needs_shared(NAMESPACES)
@pytest.mark.parametrize("sitemap", EMPTY.values(), ids=EMPTY.keys())
def test_a_run_whose_every_source_lists_nothing_fails(sitemap, tmp_path):
    site = copy_site(NAMESPACES / "site-no-ns", tmp_path / "site")
    (site / "en" / "article-sitemap.xml").write_text(sitemap)
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=articles")
    assert run.returncode == 3
    assert "lists no entry" in run.stderr and "no sitemap or feed listed any entry" in run.stderr
    assert last_run(db)["stats"]["dw/discovery/empty"] == 1
    assert last_run(db)["outcome"] == "no sitemap or feed listed any entry"


@needs_shared(NAMESPACES)
def test_one_empty_source_among_others_is_a_warning_and_a_stat(tmp_path):
    site = copy_site(NAMESPACES / "site-no-ns", tmp_path / "site")
    (site / "en" / "news-sitemap.xml").write_text("<urlset/>")
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=news,articles")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "The news urlset at https://www.dw.com/en/news-sitemap.xml lists no entry" in run.stderr
    assert last_run(db)["stats"]["dw/discovery/empty/news"] == 1
    assert ids(db) == {79100051, 79100052}


# -- kinds 4 and 5: change by any date, in any form -----------------------------------------------

@pytest.fixture(scope="module")
def fetched_once(tmp_path_factory) -> tuple[Path, Path]:
    """(site, archive) after a first crawl of bugs/06's `v1`: the page and its news sitemap."""
    if not EDITED.exists():
        pytest.skip(f"{EDITED} is not here")
    base = tmp_path_factory.mktemp("fetched-once")
    site = base / "site"
    (site / "en" / "ceasefire-talks").mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    (site / "en" / "ceasefire-talks" / "a-79100061.html").write_bytes((EDITED / "page-v1.html").read_bytes())
    (site / "en" / "news-sitemap.xml").write_bytes((EDITED / "news-sitemap-v1.xml").read_bytes())
    db = base / "dw.db"
    with served(site, base / "access.log") as mirror:
        assert crawl(mirror, db, "-a", "lang=en", "-a", "sources=news").returncode == 0
    assert query(db, "SELECT title FROM articles") == [("Ceasefire talks begin",)]
    return site, db


def _edited(fetched_once, tmp_path: Path, name: str, listing: str) -> tuple[Path, Path]:
    """A copy of the site and archive of `fetched_once`, the page edited and `listing` at `name`."""
    site, db = copy_site(fetched_once[0], tmp_path / "site"), tmp_path / "dw.db"
    with sqlite3.connect(fetched_once[1]) as source, sqlite3.connect(db) as target:
        source.backup(target)
    (site / "en" / "ceasefire-talks" / "a-79100061.html").write_bytes((EDITED / "page-v2.html").read_bytes())
    (site / name).parent.mkdir(parents=True, exist_ok=True)
    (site / name).write_text(listing)
    return site, db


def _after_last_fetch(db: Path, seconds: int = 1) -> datetime:
    (seen,) = query(db, "SELECT last_seen_at FROM articles WHERE id = 79100061")[0]
    return datetime.strptime(seen, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(seconds=seconds)


def _recrawl(site: Path, db: Path, tmp_path: Path, source: str):
    with served(site, tmp_path / "access.log") as mirror:
        return crawl(mirror, db, "-a", "lang=en", "-a", f"sources={source}"), mirror


@pytest.mark.parametrize("control", [False, True], ids=["v2 with lastmod after the fetch", "lastmod only"])
def test_bug06_an_edit_shown_only_by_lastmod_is_fetched_again(control, fetched_once, tmp_path):
    stamp = _after_last_fetch(fetched_once[1]).strftime("%Y-%m-%dT%H:%M:%SZ")  # the lastmod of the run time
    v2 = EDITED / ("news-sitemap-control-lastmod-only.xml" if control else "news-sitemap-v2.xml")
    site, db = _edited(fetched_once, tmp_path, "en/news-sitemap.xml",
                       v2.read_text().replace("2026-11-29T13:15:02Z", stamp))
    run, mirror = _recrawl(site, db, tmp_path, "news")
    assert run.returncode == 0, run.stderr[-2000:]
    assert mirror.article_pages() == [STORY]
    assert query(db, "SELECT title FROM articles") == [("Ceasefire talks collapse after second day",)]
    revisions = query(db, "SELECT title FROM revisions WHERE article_id = 79100061")
    assert revisions == [("Ceasefire talks begin",)]


def _rss(*dates: tuple[str, str]) -> str:
    fields = "".join(f"<{tag}>{value}</{tag}>" for tag, value in dates)
    return ('<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><item>'
            f"<link>https://www.dw.com{STORY}</link>{fields}</item></channel></rss>")


def _atom(*dates: tuple[str, str]) -> str:
    fields = "".join(f"<{tag}>{value}</{tag}>" for tag, value in dates)
    return (f'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link href="https://www.dw.com{STORY}"/>'
            f"{fields}</entry></feed>")


def _news(*dates: tuple[str, str]) -> str:
    fields = "".join(f"<{tag}>{value}</{tag}>" if tag == "lastmod" else
                     f"<news:news><news:publication_date>{value}</news:publication_date></news:news>"
                     for tag, value in dates)
    return ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"<url><loc>https://www.dw.com{STORY}</loc>{fields}</url></urlset>")


OLD = "2026-11-05T08:00:00Z"
RFC_OLD = "Thu, 05 Nov 2026 08:00:00 GMT"
W3C = "%Y-%m-%dT%H:%M:%SZ"
# (listing, where the mirror serves it, source, the entry's dates given the moment after the
# first fetch, whether the article must be fetched again)
CHANGES = {
    "news: lastmod before publication_date, newer": (_news, "en/news-sitemap.xml", "news",
        lambda t: [("lastmod", t.strftime(W3C)), ("publication_date", OLD)], True),
    "RSS: pubDate old, dc:date newer": (_rss, "rdf/rss-en-all.xml", "feeds",
        lambda t: [("pubDate", RFC_OLD), ("dc:date", t.strftime(W3C))], True),
    "RSS: pubDate newer, in CET": (_rss, "rdf/rss-en-all.xml", "feeds",
        lambda t: [("pubDate", (t + timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S CET"))], True),
    "Atom: published old, updated newer, with offset": (_atom, "rdf/rss-en-all.xml", "feeds",
        lambda t: [("published", OLD), ("updated", (t + timedelta(hours=5, minutes=30))
                                         .strftime("%Y-%m-%dT%H:%M:%S+05:30"))], True),
    "control: newer only in CET read as UTC would be": (_rss, "rdf/rss-en-all.xml", "feeds",
        lambda t: [("pubDate", (t + timedelta(minutes=30)).strftime("%a, %d %b %Y %H:%M:%S CET"))], False),
}


@pytest.mark.parametrize("render,name,source,dates,refetched", CHANGES.values(), ids=CHANGES.keys())
def test_an_edit_shown_by_any_date_in_any_form_is_fetched_again(render, name, source, dates, refetched,
                                                                 fetched_once, tmp_path):
    site, db = _edited(fetched_once, tmp_path, name, render(*dates(_after_last_fetch(fetched_once[1], 5))))
    run, mirror = _recrawl(site, db, tmp_path, source)
    assert run.returncode == 0, run.stderr[-2000:]
    assert mirror.article_pages() == ([STORY] if refetched else [])
    title = "Ceasefire talks collapse after second day" if refetched else "Ceasefire talks begin"
    assert query(db, "SELECT title FROM articles") == [(title,)]


def test_an_unknown_zone_is_logged_and_counted_not_taken_as_utc(fetched_once, tmp_path):
    later = (_after_last_fetch(fetched_once[1]) + timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S XYZ")
    site, db = _edited(fetched_once, tmp_path, "rdf/rss-en-all.xml", _rss(("pubDate", later)))
    run, mirror = _recrawl(site, db, tmp_path, "feeds")
    assert run.returncode == 0
    assert "Unknown time zone 'XYZ'" in run.stderr
    assert last_run(db)["stats"]["dw/dates/unknown_zone"] == 1
    assert mirror.article_pages() == []  # the date is not used: not "a day later in UTC"
