"""Discovery through the real `scrapy crawl dw` against the mirror: the inputs of `../shared/bugs/`
(05 sitemap namespaces, 06 change by any date, 12 finished job directories, 13 pasted URLs) and
variants of each kind written here.
"""

from __future__ import annotations

import contextlib
import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.mirror import running_mirror
from tests.conftest import SHARED, needs_shared
from tests.crawling import Mirror, crawl, last_run, query

BUGS = SHARED / "bugs"
NAMESPACES = BUGS / "05-sitemap-namespaces"
EDITED = BUGS / "06-lastmod-after-publication"
JOBDIR_SITE = BUGS / "12-finished-jobdir"
PASTED = BUGS / "13-pasted-urls"
STORY = "/en/ceasefire-talks/a-79100061"


def copy_site(source: Path, target: Path) -> Path:
    """A writable copy of a (read-only) site folder."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())
    return target


@contextlib.contextmanager
def served(site: Path, log: Path):
    with running_mirror(site, log) as origin:
        yield Mirror(origin, log)


def ids(db: Path) -> set[int]:
    return {row[0] for row in query(db, "SELECT id FROM articles")}


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

def _edited_site(tmp_path: Path, listing: str, name: str) -> Path:
    site = tmp_path / "site"
    (site / "en" / "ceasefire-talks").mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    (site / "en" / "ceasefire-talks" / "a-79100061.html").write_bytes((EDITED / "page-v1.html").read_bytes())
    (site / name).parent.mkdir(parents=True, exist_ok=True)
    (site / name).write_text(listing)
    return site


def _after_last_fetch(db: Path, seconds: int = 1) -> datetime:
    (seen,) = query(db, "SELECT last_seen_at FROM articles WHERE id = 79100061")[0]
    return datetime.strptime(seen, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(seconds=seconds)


def _edit_and_recrawl(tmp_path, site, mirror, db, name, listing, source):
    (site / "en" / "ceasefire-talks" / "a-79100061.html").write_bytes((EDITED / "page-v2.html").read_bytes())
    (site / name).write_text(listing)
    mirror.clear()
    return crawl(mirror, db, "-a", "lang=en", "-a", f"sources={source}")


@needs_shared(EDITED)
@pytest.mark.parametrize("control", [False, True], ids=["v2 with lastmod after the fetch", "lastmod only"])
def test_bug06_an_edit_shown_only_by_lastmod_is_fetched_again(control, tmp_path):
    name = "en/news-sitemap.xml"
    site = _edited_site(tmp_path, (EDITED / "news-sitemap-v1.xml").read_text(), name)
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        assert crawl(mirror, db, "-a", "lang=en", "-a", "sources=news").returncode == 0
        assert query(db, "SELECT title FROM articles") == [("Ceasefire talks begin",)]
        stamp = _after_last_fetch(db).strftime("%Y-%m-%dT%H:%M:%SZ")  # the lastmod of the run time
        v2 = EDITED / ("news-sitemap-control-lastmod-only.xml" if control else "news-sitemap-v2.xml")
        run = _edit_and_recrawl(tmp_path, site, mirror, db, name,
                                v2.read_text().replace("2026-11-29T13:15:02Z", stamp), "news")
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


@needs_shared(EDITED)
@pytest.mark.parametrize("render,name,source,dates,refetched", CHANGES.values(), ids=CHANGES.keys())
def test_an_edit_shown_by_any_date_in_any_form_is_fetched_again(render, name, source, dates, refetched,
                                                                 tmp_path):
    site = _edited_site(tmp_path, render(("pubDate" if source == "feeds" else "lastmod", OLD)), name)
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        assert crawl(mirror, db, "-a", "lang=en", "-a", f"sources={source}").returncode == 0
        run = _edit_and_recrawl(tmp_path, site, mirror, db, name, render(*dates(_after_last_fetch(db, 5))),
                                source)
    assert run.returncode == 0, run.stderr[-2000:]
    assert mirror.article_pages() == ([STORY] if refetched else [])
    title = "Ceasefire talks collapse after second day" if refetched else "Ceasefire talks begin"
    assert query(db, "SELECT title FROM articles") == [(title,)]


@needs_shared(EDITED)
def test_an_unknown_zone_is_logged_and_counted_not_taken_as_utc(tmp_path):
    name = "rdf/rss-en-all.xml"
    site = _edited_site(tmp_path, _rss(("pubDate", RFC_OLD)), name)
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "access.log") as mirror:
        assert crawl(mirror, db, "-a", "lang=en", "-a", "sources=feeds").returncode == 0
        later = (_after_last_fetch(db) + timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S XYZ")
        run = _edit_and_recrawl(tmp_path, site, mirror, db, name, _rss(("pubDate", later)), "feeds")
    assert run.returncode == 0
    assert "Unknown time zone 'XYZ'" in run.stderr
    assert last_run(db)["stats"]["dw/dates/unknown_zone"] == 1
    assert mirror.article_pages() == []  # the date is not used: not "a day later in UTC"


# -- kind 7: job directories ---------------------------------------------------------------------

def _add_next_day(site: Path) -> None:
    page = JOBDIR_SITE / "next-day" / "en" / "story-9" / "a-79100129.html"
    (site / "en" / "story-9").mkdir(parents=True)
    (site / "en" / "story-9" / "a-79100129.html").write_bytes(page.read_bytes())
    sitemap = site / "en" / "article-sitemap.xml"
    entry = (JOBDIR_SITE / "next-day" / "sitemap-entry.xml").read_text().strip()
    sitemap.write_text(sitemap.read_text().replace("</urlset>", entry + "\n</urlset>"))


@needs_shared(JOBDIR_SITE)
def test_bug12_a_finished_job_directory_does_not_make_the_next_run_do_nothing(tmp_path):
    site = copy_site(JOBDIR_SITE / "site", tmp_path / "site")
    db, job = tmp_path / "dw.db", tmp_path / "job"
    args = ("-a", "lang=en", "-a", "sources=articles", "-s", f"JOBDIR={job}")
    with served(site, tmp_path / "access-1.log") as mirror:
        assert crawl(mirror, db, *args).returncode == 0
    assert ids(db) == set(range(79100121, 79100129))
    _add_next_day(site)
    with served(site, tmp_path / "access-2.log") as mirror:  # a new port: the origins differ too
        run = crawl(mirror, db, *args)
    assert run.returncode == 0, run.stderr[-2000:]
    assert 79100129 in ids(db)
    assert mirror.article_pages() == ["/en/story-9/a-79100129"]
    assert last_run(db)["outcome"] == "ok"


@needs_shared(JOBDIR_SITE)
def test_requests_queued_under_other_origins_go_to_the_origin_of_now(tmp_path):
    site = copy_site(JOBDIR_SITE / "site", tmp_path / "site")
    db, job = tmp_path / "dw.db", tmp_path / "job"
    args = ("-a", "lang=en", "-a", "sources=articles", "-s", f"JOBDIR={job}")
    with served(site, tmp_path / "access-1.log") as first:
        stopped = crawl(first, db, *args, "-s", "CLOSESPIDER_PAGECOUNT=3", "-s", "CONCURRENT_REQUESTS=1")
    assert stopped.returncode == 3
    assert 0 < len(ids(db)) < 8
    with served(site, tmp_path / "access-2.log") as second:  # the first mirror is gone
        run = crawl(second, db, *args)
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == set(range(79100121, 79100129))
    stats = last_run(db)["stats"]
    assert stats["dw/resumed_on_current_origin"] >= 1
    assert not any(key.startswith(("dw/failed", "dw/blocked")) for key in stats)
    pages = first.article_pages() + second.article_pages()
    assert sorted(pages) == sorted(set(pages))  # each article fetched once over both runs


# -- kind 6: URLs as people paste them -----------------------------------------------------------

def _pasted_lines() -> list[str]:
    return [line for line in (PASTED / "urls.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


@needs_shared(PASTED)
@pytest.mark.parametrize("how", ["file", "comma-separated", "the // URL alone"])
def test_bug13_pasted_urls_are_archived(how, tmp_path):
    urls = {"file": f"@{PASTED / 'urls.txt'}", "comma-separated": ",".join(_pasted_lines()),
            "the // URL alone": next(u for u in _pasted_lines() if u.startswith("//"))}[how]
    db = tmp_path / "dw.db"
    with served(PASTED / "site", tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", f"urls={urls}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == ({79100092} if how == "the // URL alone" else {79100091, 79100092})
    assert last_run(db)["outcome"] == "ok"
    assert "/en/cpp-conference/a-79100093" not in mirror.paths()


PASTE_VARIANTS = {
    "quotes and angle brackets": '"www.dw.com/en/covid-rules/a-79100091", '
                                 "<dw.com/en/chancellor-speech/a-79100092>",
    "file with BOM, CRLF and indentation": "@file:\ufeff  www.dw.com/en/covid-rules/a-79100091\r\n"
                                           "\t'p.dw.com/p/5LtXw'\r\n# a note\r\n",
}


@needs_shared(PASTED)
@pytest.mark.parametrize("urls", PASTE_VARIANTS.values(), ids=PASTE_VARIANTS.keys())
def test_more_pasted_url_forms(urls, tmp_path):
    if urls.startswith("@file:"):
        listing = tmp_path / "urls.txt"
        listing.write_bytes(urls.removeprefix("@file:").encode("utf-8"))
        urls = f"@{listing}"
    db = tmp_path / "dw.db"
    with served(PASTED / "site", tmp_path / "access.log") as mirror:
        run = crawl(mirror, db, "-a", f"urls={urls}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100091, 79100092}


@needs_shared(PASTED)
def test_a_url_list_with_nothing_usable_fails_with_one_line(tmp_path):
    urls = "example.com/en/x/a-1, www.dw.com/en/some-topic/t-123, not a url"
    with served(PASTED / "site", tmp_path / "access.log") as mirror:
        run = crawl(mirror, tmp_path / "dw.db", "-a", f"urls={urls}")
    assert run.returncode == 3
    lines = [line for line in run.stderr.splitlines() if "Bad argument" in line]
    assert len(lines) == 1 and "is a DW article URL or short link" in lines[0]
    assert mirror.paths() == []
