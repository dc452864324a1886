"""What a person sees: the archive in a real headless Chromium, one 1400x1000 screen at a time."""

from __future__ import annotations

import json
import re
import sqlite3
import struct
from datetime import date, timedelta
from urllib.parse import quote

import pytest

from tests.browser import Browser, chromium, datasette
from tests.crawling import query
from tests.datasette_archive import (
    EDITED,
    NEW_PICTURE,
    PICTURE_EDITED,
    SEED,
    SPEC,
    edited_archive,
    generated_once,
)
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
    cells = browser.evaluate("""[...document.querySelectorAll('#chart-per-day-agency g.mark-rect path')]
        .filter(p => p.getAttribute('aria-label'))
        .map(p => [p.getAttribute('aria-label'), p.getBBox().width * p.getBBox().height])""")
    drawn: dict[str, int] = {}
    for label, area in cells:
        fields = dict(part.split(": ", 1) for part in label.split("; "))
        drawn[fields["agency"]] = drawn.get(fields["agency"], 0) + int(fields["articles"])
        assert area > 0
    newest = max(date.fromisoformat(a["published_at"][:10]) for a in SPEC["articles"])
    expected: dict[str, int] = {}
    for article in SPEC["articles"]:
        if date.fromisoformat(article["published_at"][:10]) >= newest - timedelta(days=60):
            for name in AGENCIES.get(article["credit_line"], []):
                expected[name] = expected.get(name, 0) + 1
    assert drawn == expected
    rows = browser.evaluate("""[...document.querySelectorAll('#chart-per-day-agency g.role-axis-label text')]
        .map(t => t.textContent).filter(t => !/^\\d{4}-/.test(t))""")
    assert rows == sorted(expected, key=str.lower)  # one row per agency, A to Z whatever the case


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


def _drawn(browser, chart: str, keys: tuple[str, ...], mark: str = "rect") -> dict[tuple, int]:
    """The counts a chart draws, by the values of `keys` in each mark's label."""
    drawn: dict[tuple, int] = {}
    for fields in _marks(browser, chart, mark):
        key = tuple(fields[k] for k in keys)
        assert key not in drawn, key  # one mark each
        drawn[key] = int(fields["articles"])
    return drawn


WINDOW = "a.published_at >= (select date(max(published_at), '-60 days') from articles)"
CREDITS = f"""select {{}}, g.agency, count(*) from article_agencies g join articles a on a.id = g.article_id
              where g.role = 'text' and {WINDOW} group by 1, 2"""


def _check_largest_and_others(drawn: dict[tuple, int], counted: dict[tuple, int], other: str) -> None:
    """Each drawn count is the SQL count of its (place, series), or for `other` the sum of the
    series not drawn on their own; those drawn are the largest; every article is counted."""
    named = {series for _, series in drawn} - {other}
    places = {place for place, _ in counted}
    for place in places:
        for series in named:
            assert drawn.get((place, series), 0) == counted.get((place, series), 0), (place, series)
        rest = sum(n for (p, s), n in counted.items() if p == place and s not in named)
        assert drawn.get((place, other), 0) == rest, place
    assert sum(drawn.values()) == sum(counted.values())
    totals: dict[str, int] = {}
    for (_, series), n in counted.items():
        totals[series] = totals.get(series, 0) + n
    if len(totals) > len(named):
        assert min(totals[s] for s in named) >= max(n for s, n in totals.items() if s not in named)


def _each_chart_counts_every_article(browser, base, archive_db) -> None:
    browser.open(f"{base}/-/dashboards/archive")
    # Articles per day by language: stacked, the day's bars adding up to the day's articles.
    drawn = _drawn(browser, "per-day-language", ("day (UTC)", "language"))
    counted = {(d, lang): n for d, lang, n in query(archive_db, f"""select substr(a.published_at, 1, 10),
        a.language, count(*) from articles a where {WINDOW} group by 1, 2""")}
    _check_largest_and_others(drawn, counted, "other languages")
    # Articles per day from each agency, and each agency's share of a language's credits.
    for chart, keys, place in (("per-day-agency", ("day (UTC)", "agency"), "substr(a.published_at, 1, 10)"),
                               ("agency-by-language", ("language", "agency"), "a.language")):
        counted = {(p, g): n for p, g, n in query(archive_db, CREDITS.format(place))}
        _check_largest_and_others(_drawn(browser, chart, keys), counted, "other agencies")
    # Every series named in the legend, A to Z whatever the case, the others last.
    legend = browser.evaluate("""[...document.querySelectorAll(
        '#chart-agency-by-language g.role-legend-label text')].map(t => t.textContent)""")
    named = sorted({agency for _, agency in _drawn(browser, "agency-by-language", ("language", "agency"))})
    assert sorted(legend) == named
    own = [a for a in legend if a != "other agencies"]
    assert own == sorted(own, key=str.lower)
    assert "⚠" not in browser.evaluate("""[...document.querySelectorAll('.chart-tooltip')]
        .filter(e => getComputedStyle(e).visibility === 'visible').map(e => e.innerText).join('')""")


def test_each_chart_counts_what_its_title_says(browser, site, archive_db):
    _each_chart_counts_every_article(browser, site, archive_db)
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


@pytest.fixture(scope="module")
def generated_db(tmp_path_factory):
    return generated_once(tmp_path_factory)[0]


@pytest.fixture(scope="module")
def generated_site(generated_db):
    with datasette(generated_db) as base:
        yield base


