"""Charsets (issue 12, kind 2): BOM, then the HTTP `Content-Type` charset, then `<meta charset>`,
then detection; pages decoded with replacement characters are counted. `bugs/08` through the
real `scrapy crawl dw` against the mirror, variants through the extractor; last, the crawl
turning what the extractor noticed on a page into stats."""

from __future__ import annotations

import json
import sys

import pytest

from crawler.extract import extract
from tests import forkserver
from tests.conftest import ROOT, SHARED, needs_shared
from tests.crawling import Mirror, crawl, last_run, query

BUG08 = SHARED / "bugs" / "08-charset-in-header"
URL = "https://www.dw.com/de/schnee-in-bayern/a-79100081"


def crawl_bug08(tmp_path, faults: dict) -> tuple:
    from tests.crawling import running_mirror

    spec = tmp_path / "faults.json"
    spec.write_text(json.dumps(faults))
    db = tmp_path / "dw.db"
    with running_mirror(BUG08 / "site", tmp_path / "access.log", spec) as origin:
        run = crawl(Mirror(origin, tmp_path / "access.log"), db, "-a", f"urls={URL}")
    return run, db


@needs_shared(BUG08)
def test_bug08_charset_given_only_by_the_http_header(tmp_path):
    faults = json.loads((BUG08 / "faults.json").read_text())
    run, db = crawl_bug08(tmp_path, faults)
    assert run.returncode == 0, run.stderr[-2000:]
    title, teaser, body = query(db, "SELECT title, teaser, body FROM articles WHERE id = 79100081")[0]
    assert title == "Schneefälle legen München lahm"
    assert teaser == "Straßen gesperrt, Züge fallen aus."
    assert body == "Über Nacht fielen 40 Zentimeter Neuschnee.\n\nGrößere Störungen gab es im Süden."
    stats = last_run(db)["stats"]
    assert stats.get("dw/extract/replacement_characters", 0) == 0
    assert stats["dw/normalize/title"] == 0  # set at start, and no rule fired on the title


@needs_shared(BUG08)
def test_a_page_served_with_a_wrong_charset_is_counted(tmp_path):
    faults = {"/de/schnee-in-bayern/a-79100081": "content-type=text/html;charset=utf-8"}
    run, db = crawl_bug08(tmp_path, faults)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "\ufffd" in query(db, "SELECT title FROM articles WHERE id = 79100081")[0][0]
    assert last_run(db)["stats"]["dw/extract/replacement_characters"] == 1
    assert "replacement_characters" in run.stderr


@needs_shared(BUG08)
def test_a_saved_page_in_another_charset_served_by_the_mirror_as_is(tmp_path):
    # No faults.json: the mirror knows no charset for these bytes and claims none, so the
    # extractor's detection decides (the README's recipe for archiving saved pages).
    run, db = crawl_bug08(tmp_path, {})
    assert run.returncode == 0, run.stderr[-2000:]
    assert query(db, "SELECT title FROM articles WHERE id = 79100081")[0][0] == \
        "Schneefälle legen München lahm"
    assert "dw/extract/replacement_characters" not in last_run(db)["stats"]


def page(title: str, meta: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="de"><head>{meta}'
            f'<link rel="canonical" href="https://www.dw.com/de/x/a-79100082"></head><body><article>'
            f'<header><h1>{title}</h1></header><div data-tracking-name="rich-text"><p>{title}.</p>'
            f'</div></article></body></html>')


TITLES = {"windows-1252": "Schneefälle in München: Straßen gesperrt", "windows-1251": "Снегопад в Москве",
          "iso-8859-2": "Śnieżyca w Łodzi", "iso-8859-7": "Χιονόπτωση στην Αθήνα",
          "shift_jis": "ミュンヘンで大雪", "windows-1256": "تساقط الثلوج في ميونيخ"}


@pytest.mark.parametrize("charset", sorted(TITLES))
@pytest.mark.parametrize("given_as", ["charset", "content-type"])
def test_the_http_charset_decodes_the_page(charset, given_as):
    data = page(TITLES[charset]).encode(charset)
    encoding = charset if given_as == "charset" else f"text/html; charset={charset.upper()}"
    article = extract(data, encoding=encoding)
    assert article.title == TITLES[charset]
    assert article.warnings == []


