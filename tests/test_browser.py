"""What a person sees: the archive in a real headless Chromium, one 1400x1000 screen at a time."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import quote

import pytest

from tests.browser import Browser, chromium, datasette
from tests.crawling import query
from tests.datasette_archive import EDITED, NEW_PICTURE, PICTURE_EDITED, SEED, SPEC, edited_archive
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
def archive_db(tmp_path_factory):
    return edited_archive(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def site(archive_db):
    with datasette(archive_db) as base:
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


# -- round 2: what stopped a journalist ----------------------------------------------------------

def test_the_credit_of_the_seeds_lead_image_is_visible_whole(browser, site):
    browser.open(f"{site}/dw/articles/{SEED}")
    seen = browser.evaluate("""(() => {
        const credit = document.querySelector('.dw-image-credit');
        credit.scrollIntoView({block: 'center'});
        const r = credit.getBoundingClientRect();
        const at = document.elementFromPoint(r.left + 2, r.top + r.height / 2);
        const caption = credit.closest('figcaption');
        return {text: credit.innerText, height: r.height, hit: credit.contains(at),
                clipped: caption.scrollHeight > caption.clientHeight + 1,
                caption: caption.innerText};
    })()""")
    assert seen["text"] == "Image: Joseph Eid/AFP/Getty Images"
    assert seen["height"] > 0 and seen["hit"] and not seen["clipped"]
    assert ARTICLES[SEED]["images"][0]["caption"][-40:] in seen["caption"]


def _marks(browser, chart: str, mark: str) -> list[dict[str, str]]:
    assert browser.wait_for(f"#chart-{chart} g.mark-{mark} path"), chart
    labels = browser.evaluate(f"""[...document.querySelectorAll('#chart-{chart} g.mark-{mark} path')]
        .map(p => p.getAttribute('aria-label'))""")
    return [dict(part.split(": ", 1) for part in label.split("; ")) for label in labels if label]


def test_each_chart_counts_what_its_title_says(browser, site, archive_db):
    browser.open(f"{site}/-/dashboards/archive")
    window = "a.published_at >= (select date(max(published_at), '-60 days') from articles)"
    # Articles per day by language: every bar an article count, their sum the articles of the window.
    bars = _marks(browser, "per-day-language", "rect")
    drawn = {(b["day (UTC)"], b["language"]): int(b["articles"]) for b in bars}
    expected = dict(((day, language), n) for day, language, n in query(archive_db, f"""
        select substr(a.published_at, 1, 10), a.language, count(*) from articles a where {window}
        group by 1, 2"""))
    assert drawn == expected
    assert sum(drawn.values()) == query(archive_db, f"select count(*) from articles a where {window}")[0][0]
    # Articles per day from each agency: each bar the articles naming that agency that day.
    bars = _marks(browser, "per-day-agency", "rect")
    drawn = {(b["day (UTC)"], b["agency"]): int(b["articles"]) for b in bars}
    assert drawn == dict(((day, agency), n) for day, agency, n in query(archive_db, f"""
        select substr(a.published_at, 1, 10), g.agency, count(*) from article_agencies g
        join articles a on a.id = g.article_id where g.role = 'text' and {window} group by 1, 2"""))
    # Each agency's share: every segment's count, and every agency named in the legend.
    bars = _marks(browser, "agency-by-language", "rect")
    drawn = {(b["language"], b["agency"]): int(b["articles"]) for b in bars}
    expected = dict(((language, agency), n) for language, agency, n in query(archive_db, """
        select a.language, g.agency, count(*) from article_agencies g join articles a on a.id = g.article_id
        where g.role = 'text' group by 1, 2"""))
    assert drawn == expected
    legend = browser.evaluate("""[...document.querySelectorAll(
        '#chart-agency-by-language g.role-legend-label text')].map(t => t.textContent)""")
    assert sorted(legend) == sorted({agency for _, agency in expected})
    # Crawl runs: one point per run, times in UTC and 24 hours, one legend, whole-number ticks.
    points = _marks(browser, "crawl-runs", "symbol")
    runs = query(archive_db, "select started_at, coalesce(new, 0) + coalesce(updated, 0) from crawl_runs")
    assert sorted((p["started (UTC)"], int(p["new or updated"])) for p in points) == sorted(
        (started[:16].replace("T", " "), n) for started, n in runs)  # 24 hours, UTC: 17:05, not 05:05
    legends = browser.evaluate("document.querySelectorAll('#chart-crawl-runs g.role-legend').length")
    assert legends == 1
    ticks = browser.evaluate("""[...document.querySelectorAll('#chart-crawl-runs g.role-axis-label text')]
        .map(t => t.textContent)""")
    times = [t for t in ticks if ":" in t]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", t) for t in times)

    numbers = [t for t in ticks if ":" not in t and "-" not in t]
    assert numbers and all(re.fullmatch(r"\d+", n.replace(",", "")) for n in numbers)


def test_the_picture_only_revision_shows_both_pictures(browser, site):
    browser.open(f"{site}/dw/articles/{PICTURE_EDITED}")
    browser.open(browser.evaluate("document.querySelector('.dw-versions a[href*=\"/revisions/\"]').href"))
    assert "pictures" in browser.evaluate("document.querySelector('.dw-changed').innerText")
    sides = browser.evaluate("""['.dw-before', '.dw-after'].map(s => {
        const cell = document.querySelector('.dw-images-diff ' + s);
        cell.scrollIntoView();
        return [cell.innerText, [...cell.querySelectorAll('img')].map(i => i.src).join(' ')];
    })""")
    for (text, sources), picture in zip(sides, (ARTICLES[PICTURE_EDITED]["images"][0], NEW_PICTURE),
                                        strict=True):
        # Offline a picture does not load: its place then names it.
        assert picture["url"] in sources + text
        assert picture["caption"] in text and picture["credit"] in text


@pytest.mark.parametrize("path", ["/dw/articles_by_agency?agency=rtr", "/dw/search?q=Reuters",
                                  f"/dw/article_revisions?id={SEED}", "/dw/short_link_lookup?code=18axi",
                                  "/dw/articles_per_day"])
def test_saved_queries_open_without_the_sql_block(browser, site, path):
    browser.open(site + path)
    shown = browser.evaluate("""[...document.querySelectorAll('textarea, pre, .CodeMirror')]
        .filter(e => e.offsetParent).map(e => e.innerText)""")
    assert shown == []
    assert "select" not in browser.evaluate("document.body.innerText").lower()
    assert browser.evaluate("!!document.querySelector('.show-hide-sql a')")  # one click away
    assert browser.on_first_screen("table.rows-and-columns tbody tr")


def test_an_id_in_a_saved_query_leads_to_the_reading_view(browser, site):
    browser.open(f"{site}/dw/articles_by_agency?agency=rtr")
    href = browser.evaluate("document.querySelector('td.col-title a').href")
    title = browser.evaluate("document.querySelector('td.col-title a').innerText")
    browser.open(href)
    assert browser.evaluate("document.querySelector('article.dw-article h1').innerText") == title


def test_every_page_has_the_sites_navigation_and_articles_come_first(browser, site):
    browser.open(f"{site}/")
    assert browser.evaluate("document.querySelector('.dw-start a').innerText") == "Articles"
    tables = browser.evaluate("""[...document.querySelectorAll('section.content p a')]
        .map(a => a.innerText).filter(t => /^[a-z_]+$/.test(t))""")
    assert tables[0] == "articles"
    browser.open(f"{site}/dw/no-such-table")
    nav = browser.evaluate("[...document.querySelectorAll('.dw-site-nav a')].map(a => a.innerText)")
    assert nav[:3] == ["Articles", "Agencies", "Charts"]
    assert browser.evaluate("document.querySelector('.dw-way-back a').innerText") == "the articles"
    browser.open(browser.evaluate("[...document.querySelectorAll('.dw-site-nav a')][1].href"))
    agencies = browser.evaluate("[...document.querySelectorAll('.dw-agencies-list td.dw-title a')]"
                                ".map(a => a.innerText)")
    assert len(agencies) > 5 and agencies == sorted(agencies, key=str.lower)


def test_dates_say_utc(browser, site):
    browser.open(f"{site}/dw/articles")
    assert browser.evaluate("document.querySelector('table.dw-list th').innerText") == "published (UTC)"
    browser.open(f"{site}/dw/articles/{SEED}")
    assert "(UTC)" in browser.on_first_screen(".dw-meta:not(.dw-byline):not(.dw-agencies):not(.dw-links)")[0]


def test_the_lists_export_links_are_in_sight(browser, site):
    browser.open(f"{site}/dw/articles?agencies__arraycontains=rtr")
    exports = browser.on_first_screen(".dw-exports")
    assert exports and "CSV" in exports[0] and "JSON" in exports[0]
    assert f"{len([a for a in SPEC['articles'] if 'Reuters' in AGENCIES.get(a['credit_line'], [])])}" \
        in exports[0]
