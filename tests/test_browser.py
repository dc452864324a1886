"""What a person sees: the archive in a real headless Chromium, one 1400x1000 screen at a time."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import quote

import pytest

from tests.browser import Browser, chromium, datasette
from tests.datasette_archive import EDITED, SEED, SPEC, edited_archive
from tests.test_extract_sample import AGENCIES

ARTICLES = {a["id"]: a for a in SPEC["articles"]}


@pytest.fixture(scope="module")
def browser():
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where it can)")
    browser = Browser(binary)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db, _ = edited_archive(tmp_path_factory)
    with datasette(db) as base:
        yield base


def test_list_shows_at_least_ten_headlines_newest_first_on_the_first_screen(browser, site):
    browser.open(f"{site}/dw/articles")
    titles = browser.on_first_screen("table.dw-list td.dw-title a")
    newest = sorted(SPEC["articles"], key=lambda a: a["published_at"], reverse=True)
    shown = {EDITED: "How a Berlin startup recycles car batteries"}  # edited on the site
    assert len(titles) >= 10
    assert titles == [shown.get(a["id"], a["title"]) for a in newest[: len(titles)]]
    # Body and teaser are not in the list; an Arabic headline reads right to left.
    assert ARTICLES[SEED]["teaser"][:40] not in browser.evaluate("document.body.innerText")
    arabic = browser.evaluate("""[...document.querySelectorAll('td.dw-title')]
        .filter(td => td.lang === 'ar').map(td => getComputedStyle(td).direction)""")
    assert arabic and set(arabic) == {"rtl"}


def test_reading_view_of_the_seed_article(browser, site):
    browser.open(f"{site}/dw/articles/{SEED}")
    first_screen = browser.on_first_screen(
        "article.dw-article h1, .dw-byline, .dw-agencies, .dw-versions, .dw-published")
    text = "\n".join(first_screen)
    assert "Hezbollah troops die in siege" in text
    assert "By kms/ccp" in text  # no byline: the staff initials of the credit line
    assert "2013-05-20" in text
    assert "1 earlier version" in text
    links = browser.evaluate("""[...document.querySelectorAll('.dw-agencies a')]
        .map(a => [a.innerText, new URL(a.href).pathname + new URL(a.href).search])""")
    assert links == [[name, f"/dw/agency?agency={name}"] for name in ["AP", "AFP", "Reuters", "dpa"]]
    credits = browser.evaluate("[...document.querySelectorAll('.dw-image-credit')].map(e => e.innerText)")
    assert credits == ["Image: Joseph Eid/AFP/Getty Images"]
    assert browser.evaluate("document.querySelectorAll('article.dw-article h2').length") == 1
    assert "p.dw.com/p/18axi" in browser.evaluate("document.querySelector('.dw-links').innerText")


def test_reading_view_shows_the_authors_on_the_first_screen(browser, site):
    browser.open(f"{site}/dw/articles/{EDITED}")
    byline = browser.on_first_screen(".dw-byline")
    assert byline == ["By " + ", ".join(ARTICLES[EDITED]["authors"])]


def test_earlier_versions_link_to_a_side_by_side_diff(browser, site):
    browser.open(f"{site}/dw/articles/{EDITED}")
    href = browser.evaluate("document.querySelector('.dw-versions a[href*=\"/revisions/\"]').href")
    browser.open(href)
    sides = browser.evaluate("""[...document.querySelectorAll('table.diff tbody tr')].map(
        tr => [...tr.querySelectorAll('td')].filter(td => td.offsetParent).map(td => td.innerText))""")
    assert [s for s in sides if s] == [["How a Berlin startup recycles batteries",
                                        "How a Berlin startup recycles car batteries"]]


def test_a_chart_is_drawn(browser, site):
    browser.open(f"{site}/-/dashboards/archive")
    assert browser.wait_for("#chart-per-day-agency g.mark-rect path")
    bars = browser.evaluate("""[...document.querySelectorAll('#chart-per-day-agency g.mark-rect path')]
        .map(p => [p.getAttribute('aria-label'), p.getAttribute('fill'), p.getBBox().height])""")
    drawn: dict[str, int] = {}
    for label, _, height in bars:
        fields = dict(part.split(": ", 1) for part in label.split("; "))
        drawn[fields["agency"]] = drawn.get(fields["agency"], 0) + int(fields["articles"])
        assert height > 0
    newest = max(date.fromisoformat(a["published_at"][:10]) for a in SPEC["articles"])
    expected: dict[str, int] = {}
    for article in SPEC["articles"]:
        if date.fromisoformat(article["published_at"][:10]) >= newest - timedelta(days=60):
            for name in AGENCIES.get(article["credit_line"], []):
                expected[name] = expected.get(name, 0) + 1
    assert drawn == expected
    assert len({fill for _, fill, _ in bars}) == len(expected)  # one colour per agency


def test_search_for_reuters_lists_the_reuters_articles(browser, site):
    browser.open(f"{site}/dw/articles?_search=Reuters")
    hits = browser.evaluate("[...document.querySelectorAll('.dw-hit > a')].map(a => a.innerText)")
    expected = {a["title"] for a in SPEC["articles"] if "Reuters" in AGENCIES.get(a["credit_line"], [])}
    assert set(hits) == expected and len(hits) == len(expected)


@pytest.mark.parametrize("words", ["ازمة", "سودان"])  # no ال; a bare alef (الأزمة, السودان)
def test_arabic_search_finds_the_word_in_its_other_forms(browser, site, words):
    browser.open(f"{site}/dw/articles?_search={quote(words)}")
    hits = browser.evaluate("[...document.querySelectorAll('.dw-hit > a')].map(a => a.innerText)")
    assert hits == [ARTICLES[79030001]["title"]]
    assert browser.evaluate("document.querySelector('#_search').value") == words


def test_an_arabic_article_reads_right_to_left(browser, site):
    browser.open(f"{site}/dw/articles/79030001")
    shown = browser.evaluate("""[...document.querySelectorAll(
        'article.dw-article h1, article.dw-article > p:not(.dw-meta)')]
        .map(e => [getComputedStyle(e).direction, getComputedStyle(e).textAlign])""")
    assert shown and all(pair == ["rtl", "right"] for pair in shown)