def test_every_chart_counts_every_article_of_20000_in_31_languages_over_75_days(browser, generated_site,
                                                                               generated_db):
    # datasette-dashboards draws the first 1,000 rows of a chart's SQL: the archive's charts
    # stay under that, so nothing is dropped unseen (the tester saw 9,226 of 17,426 articles).
    assert query(generated_db, "select count(distinct language) from articles")[0][0] == 31
    _each_chart_counts_every_article(browser, generated_site, generated_db)


def test_a_day_without_articles_is_a_gap_on_the_day_axis(browser, site, archive_db):
    browser.open(f"{site}/-/dashboards/archive")
    _marks(browser, "per-day-language", "rect")
    bars = browser.evaluate("""[...document.querySelectorAll('#chart-per-day-language g.mark-rect path')]
        .map(p => { const b = p.getBBox(); return [p.getAttribute('aria-label'), b.x + b.width / 2]; })""")
    centres = {dict(part.split(": ", 1) for part in label.split("; "))["day (UTC)"]: x for label, x in bars}
    days = sorted(centres)
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    assert (last - first).days + 1 > len(days)  # the sample has days without articles
    per_day = (centres[days[-1]] - centres[days[0]]) / (last - first).days
    for day in days:  # each bar where its date is, empty days left empty
        assert abs(centres[day] - centres[days[0]] - per_day * (date.fromisoformat(day) - first).days) < 1.5


def test_the_charts_at_420_pixels_name_every_series_whole(browser, generated_site):
    browser.resize(420, 900)
    try:
        browser.open(f"{generated_site}/-/dashboards/archive")
        for chart in ("agency-by-language", "per-day-language"):
            assert browser.wait_for(f"#chart-{chart} g.role-legend-label text")
            seen = browser.evaluate(f"""(() => {{
                const card = document.querySelector('#card-{chart}').getBoundingClientRect();
                return [...document.querySelectorAll('#chart-{chart} g.role-legend-label text')].map(t => {{
                    const r = t.getBoundingClientRect();
                    const inside = r.left >= card.left - 1 && r.right <= card.right + 1;
                    return [t.textContent, inside && r.width > 0];
                }});
            }})()""")
            assert seen and all(inside for _, inside in seen), [t for t, inside in seen if not inside]
            assert not [t for t, _ in seen if t.endswith("…")]
        series = {a for _, a in _drawn(browser, "agency-by-language", ("language", "agency"))}
        legend = browser.evaluate("""[...document.querySelectorAll(
            '#chart-agency-by-language g.role-legend-label text')].map(t => t.textContent)""")
        assert sorted(legend) == sorted(series)
        assert browser.evaluate("document.documentElement.scrollWidth") <= 420 + 1  # nothing off the side
    finally:
        browser.resize(1400, 1000)


def test_the_charts_work_on_a_server_that_allows_no_sql(browser, archive_db):
    with datasette(archive_db, default_allow_sql="off") as base:
        browser.open(f"{base}/dw?sql=select+1")
        assert "Forbidden" in browser.evaluate("document.body.innerText")
        browser.open(f"{base}/dw/articles")
        browser.open(browser.evaluate("[...document.querySelectorAll('.dw-site-nav a')][2].href"))
        for chart, mark in (("per-day-agency", "rect"), ("per-day-language", "rect"),
                            ("agency-by-language", "rect"), ("crawl-runs", "symbol")):
            assert _marks(browser, chart, mark), chart


def test_the_charts_screenshot_holds_every_chart(browser, site, tmp_path):
    browser.open(f"{site}/-/dashboards/archive")
    _marks(browser, "crawl-runs", "symbol")
    browser.screenshot(tmp_path / "charts.png", whole_page=True)
    bottom = browser.evaluate("""document.querySelector('#card-crawl-runs').getBoundingClientRect().bottom
        + scrollY""")
    png = (tmp_path / "charts.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    _, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: width, height
    assert height >= bottom > 1000  # the last chart is in the picture, below the first screen


def test_earlier_versions_open_the_readable_revisions(browser, site):
    browser.open(f"{site}/dw/articles/{SEED}")
    browser.open(browser.evaluate("document.querySelector('.dw-versions > a').href"))
    assert browser.evaluate("document.querySelector('h1').innerText") == "Revisions of an article"
    assert browser.on_first_screen("td.col-changed") == ["teaser"]
    assert "content_hash" not in browser.evaluate("document.body.innerText")


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


def test_a_line_break_inside_a_paragraph_or_caption_is_shown(browser, archive_db, tmp_path):
    """A `<br>` DW printed inside a paragraph or a caption is stored as a \\n (the extractor keeps
    it, tests/test_text_fidelity.py); the reading view shows it as a line break, not a space."""
    copy = tmp_path / "dw.db"
    with sqlite3.connect(archive_db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as conn:
        body, images = conn.execute("select body, images from articles where id = ?", [SEED]).fetchone()
        lines = "Kyiv, 5 December\nBerlin, 6 December"
        pictures = json.loads(images)
        pictures[0]["caption"] = "First line of the caption\nSecond line"
        conn.execute("update articles set body = ?, images = ? where id = ?",
                     [lines + "\n\n" + body, json.dumps(pictures), SEED])
    with datasette(copy) as base:
        browser.open(f"{base}/dw/articles/{SEED}")
        shown = browser.evaluate("[...document.querySelectorAll('article.dw-article p, figcaption')]"
                                 ".map(e => e.innerText)")
    assert lines in shown
    assert any(text.startswith("First line of the caption\nSecond line") for text in shown)
