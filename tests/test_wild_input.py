"""Input from the wild that cost whole batches, listings or pages: each kind through the real path
(the real `scrapy crawl dw` against the mirror, the extractor and reextract CLIs as subprocesses,
datasette's own client), with variants beyond the reported sample."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.archive import Archive
from tests import forkserver
from tests.conftest import ROOT, SHARED, needs_shared
from tests.crawling import archived_ids as ids
from tests.crawling import copy_site, crawl, last_run, query, served
from tests.datasette_archive import edited_archive, get, get_json

SITE = SHARED / "bugs" / "05-sitemap-namespaces" / "site-no-ns"
SEED_PAGE = ROOT / "data/sample-site/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046.html"
SEED_URL = "https://www.dw.com/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046"
ONE, TWO = "https://www.dw.com/en/story-one/a-79100051", "https://www.dw.com/en/story-two/a-79100052"


def _site(tmp_path: Path, files: dict[str, str]) -> Path:
    """A copy of the two-article site with `files` (path: text) written over it."""
    site = copy_site(SITE, tmp_path / "site")
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    return site


def extract_cli(page: bytes, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    path = tmp_path / "page.html"
    path.write_bytes(page)
    run = forkserver.run([sys.executable, "-m", "crawler.extract", str(path), *args], cwd=ROOT,
                         timeout=120)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run, json.loads(run.stdout.splitlines()[-1])


# -- 1, 2: an id beyond any DW id, a date no clock shows: that entry only, counted --------------

HUGE_IDS = ["https://www.dw.com/en/huge/a-99999999999999999999",  # beyond SQLite's INTEGER
            "https://www.dw.com/en/huge/a-9007199254740992",  # 2**53: beyond a JSON consumer's
            "https://www.dw.com/en/huge/a-" + "9" * 5000]  # beyond Python's int() of a string
BAD_DATES = ["2026-11-28T08:00:00+25:00", "2026-11-28T08:00:00-24:00",
             "Sat, 28 Nov 2026 08:00:00 +2500", "Sat, 28 Nov 2026 08:00:00 +9999",
             "0000-01-01T00:00:00+01:00"]


@needs_shared(SITE)
@pytest.mark.parametrize("huge, date", list(zip(HUGE_IDS + HUGE_IDS[:2], BAD_DATES, strict=True)))
def test_a_bad_sitemap_entry_is_skipped_and_counted_the_others_archived(huge, date, tmp_path):
    sitemap = ("<urlset>"
               f"<url><loc>{ONE}</loc><lastmod>{date}</lastmod></url>"
               f"<url><loc>{huge}</loc><lastmod>2026-11-05T08:00:00Z</lastmod></url>"
               f"<url><loc>{TWO}</loc><lastmod>2026-11-05T08:00:00Z</lastmod></url></urlset>")
    db = tmp_path / "dw.db"
    with served(_site(tmp_path, {"en/article-sitemap.xml": sitemap}), tmp_path / "log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=articles")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}
    stats = last_run(db)["stats"]
    assert stats["dw/dates/unreadable"] == 1 and stats["dw/skipped/not_dw_url"] == 1
    assert last_run(db)["outcome"] == "ok"
    assert not any("huge" in path for path in mirror.paths())


@needs_shared(SITE)
@pytest.mark.parametrize("pubdate", ["Sat, 28 Nov 2026 08:00:00 +2400", "Sat, 28 Nov 2026 08:00 -9959"])
def test_a_bad_feed_item_is_skipped_and_counted_the_others_archived(pubdate, tmp_path):
    feed = ("<rss version='2.0'><channel>"
            f"<item><link>{ONE}</link><pubDate>{pubdate}</pubDate></item>"
            f"<item><link>{HUGE_IDS[0]}</link></item>"
            f"<item><link>{TWO}</link><pubDate>Thu, 05 Nov 2026 09:00:00 CET</pubDate></item>"
            "</channel></rss>")
    db = tmp_path / "dw.db"
    with served(_site(tmp_path, {"rdf/rss-en-all.xml": feed}), tmp_path / "log") as mirror:
        run = crawl(mirror, db, "-a", "lang=en", "-a", "sources=feeds")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}
    assert last_run(db)["stats"]["dw/dates/unreadable"] == 1


@needs_shared(SITE)
@pytest.mark.parametrize("bad", ["https://p.dw.com/p/zzzzzzzzzzzz", HUGE_IDS[0], "dw.com/en/x/a-00000000000"])
def test_a_pasted_url_with_no_dw_id_is_refused_the_others_archived(bad, tmp_path):
    db = tmp_path / "dw.db"
    with served(SITE, tmp_path / "log") as mirror:
        run = crawl(mirror, db, "-a", f"urls={bad}, {ONE}, {TWO}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}
    assert "OverflowError" not in run.stderr


BAD_RECORDS = {
    "id beyond SQLite's INTEGER": {"id": 10**20},
    "id of 2**53": {"id": 2**53},
    "title with a lone surrogate": {"title": "Headline \ud83d"},
    "author with a lone surrogate": {"authors": ["Jane \udc00Example"]},
    "integer beyond 64 bits in a nested field": {"images": [{"url": "https://x/y.jpg", "width": 2**70}]},
}


@pytest.mark.parametrize("bad", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_one_bad_record_is_refused_and_the_rest_of_its_batch_written(bad, tmp_path):
    good = [{"id": 79100000 + n, "url": f"https://www.dw.com/en/s/a-{79100000 + n}", "title": f"T {n}",
             "language": "en"} for n in range(31)]
    archive = Archive(tmp_path / "dw.db")
    counts = archive.write_batch([*good[:15], {**good[0], "id": 79199999, **bad}, *good[15:]])
    assert counts["refused"] == 1 and counts["new"] == 31
    assert archive.count() == 31
    archive.close()


# -- 3: a lone surrogate escape in structured data ---------------------------------------------

SURROGATES = {
    "headline": ('"headline": "Story One"', '"headline": "Story One \\ud83d"'),
    "author": ('"name": "Jane Example"', '"name": "Jane \\udc00Example"'),
    "both, reversed pair": ('"headline": "Story One"', '"headline": "\\ude00\\ud83d Story"'),
}


@needs_shared(SITE)
@pytest.mark.parametrize("old, new", SURROGATES.values(), ids=SURROGATES.keys())
def test_a_lone_surrogate_in_json_ld_is_replaced_and_counted(old, new, tmp_path):
    page = SITE / "en/story-one/a-79100051.html"
    html = page.read_text().replace(old, new)
    assert new in html
    run, got = extract_cli(html.encode(), tmp_path)
    assert run.returncode == 0 and got["id"] == 79100051, run.stdout
    assert "replacement_characters" in run.stderr and "surrogate" in run.stderr
    json.dumps(got, ensure_ascii=False).encode("utf-8")  # no lone surrogate left anywhere
    # and through the crawl: the article stored, the replacement counted
    db = tmp_path / "dw.db"
    with served(_site(tmp_path, {"en/story-one/a-79100051.html": html}), tmp_path / "log") as mirror:
        crawled = crawl(mirror, db, "-a", "lang=en", "-a", "sources=articles")
    assert crawled.returncode == 0, crawled.stderr[-2000:]
    assert ids(db) == {79100051, 79100052}
    assert last_run(db)["stats"]["dw/extract/replacement_characters"] == 1


# -- 4: canonical links relative, scheme-relative, or inside a Wayback Machine capture ---------

CANONICALS = {
    "path": ("/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046", [SEED_URL]),
    "scheme-relative": ("//www.dw.com" + SEED_URL.removeprefix("https://www.dw.com"), []),
    "wayback": ("https://web.archive.org/web/20130610120000/http://www.dw.de/syrian/a-16825046",
                ["https://web.archive.org/web/20130610120000/http://www.dw.de/syrian/a-16825046"]),
    "wayback id_, path only": ("/web/20130610120000id_/http://www.dw.de/syrian/a-16825046",
                               ["https://web.archive.org/web/20130610120000/http://www.dw.de/syrian/a-16825046"]),
    # (the URL given names the same article: one naming another is refused, ids_disagree)
    "relative, old host given": ("a-16825046", ["http://www.dw.de/syrian/a-16825046"]),
}


@pytest.mark.parametrize("href, args", CANONICALS.values(), ids=CANONICALS.keys())
def test_a_canonical_link_is_resolved_against_the_page_url(href, args, tmp_path):
    html = SEED_PAGE.read_text().replace(f'<link rel="canonical" href="{SEED_URL}">',
                                         f'<link rel="canonical" href="{href}">')
    html = html.replace(f'content="{SEED_URL}"', f'content="{href}"')
    assert href in html
    run, got = extract_cli(html.encode(), tmp_path, *(["--url", args[0]] if args else []))
    assert run.returncode == 0, run.stdout
    assert got["id"] == 16825046 and got["url"].endswith("/a-16825046")
    assert "web.archive.org" not in got["url"]


def test_a_relative_canonical_without_a_url_is_still_refused(tmp_path):
    html = SEED_PAGE.read_text().replace(f'href="{SEED_URL}"', 'href="/en/x/a-16825046"')
    html = html.replace(f'content="{SEED_URL}"', 'content="/en/x/a-16825046"')
    run, got = extract_cli(html.encode(), tmp_path)
    assert run.returncode == 1 and "not a DW content page" in got["error"]


# -- 5: HTML5's optional end tags, a stray NUL --------------------------------------------------

ENDINGS = {
    "no </body></html>": lambda t: t.replace("</body></html>", ""),
    "no </html>, trailing space": lambda t: t.replace("</body></html>", "  \n"),
    "stray NUL in the body": lambda t: t.replace("Evidence of", "Evidence\x00 of"),
    "NUL in the head": lambda t: t.replace("<head>", "<head>\x00", 1),
}


@pytest.mark.parametrize("edit", ENDINGS.values(), ids=ENDINGS.keys())
def test_a_complete_page_without_end_tags_or_with_a_stray_nul_is_read(edit, tmp_path):
    html = edit(SEED_PAGE.read_text())
    assert html != SEED_PAGE.read_text()
    run, got = extract_cli(html.encode(), tmp_path)
    assert run.returncode == 0, run.stdout
    assert got["id"] == 16825046 and "Evidence of the deployment" in got["body"]


@pytest.mark.parametrize("cut", ["</article>", "Evidence of the deployment"])
def test_a_page_cut_inside_its_article_is_still_refused(cut, tmp_path):
    text = SEED_PAGE.read_text()
    run, got = extract_cli(text[: text.index(cut)].encode(), tmp_path)
    assert run.returncode == 1 and "truncated" in got["error"]


def test_a_mostly_binary_head_is_still_refused(tmp_path):
    run, got = extract_cli(b"<html>" + bytes(range(32)) * 40 + SEED_PAGE.read_bytes(), tmp_path)
    assert run.returncode == 1 and "binary" in got["error"]


# -- 6: credit lines naming multi-word agencies -------------------------------------------------

CREDITS = {
    "ab/cd (AFP, Reuters, The New York Times)": ["AFP", "Reuters", "The New York Times"],
    "ab/cd (AP, AFP, Reuters, dpa, The New York Times)": ["AP", "AFP", "Reuters", "dpa",
                                                          "The New York Times"],
    "ab/cd (The Associated Press, Reuters)": ["AP", "Reuters"],
    "ab/cd (Reuters, The Wall Street Journal)": ["Reuters", "The Wall Street Journal"],
    "ab/cd (AFP, Press Trust of India)": ["AFP", "PTI"],
}


@pytest.mark.parametrize("line, agencies", CREDITS.items(), ids=CREDITS.keys())
def test_a_credit_line_with_a_multi_word_agency_keeps_every_agency(line, agencies, tmp_path):
    html = SEED_PAGE.read_text().replace("kms/ccp (AP, AFP, Reuters, dpa)", line)
    run, got = extract_cli(html.encode(), tmp_path)
    assert run.returncode == 0, run.stdout
    assert got["credit_line"] == line and got["agencies"] == agencies


def test_words_in_brackets_are_still_no_credit_line(tmp_path):
    html = SEED_PAGE.read_text().replace("kms/ccp (AP, AFP, Reuters, dpa)",
                                         "ab/cd (this is what they said in the morning)")
    run, got = extract_cli(html.encode(), tmp_path)
    assert got["credit_line"] is None and not got["agencies"]


# -- 7: a search without words ------------------------------------------------------------------

@pytest.fixture(scope="module")
def browsed(tmp_path_factory):
    return edited_archive(tmp_path_factory)[0]


@pytest.mark.parametrize("typed", ['""', "%20", '"', '%20""%20', "%22%22"])
def test_a_search_without_words_lists_every_article(typed, browsed):
    everything = get_json(browsed, "/dw/articles.json?_shape=array&_size=max")
    rows = get_json(browsed, f"/dw/articles.json?_search={typed}&_shape=array&_size=max")
    assert len(rows) == len(everything) > 1
    assert get(browsed, f"/dw/articles?_search={typed}").status_code == 200


@pytest.mark.parametrize("typed", ['""', "%20", '"', ""])
def test_the_search_query_without_words_finds_nothing_and_is_no_error(typed, browsed):
    assert get_json(browsed, f"/dw/search.json?q={typed}&_shape=array") == []
    assert get(browsed, f"/dw/search?q={typed}").status_code == 200


# -- 8: reextract given paths that are no WARC, an origin without scheme, files out of order -------

def _reextract(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return forkserver.run([sys.executable, "-m", "crawler.reextract", "--workers", "1",
                           "--archive", str(tmp_path / "new.db"), *args], cwd=ROOT, timeout=180)


@pytest.mark.parametrize("what", ["missing", "text file", "empty folder's missing sibling", "origin"])
def test_reextract_refuses_what_it_cannot_read_and_creates_nothing(what, tmp_path):
    text = tmp_path / "notes.warc.gz"
    text.write_text("hello, this is not a WARC\n")
    args = {"missing": [str(tmp_path / "nonexistent.warc.gz")], "text file": [str(text)],
            "empty folder's missing sibling": [str(tmp_path / "nowhere")],
            "origin": ["--origin", "127.0.0.1:8765", str(tmp_path)]}[what]
    run = _reextract(tmp_path, *args)
    assert run.returncode == 3, run.stderr[-2000:]  # a refused argument: 3, as scrapy crawl's
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "new.db").exists()


def _warc(path: Path, date: str, title: str) -> Path:
    html = SEED_PAGE.read_text().replace("Hezbollah troops die in siege", title)
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                   protocol="HTTP/1.1")
        record = writer.create_warc_record(SEED_URL, "response", payload=io.BytesIO(html.encode()),
                                           http_headers=headers, warc_headers_dict={"WARC-Date": date})
        writer.write_record(record)
    return path


@pytest.mark.parametrize("order", ["newer first", "older first"])
def test_reextract_applies_files_in_capture_order(order, tmp_path):
    older = _warc(tmp_path / "b.warc.gz", "2026-01-01T00:00:00Z", "The first headline")
    newer = _warc(tmp_path / "a.warc.gz", "2026-06-01T00:00:00Z", "The edited headline")
    files = [newer, older] if order == "newer first" else [older, newer]
    run = _reextract(tmp_path, *map(str, files))
    assert run.returncode == 0, run.stderr[-2000:]
    db = tmp_path / "new.db"
    assert query(db, "SELECT title FROM articles") == [("The edited headline",)]
    assert query(db, "SELECT title FROM revisions") == [("The first headline",)]


# -- 10: sitemaps that parse and list nothing ------------------------------------------------------

@needs_shared(SITE)
@pytest.mark.parametrize("lang", ["en", "en,de"])  # de: its sitemaps are not there (404)
def test_sitemaps_that_list_nothing_say_so(lang, tmp_path):
    empty = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
    site = _site(tmp_path, {"en/article-sitemap.xml": empty, "en/news-sitemap.xml": "<urlset/>"})
    db = tmp_path / "dw.db"
    with served(site, tmp_path / "log") as mirror:
        run = crawl(mirror, db, "-a", f"lang={lang}", "-a", "sources=news,articles")
    assert run.returncode == 3
    assert last_run(db)["outcome"] == "no sitemap or feed listed any entry"
    assert last_run(db)["stats"]["dw/discovery/empty"] == 2
