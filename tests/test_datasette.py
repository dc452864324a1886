"""The archive as users browse it, through datasette's own client with the project's views."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html import unescape

import pytest

from tests.conftest import ROOT
from tests.crawling import query
from tests.datasette_archive import (
    EDITED,
    NEW_PICTURE,
    PICTURE_EDITED,
    SEED,
    SEED_TEASER_BEFORE,
    SPEC,
    datasette_for,
    edited_archive,
    generated_archive,
    get,
    get_json,
)
from tests.test_extract_sample import AGENCIES
from tests.test_readme import free_port

ARTICLES = {a["id"]: a for a in SPEC["articles"]}
# Agencies named in the sample's image credits, read off data/sample-articles.json by hand.
PHOTO_CREDITS = {"Reuters": 0, "AFP": 2, "AP": 5, "dpa": 7}


def supplied_by(agency: str) -> set[int]:
    return {a["id"] for a in SPEC["articles"] if agency in AGENCIES.get(a["credit_line"], [])}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return edited_archive(tmp_path_factory)


@pytest.fixture(scope="module")
def db(archive):
    return archive[0]


def test_editing_three_articles_refetches_exactly_them_with_one_revision_each(archive):
    db, refetched = archive
    assert sorted(int(p.rsplit("-", 1)[1]) for p in refetched) == sorted([EDITED, SEED, PICTURE_EDITED])
    assert sorted(query(db, "SELECT article_id, title, teaser, changed FROM revisions")) == sorted([
        (EDITED, "How a Berlin startup recycles batteries", ARTICLES[EDITED]["teaser"], '["title"]'),
        (SEED, "Hezbollah troops die in siege", SEED_TEASER_BEFORE, '["teaser"]'),
        (PICTURE_EDITED, ARTICLES[PICTURE_EDITED]["title"], ARTICLES[PICTURE_EDITED]["teaser"],
         '["images"]')])


def test_articles_page_lists_every_article_newest_first(db):
    data = get_json(db, "/dw/articles.json?_shape=objects&_size=100")
    dates = [row["published_at"] for row in data["rows"]]
    assert len(dates) == len(SPEC["articles"])
    assert dates == sorted(dates, reverse=True)
    assert data["rows"][0]["id"] == max(SPEC["articles"], key=lambda a: a["published_at"])["id"]


@pytest.mark.parametrize("words,expected", [
    ("Ausstand", {79020002}),  # a word of the German body only
    ("الجامعات", {79030003}),  # "the universities", in the Arabic body only
    ("lokfuhrer", {79020002}),  # diacritics folded
    ("ازمة", {79030001}),  # الأزمة written without the article and with a bare alef
    ("سودان", {79030001}),  # السودان without the article
    ("الْأَزْمَة", {79030001}),  # with harakat
    ("المانيا", {79030003}),  # ألمانيا with a bare alef
    ("Anna Weber", {79010002}),  # an author
    ("Agence France-Presse", supplied_by("AFP")),  # an agency's full name
    ("rtr", supplied_by("Reuters")),  # a printed form finds every story of the agency
    ("RTR", supplied_by("Reuters")),
    ("Reuters", supplied_by("Reuters")),
])
def test_search_finds(db, words, expected):
    rows = get_json(db, f"/dw/articles.json?_search={words}&_shape=array&_size=100")
    assert {row["id"] for row in rows} == expected


def test_search_for_reuters_finds_every_reuters_article_whatever_its_credit_line_prints(db):
    rows = get_json(db, "/dw/articles.json?_search=Reuters&_shape=array&_size=100")
    assert {row["id"] for row in rows} == supplied_by("Reuters")
    printed = {ARTICLES[row["id"]]["credit_line"] for row in rows}
    assert any("rtr" in line for line in printed) and any("رويترز" in line for line in printed)


def test_search_page_ranks_a_headline_match_first_and_shows_the_matching_passage(db):
    html = get(db, "/dw/articles?_search=debates").text
    hits = re.findall(r'<div class="dw-hit".*?href="/dw/articles/(\d+)"', html, re.S)
    # 79010005 has the word in its headline; 79050001, newer, only in its body.
    assert [int(h) for h in hits] == [79010005, 79050001]
    assert "<mark>debates</mark>" in html
    assert 'value="debates"' in html


def test_arabic_search_box_keeps_the_words_as_typed(db):
    html = get(db, "/dw/articles?_search=الأزمة").text
    assert 'value="الأزمة"' in html
    assert re.findall(r'<div class="dw-hit".*?href="/dw/articles/(\d+)"', html, re.S) == ["79030001"]


def test_agency_facet(db):
    data = get_json(db, "/dw/articles.json?_size=0")
    facet = {f["value"]: f["count"] for f in data["facet_results"]["agencies"]["results"]}
    expected: dict[str, int] = {}
    for article in SPEC["articles"]:
        for name in AGENCIES.get(article["credit_line"], []):
            expected[name] = expected.get(name, 0) + 1
    assert facet == expected


@pytest.mark.parametrize("filters", ["language=en", "_search=Reuters", "language=de&_search=Streik"])
def test_agency_and_author_facets_of_a_filtered_list_count_its_rows(db, filters):
    # Counted from the join tables (plugins/dw_facets.py), they must say what the rows say.
    data = get_json(db, f"/dw/articles.json?{filters}&_size=max&_shape=objects")
    assert data["rows"]
    for column in ("agencies", "authors"):
        expected: dict[str, int] = {}
        for row in data["rows"]:
            for name in json.loads(row[column]):
                expected[name] = expected.get(name, 0) + 1
        facet = data["facet_results"][column]
        assert {f["value"]: f["count"] for f in facet["results"]} == expected
    first = data["facet_results"]["agencies"]["results"][0]
    path = first["toggle_url"].split("localhost", 1)[-1].replace("/dw/articles?", "/dw/articles.json?")
    narrowed = get_json(db, f"{path}&_size=max&_shape=objects")
    assert narrowed["rows"] and len(narrowed["rows"]) == first["count"]
    assert all(first["value"] in json.loads(row["agencies"]) for row in narrowed["rows"])


@pytest.mark.parametrize("asked,agency", [
    ("EFE", "EFE"), ("Reuters", "Reuters"), ("reuters", "Reuters"), ("rtr", "Reuters"),
    ("RTR", "Reuters"), ("Associated Press", "AP"), ("agence france-presse", "AFP"),
    ("OTS", "ots"),
])
def test_saved_query_articles_by_agency_accepts_any_form(db, asked, agency):
    rows = get_json(db, f"/dw/articles_by_agency.json?agency={asked}&_shape=array")
    assert {row["id"] for row in rows} == supplied_by(agency)


@pytest.mark.parametrize("asked", ["reuters", "rtr", "Reuters"])
def test_agency_page(db, asked):
    rows = get_json(db, f"/dw/agency.json?agency={asked}&_shape=array")
    assert {row["agency"] for row in rows} == {"Reuters"}
    assert rows[0]["text_articles"] == len(supplied_by("Reuters"))
    assert rows[0]["photo_articles"] == PHOTO_CREDITS["Reuters"]
    assert {row["id"] for row in rows} == supplied_by("Reuters")
    dates = [row["published_at"] for row in rows]
    assert dates == sorted(dates, reverse=True)
    html = get(db, f"/dw/agency?agency={asked}").text
    assert '<h1 class="dw-agency-name">Reuters' in html
    assert f'<strong class="dw-text-count">{len(supplied_by("Reuters"))}</strong>' in html


@pytest.mark.parametrize("agency", ["AFP", "AP", "dpa"])
def test_agency_page_counts_photo_credits(db, agency):
    rows = get_json(db, f"/dw/agency.json?agency={agency.lower()}&_shape=array")
    assert (rows[0]["agency"], rows[0]["photo_articles"]) == (agency, PHOTO_CREDITS[agency])


def test_agency_page_of_a_token_without_a_full_name_says_why(db):
    rows = get_json(db, "/dw/agency.json?agency=OTS&_shape=array")
    assert rows[0]["agency"] == "ots" and rows[0]["full_name"] is None
    assert "press releases" in rows[0]["note"]
    assert "press releases" in get(db, "/dw/agency?agency=ots").text


def test_unknown_agency_page_says_so(db):
    assert get_json(db, "/dw/agency.json?agency=Nobody&_shape=array") == []
    assert "No agency is known as “Nobody”" in get(db, "/dw/agency?agency=Nobody").text


def test_every_agency_has_a_full_name_or_a_note_and_none_shows_as_none(db):
    html = get(db, "/dw/agencies?_size=max").text
    names = [name for (name,) in query(db, "SELECT name FROM agencies")]
    cells = re.findall(r'<td class="col-full_name[^"]*">(.*?)</td>', html, re.S)
    assert len(cells) == len(names)
    assert all(cell.strip() and cell.strip() != "None" for cell in cells)
    assert "press releases" in html  # ots, a press-release service, not an agency
    assert ">None<" not in get(db, "/dw/article_agencies?_size=max").text


@pytest.mark.parametrize("pasted", [
    "18axi", "https://p.dw.com/p/18axi", " p.dw.com/p/18axi/ ", "https://p.dw.com/p/18axi?maca=en-rss",
    "https://p.dw.com/p/18axi%3Fmaca%3Den-rss",
    "https://www.dw.com/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046",
])
def test_saved_query_short_link_lookup_takes_what_is_pasted(db, pasted):
    rows = get_json(db, f"/dw/short_link_lookup.json?_shape=array&code={pasted.replace('?', '%3F')}")
    assert [(r["id"], r["title"], r["code"]) for r in rows] == [
        (SEED, "Hezbollah troops die in siege", "18axi")]


def test_canned_query_articles_per_day(db):
    rows = get_json(db, "/dw/articles_per_day.json?_shape=array")
    counts = {(r["day"], r["language"]): r["articles"] for r in rows}
    assert counts[("2026-11-20", "en")] == sum(
        1 for a in SPEC["articles"] if a["language"] == "en" and a["published_at"].startswith("2026-11-20"))
    assert sum(counts.values()) == len(SPEC["articles"])


def test_revision_page_shows_it_beside_the_version_after_it(db):
    rows = get_json(db, f"/dw/article_revisions.json?id={SEED}&_shape=array")
    assert [json.loads(r["changed"]) for r in rows] == [["teaser"]]
    html = get(db, f"/dw/revisions/{rows[0]['revision']}").text
    diff = html.split('<table class="diff"', 1)[1].split("</table>", 1)[0]
    assert "Over" in diff and "At least" in diff  # the words that changed, side by side
    assert "this version" in diff and "the version after it" in diff


def test_crawl_runs_newest_first_with_stats_folded(db):
    rows = get_json(db, "/dw/crawl_runs.json?_shape=array")
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True) and len(rows) == 2
    html = get(db, "/dw/crawl_runs").text
    assert len(re.findall(r"<details><summary>\d+ stats</summary>", html)) == 2


def test_internal_tables_are_hidden(db):
    tables = {t["name"]: t["hidden"] for t in get_json(db, "/dw.json")["tables"]}
    assert tables["articles_search"] and tables["articles_search_data"]
    assert "articles_fts" not in tables  # one full-text index only
    assert not tables["articles"] and not tables["article_agencies"] and not tables["crawl_runs"]


def test_an_archive_of_another_file_name_gets_the_same_views(db, tmp_path):
    other = tmp_path / "archive-2026.db"
    shutil.copy(db, other)
    page = get(other, f"/archive-2026/articles/{SEED}").text
    assert '<article class="dw-article"' in page and "earlier version" in page
    assert '<table class="dw-list">' in get(other, "/archive-2026/articles").text
    rows = get_json(other, "/archive-2026/articles.json?_search=Reuters&_shape=array&_size=100")
    assert {row["id"] for row in rows} == supplied_by("Reuters")
    rows = get_json(other, "/archive-2026/agency.json?agency=rtr&_shape=array")
    assert rows[0]["agency"] == "Reuters"
    assert "archive-2026" in get(other, "/-/dashboards/archive").text  # the charts' database


def test_sqlite_utils_reads_the_archive(db):
    shown = subprocess.run([sys.executable, "-m", "sqlite_utils", "tables", str(db), "--counts"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    counts = {row["table"]: row["count"] for row in json.loads(shown.stdout)}
    assert counts["articles"] == counts["articles_search"] == len(SPEC["articles"])
    assert counts["short_links"] == len(SPEC["articles"])
    assert counts["revisions"] == 3


@pytest.mark.parametrize("asked,agency", [("Reuters", "Reuters"), ("reuters", "Reuters"), ("rtr", "Reuters"),
                                          ("Agence France-Presse", "AFP"), ("afp", "AFP")])
def test_the_list_filters_by_an_agency_in_any_printed_form(db, asked, agency):
    data = get_json(db, f"/dw/articles.json?agencies__arraycontains={asked}&_shape=objects&_size=max")
    assert {row["id"] for row in data["rows"]} == supplied_by(agency)
    links = get_json(db, f"/dw/article_agencies.json?agency={asked}&role=text&_shape=array&_size=max")
    assert {row["article_id"] for row in links} == supplied_by(agency)


def test_the_agency_page_without_an_agency_lists_every_agency_in_alphabetical_order(db):
    html = get(db, "/dw/agency").text
    listed = re.findall(r'<td class="dw-title"><a href="/dw/agency\?agency=[^"]*">([^<]*)</a>', html)
    names = [name for (name,) in query(db, "SELECT name FROM agencies")]
    assert listed == sorted(names, key=str.lower) and len(listed) == len(names)
    assert listed.index("dpa") < listed.index("EFE") < listed.index("epd") < listed.index("Reuters")


def test_saved_queries_open_without_their_sql_and_link_ids_and_headlines(db):
    for path in ("/dw/articles_by_agency?agency=rtr", "/dw/short_link_lookup?code=18axi",
                 "/dw/search?q=Reuters", f"/dw/article_revisions?id={SEED}", "/dw/articles_per_day"):
        html = get(db, path).text
        assert "<textarea" not in html and "select " not in html.lower().split("</title>")[1], path
        assert "_show_sql=1" in html, path  # the SQL one click away
    html = get(db, "/dw/articles_by_agency?agency=rtr").text
    for article_id in supplied_by("Reuters"):
        assert f'<a href="/dw/articles/{article_id}">{article_id}</a>' in html
        assert f'<a href="/dw/articles/{article_id}">{escape_html(ARTICLES[article_id]["title"])}' in html
    html = get(db, f"/dw/article_revisions?id={SEED}").text
    revision = query(db, f"SELECT id FROM revisions WHERE article_id = {SEED}")[0][0]
    assert f'<a href="/dw/revisions/{revision}">{revision}</a>' in html
    assert '<td class="col-changed">teaser</td>' in html  # not ["teaser"]


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")


def test_the_picture_only_revision_shows_both_pictures(db):
    revision = query(db, f"SELECT id FROM revisions WHERE article_id = {PICTURE_EDITED}")[0][0]
    html = get(db, f"/dw/revisions/{revision}").text
    before, after = ARTICLES[PICTURE_EDITED]["images"][0], NEW_PICTURE
    table = html.split('<table class="diff dw-images-diff">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<td class="dw-(before|after)">(.*?)</td>', table, re.S)
    assert [side for side, _ in cells] == ["before", "after"]
    for (_, cell), picture in zip(cells, (before, after), strict=True):
        assert f'src="{picture["url"]}"' in cell
        assert escape_html(picture["caption"]) in cell and escape_html(picture["credit"]) in cell
    assert "what changed: <span class=\"dw-changed\">pictures</span>" in html


# -- bad parameters: answered in words, never SQLite's message --------------------------------

SQLITE_WORDS = ("unterminated string", "fts5", "syntax error", "too large to convert",
                "string or blob too big", "OverflowError", "Traceback", "select a.")


@pytest.mark.parametrize("path,status,words", [
    ("/dw/articles?_search=%00", 400, "The search could not be read"),
    ("/dw/articles.json?_search=%00", 400, "The search could not be read"),
    ("/dw/articles?_search_title=%00", 400, "The search could not be read"),
    ("/dw/search?q=%00", 400, "The search could not be read"),
    ("/dw/search.json?q=%00", 400, "The search could not be read"),
    ("/dw/short_link_lookup?code=" + "9" * 40, 200, "No archived article has this short link"),
    ("/dw/short_link_lookup.json?code=" + "9" * 40, 200, '"rows": []'),
    ("/dw/short_link_lookup?code=https://p.dw.com/p/" + "z" * 30, 200,
     "No archived article has this short link"),
    ("/dw/articles?id__gt=" + "9" * 40, 400, "larger than any the archive holds"),
    ("/dw/articles.json?id__lt=" + "9" * 40, 400, "larger than any the archive holds"),
    (f"/dw/article_revisions?id={'9' * 40}", 200, "Nothing in the archive matches"),
])
def test_a_bad_parameter_is_answered_in_words(db, path, status, words):
    response = get(db, path, status=status)
    assert words in response.text
    # The JSON API states its query (`query.sql`); what it says went wrong is in `error`.
    said = str(response.json().get("error")) if ".json" in path else response.text
    assert not [w for w in SQLITE_WORDS if w.lower() in said.lower()], said[:2000]


def test_sql_a_person_wrote_keeps_sqlites_message(db):
    assert "syntax error" in get(db, "/dw.json?sql=select+from", status=400).text


# -- exports and the JSON API: every row once -------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("generated") / "gen.db"
    return path, generated_archive(path)


def _follow(db, path: str) -> tuple[list[int], int]:
    """Ids of every page from `path` on, following next_url; (ids, pages)."""
    async def walk():
        datasette = datasette_for(db)
        await datasette.invoke_startup()
        ids, pages, url = [], 0, path
        while url:
            response = await datasette.client.get(url)
            assert response.status_code == 200, response.text[:500]
            data = response.json()
            ids += [row["id"] for row in data["rows"]]
            pages += 1
            url = data.get("next_url")
            url = url.split("://", 1)[1].split("/", 1)[1] if url else None
            url = "/" + url if url else None
        return ids, pages

    return asyncio.run(walk())


def _link(html: str, css_class: str) -> str:
    href = re.search(rf'<a class="{css_class}" href="([^"]+)"', html)[1]
    return href.replace("&amp;", "&")


@pytest.mark.parametrize("filters,agency", [("agencies__arraycontains=Reuters", "Reuters"),
                                            ("agencies__arraycontains=rtr", "Reuters"),
                                            ("agencies__arraycontains=AFP&_size=50", "AFP"),
                                            ("", "all")])
def test_the_lists_json_pages_hold_every_article_once(generated, filters, agency):
    db, ids = generated
    html = get(db, f"/gen/articles?{filters}").text
    found, pages = _follow(db, _link(html, "dw-json"))
    assert len(found) == len(set(found)) and set(found) == ids[agency]
    assert pages > 1  # many equal timestamps fall across page boundaries
    found, _ = _follow(db, f"/gen/articles.json?{filters}&_shape=objects")  # the API as typed
    assert len(found) == len(set(found)) and set(found) == ids[agency]


@pytest.mark.parametrize("filters,agency", [("agencies__arraycontains=Reuters", "Reuters"), ("", "all")])
def test_the_lists_csv_link_exports_every_article_once_for_a_spreadsheet(generated, filters, agency):
    db, ids = generated
    html = get(db, f"/gen/articles?{filters}").text
    response = get(db, _link(html, "dw-csv"))
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    exported = [int(row["id"]) for row in rows]
    assert len(exported) == len(set(exported)) and set(exported) == ids[agency]
    assert {"warc_file", "content_hash", "etag", "body"}.isdisjoint(rows[0])
    assert {"title", "published_at", "agencies", "authors", "url"} <= set(rows[0])
    both = next(row for row in rows if int(row["id"]) in ids["Reuters"] & ids["AFP"])
    assert both["agencies"] == "Reuters; AFP" and both["authors"] == "A. Writer"
    with_text = get(db, _link(html, "dw-csv-text")).content.decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(with_text)))) == len(ids[agency])
    assert "Body of story" in with_text


def test_the_lists_json_link_gives_lists_as_arrays(generated):
    db, _ = generated
    html = get(db, "/gen/articles?agencies__arraycontains=AFP").text
    rows = get_json(db, _link(html, "dw-json"))["rows"]
    assert rows and all(isinstance(row["agencies"], list) and "AFP" in row["agencies"] for row in rows)


# -- a shared server: `make serve ALLOW_SQL=off`, as the README says ------------------------------

def test_make_serve_allow_sql_off_blocks_sql_of_ones_own_and_keeps_the_views(db, tmp_path):
    archive = tmp_path / "dw.db"
    shutil.copy(db, archive)
    port = free_port()
    server = subprocess.Popen(["make", "--no-print-directory", "serve", f"ARCHIVE={archive}", f"PORT={port}",
                               "ALLOW_SQL=off"], cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if status("/dw/articles") == 200:
                    break
            except OSError:
                time.sleep(0.3)
        assert status("/dw?sql=select+title+from+articles") == 403
        assert status("/dw.json?sql=select+1") == 403
        assert status("/dw/articles?_where=1%3D1") == 403
        for path in ("/dw/articles", f"/dw/articles/{SEED}", "/dw/agency?agency=rtr", "/dw/search?q=Reuters",
                     "/dw/articles.csv?_stream=on"):
            assert status(path) == 200, path
        # datasette-dashboards runs its charts' SQL through datasette's SQL API: off with it.
        assert status("/-/dashboards/archive") == 403
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


# -- the revision page: words compared under a time bound, both texts shown whole ----------------

def _reading_plugin():
    spec = importlib.util.spec_from_file_location("dw_reading_under_test", ROOT / "plugins" / "dw_reading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sides(html: str) -> tuple[str, str]:
    """The text of the left and right cells of a diff table, tags removed."""
    cells = re.findall(r"<td>(.*?)</td><td>(.*?)</td>", html, re.S)
    plain = [tuple(unescape(re.sub(r"</?(del|ins)>", "", c)) for c in pair) for pair in cells]
    return "\n\n".join(p[0] for p in plain if p[0]), "\n\n".join(p[1] for p in plain if p[1])


def test_word_marking_keeps_both_texts_whole_for_generated_edits():
    reading = _reading_plugin()
    rng = random.Random(20)
    vocabulary = ["the", "a", "Syria", "army", "town", "<b>", "&", "الأزمة", "said", "said,", ""]
    for _ in range(300):
        old = [rng.choice(vocabulary) for _ in range(rng.randint(0, 60))]
        new = list(old)
        for _ in range(rng.randint(0, 6)):
            at = rng.randint(0, len(new))
            if new and rng.random() < 0.5:
                del new[min(at, len(new) - 1)]
            else:
                new.insert(at, rng.choice(vocabulary))
        left, right = reading.Differ().words(" ".join(old), " ".join(new))
        assert unescape(re.sub(r"</?del>", "", left)) == " ".join(old)
        assert unescape(re.sub(r"</?ins>", "", right)) == " ".join(new)
        assert "<ins>" not in left and "<del>" not in right


@pytest.mark.parametrize("words", [8_000, 40_000])
def test_a_long_revision_of_repeated_words_is_answered_in_time(db, tmp_path, words):
    # SequenceMatcher(autojunk=False) took 102 s at 8,000 such words; 40,000 held datasette for minutes.
    archive = tmp_path / "long.db"
    shutil.copy(db, archive)
    rng = random.Random(words)
    old = [rng.choice(["the", "cat", "sat", "on", "mat", "a", "dog"]) for _ in range(words)]
    new = list(old)
    for at in rng.sample(range(words), words // 20):
        new[at] = "bird"
    with sqlite3.connect(archive) as conn:
        revision = conn.execute("SELECT id, article_id FROM revisions WHERE article_id = ?",
                                [EDITED]).fetchone()
        conn.execute("UPDATE revisions SET body = ? WHERE id = ?", [" ".join(old), revision[0]])
        conn.execute("UPDATE articles SET body = ? WHERE id = ?", [" ".join(new), revision[1]])
    started = time.monotonic()
    html = get(archive, f"/long/revisions/{revision[0]}").text
    assert time.monotonic() - started < 20  # the word marking stops at 0.4 s; the rest is linear
    body = html.split('data-field="body"', 1)[1].split("</table>", 1)[0]
    assert _sides(body) == (" ".join(old), " ".join(new))  # nothing dropped, whatever was marked
    assert "<del>" in body and "<ins>" in body