@pytest.mark.parametrize("charset", sorted(TITLES))
def test_meta_charset_is_used_when_http_gives_none(charset):
    data = page(TITLES[charset], f'<meta charset="{charset}">').encode(charset)
    assert extract(data).title == TITLES[charset]
    assert extract(data, encoding="text/html").title == TITLES[charset]


def test_the_http_header_beats_meta_and_a_bom_beats_both():
    title = TITLES["windows-1251"]
    data = page(title, '<meta charset="iso-8859-1">').encode("windows-1251")
    assert extract(data, encoding="windows-1251").title == title
    bom = b"\xef\xbb\xbf" + page(title, '<meta charset="iso-8859-1">').encode("utf-8")
    assert extract(bom, encoding="windows-1251").title == title


def test_without_any_declaration_utf8_then_windows_1252_are_detected():
    assert extract(page(TITLES["shift_jis"]).encode("utf-8")).title == TITLES["shift_jis"]
    assert extract(page(TITLES["windows-1252"]).encode("cp1252")).title == TITLES["windows-1252"]


@pytest.mark.parametrize("declared", ["utf-8", "text/html; charset=utf-8"])
def test_bytes_the_declared_charset_cannot_decode_are_counted(declared):
    article = extract(page(TITLES["windows-1252"]).encode("cp1252"), encoding=declared)
    assert [kind for kind, _ in article.warnings] == ["replacement_characters"]
    assert "6 bytes" in article.warnings[0][1]  # ä, ß, ü in the h1 and again in the paragraph


def test_a_replacement_character_the_page_itself_holds_is_not_counted():
    article = extract(page("Ein \ufffd im Titel").encode("utf-8"), encoding="utf-8")
    assert article.warnings == []


def test_cli_takes_the_charset(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(page(TITLES["windows-1251"]).encode("windows-1251"))
    run = forkserver.run([sys.executable, "-m", "crawler.extract", str(path), "--encoding",
                          "windows-1251"], cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["title"] == TITLES["windows-1251"]


def test_what_reading_a_page_noticed_is_counted_in_a_real_crawl(tmp_path):
    """A related story's JSON-LD object only, and an unreadable block: counted as crawl stats,
    the page's own headline and precise state date archived."""
    from tests.crawling import running_mirror
    from tests.test_extract_wild import RELATED, news_article
    from tests.test_extract_wild import page as current_page

    site = tmp_path / "site"
    (site / "en" / "floods").mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /search/\n")
    related_only = current_page(json.dumps(news_article("Other story", names=RELATED, author="Other Writer")))
    (site / "en" / "floods" / "a-79100002.html").write_text(related_only, encoding="utf-8")
    state = json.dumps({"content": {"id": 79100003, "title": "Storm warning",
                                    "firstPublicationDate": "2026-11-05T07:59:01.250Z", "text": "<p>B.</p>"}})
    unreadable = current_page('{"@type": "NewsArticle", "headline": ', state=state, content_id=79100003)
    (site / "en" / "floods" / "a-79100003.html").write_text(unreadable, encoding="utf-8")
    db = tmp_path / "dw.db"
    urls = "https://www.dw.com/en/floods/a-79100002,https://www.dw.com/en/floods/a-79100003"
    with running_mirror(site, tmp_path / "access.log") as origin:
        run = crawl(Mirror(origin, tmp_path / "access.log"), db, "-a", f"urls={urls}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert query(db, "SELECT id, title, published_at FROM articles ORDER BY id") == [
        (79100002, "Floods hit the north", "2026-11-05"),
        (79100003, "Storm warning", "2026-11-05T07:59:01Z")]
    stats = last_run(db)["stats"]
    assert (stats["dw/extract/ld_mismatch"], stats["dw/extract/ld_unreadable"]) == (1, 1)
    assert "ld_mismatch" in run.stderr and "ld_unreadable" in run.stderr
