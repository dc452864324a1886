"""The archive as users browse it, through datasette's own client with the project's views."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.crawling import query
from tests.datasette_archive import (
    EDITED,
    SEED,
    SEED_TEASER_BEFORE,
    SPEC,
    edited_archive,
    get,
    get_json,
)
from tests.test_extract_sample import AGENCIES

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


def test_editing_two_articles_refetches_exactly_them_with_one_revision_each(archive):
    db, refetched = archive
    assert sorted(int(p.rsplit("-", 1)[1]) for p in refetched) == sorted([EDITED, SEED])
    assert sorted(query(db, "SELECT article_id, title, teaser FROM revisions")) == sorted([
        (EDITED, "How a Berlin startup recycles batteries", ARTICLES[EDITED]["teaser"]),
        (SEED, "Hezbollah troops die in siege", SEED_TEASER_BEFORE)])


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
    hits = re.findall(r'<div class="dw-hit".*?href="/dw/articles/(\d+)[?"]', html, re.S)
    # 79010005 has the word in its headline; 79050001, newer, only in its body.
    assert [int(h) for h in hits] == [79010005, 79050001]
    assert "<mark>debates</mark>" in html
    assert 'value="debates"' in html


def test_arabic_search_box_keeps_the_words_as_typed(db):
    html = get(db, "/dw/articles?_search=الأزمة").text
    assert 'value="الأزمة"' in html
    assert re.findall(r'<div class="dw-hit".*?href="/dw/articles/(\d+)[?"]', html, re.S) == ["79030001"]


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
    assert counts["revisions"] == 2
