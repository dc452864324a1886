"""Articles gone from DW (crawler/archive/gone.py): a listed article whose page answers 404/410
is counted as gone, not as a failure, remembered by the archive and not asked for again until a
listing dates it after the check (or `DW_GONE_RECHECK_DAYS` passed); a run in which every
article page answered 404 and they were many still fails (`crawler.outcome.every_article_gone`).

One mirror and one archive for the module: the crawls run in order, each test reads one.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler import dw
from crawler.archive import Archive, gone
from crawler.outcome import EXIT_FAILED, EXIT_OK, MANY_GONE, Run, judge
from devtools.sitegen import synthetic_spec, write_site
from tests.crawling import Mirror, crawl, last_run, query, running_mirror

GONE = 80_099_999  # listed in en/news-sitemap.xml, no page
GONE_URL = f"https://www.dw.com/en/removed-story/a-{GONE}"
GONE_SHORT_LINK = f"https://p.dw.com/p/{dw.encode_short_code(GONE)}"
NEWS = ["-a", "lang=en", "-a", "sources=news", "-s", "AUTOTHROTTLE_ENABLED=False"]


def _entry(url: str, date: str) -> str:
    return (f"<url><loc>{url}</loc><news:news><news:publication><news:name>DW</news:name>"
            "<news:language>en</news:language></news:publication>"
            f"<news:publication_date>{date}</news:publication_date><news:title>Gone</news:title>"
            "</news:news></url>\n")


def _redate(sitemap, article_id: int, date: str) -> None:
    """Give one entry of the sitemap a new publication date (DW changed the article)."""
    text = sitemap.read_text()
    entry = re.search(rf"<url><loc>[^<]*/a-{article_id}</loc>.*?</url>", text).group(0)
    sitemap.write_text(text.replace(entry, re.sub(
        r"<news:publication_date>[^<]*<", f"<news:publication_date>{date}<", entry)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The crawls, in order: {name: (run, archive)}."""
    base = tmp_path_factory.mktemp("gone")
    site, db, faults = base / "site", base / "dw.db", base / "faults.json"
    write_site(synthetic_spec(60), site)
    sitemap = site / "en" / "news-sitemap.xml"
    sitemap.write_text(sitemap.read_text().replace(
        "</urlset>", _entry(GONE_URL, "2026-01-01T01:00:00Z") + "</urlset>"))
    listed = re.findall(r"<loc>https://www\.dw\.com(/en/[^<]+/a-(\d+))</loc>", sitemap.read_text())
    faults.write_text("{}")
    done = {}
    log = base / "access.log"
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)

        def run(name, archive, *args):
            mirror.clear()
            result = crawl(mirror, archive, *args)
            # Its crawl_runs row and what the archive held as gone then: later runs change them.
            done[name] = result, last_run(archive), mirror.paths(), _gone_rows(archive)

        run("first", db, *NEWS)  # everything archived, the gone article found gone
        run("again", db, *NEWS)  # nothing new: the gone article not asked for
        # DW dates three again after the check: the gone one, an archived one that is now gone
        # too, and an archived one it still serves (a 304: the route answers, so the run's
        # gone articles are remembered).
        archived = int(listed[0][1])
        faults.write_text(json.dumps({listed[0][0]: "status=404"}))
        later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for article_id in (GONE, archived, int(listed[1][1])):
            _redate(sitemap, article_id, later)
        done["before redated"] = _versions(db, archived)
        # Checks are dated to the second: a second later, the re-check's date is later than the
        # first one's (forked crawls can otherwise run both within one second).
        time.sleep(1.0)
        run("redated", db, *NEWS)
        done["after redated"] = _versions(db, archived)
        run("asked by urls", db, "-a", f"urls={GONE_URL}", "-s", "AUTOTHROTTLE_ENABLED=False")
        # The same article asked for by its short link, which answers 404 (another archive).
        run("asked by short link", base / "short.db", "-a", f"urls={GONE_SHORT_LINK}",
            "-s", "AUTOTHROTTLE_ENABLED=False")
        faults.write_text("{}")  # DW serves the archived article again
        run("back", db, "-a", f"urls=https://www.dw.com{listed[0][0]}", "-a", "refresh=all",
            "-s", "AUTOTHROTTLE_ENABLED=False")
        # Another archive, and every article page answers 404: a broken route.
        faults.write_text(json.dumps({path: "status=404" for path, _ in listed}))
        run("every page 404", base / "broken.db", *NEWS)
    done["archived"] = archived
    return done


def _versions(db, article_id: int) -> list[tuple]:
    """An article's row and every revision of it, as stored."""
    return (query(db, "SELECT * FROM articles WHERE id = ?", article_id)
            + query(db, "SELECT * FROM revisions WHERE article_id = ? ORDER BY id", article_id))


def _gone_rows(db) -> dict[int, tuple]:
    return {row[0]: row[1:] for row in query(db, "SELECT * FROM gone_articles")}


def test_a_listed_article_that_is_gone_is_counted_gone_and_the_run_is_ok(runs):
    run, row, paths, remembered = runs["first"]
    assert run.returncode == EXIT_OK, run.stderr[-2000:]
    assert (row["outcome"], row["gone"], row["failed"]) == ("ok", 1, 0)
    assert row["stats"]["dw/gone/http_404"] == 1 and "dw/failed/article/http_404" not in row["stats"]
    # Logged once, with its URL; remembered with the status and when it was asked.
    assert run.stderr.count(f"Article {GONE} is gone (HTTP 404, from news): {GONE_URL}") == 1
    url, status, first, checked = remembered[GONE]
    assert (url, status, first) == (GONE_URL, 404, checked)
    assert "'gone/http_404': 1" in run.stderr  # among the closing line's reasons


def test_a_later_run_does_not_ask_again_for_a_gone_article(runs):
    run, row, paths, remembered = runs["again"]
    assert run.returncode == EXIT_OK, run.stderr[-2000:]
    assert not [p for p in paths if p.endswith(f"/a-{GONE}")]
    assert row["outcome"] == "ok" and row["stats"]["dw/skipped/gone"] == 1
    assert remembered == runs["first"][3]  # unchanged: not asked
    assert "is gone" not in run.stderr


def test_a_gone_article_dated_after_its_check_is_asked_again_and_nothing_archived_is_lost(runs):
    run, row, paths, rows = runs["redated"]
    archived = runs["archived"]
    assert run.returncode == EXIT_OK, run.stderr[-2000:]
    assert len([p for p in paths if p.endswith(f"/a-{GONE}")]) == 1
    assert (row["outcome"], row["gone"], row["not_modified"]) == ("ok", 2, 1)
    _, _, first, checked = rows[GONE]
    assert first == runs["first"][3][GONE][2] < checked  # first found gone kept; last asked moved on
    assert rows[archived][1] == 404
    # The archived article that went 404 keeps its row and every revision, unchanged.
    assert runs["after redated"] == runs["before redated"] != []


def test_a_gone_article_asked_for_by_url_is_still_a_failure(runs):
    run, row, paths, _ = runs["asked by urls"]
    assert [p for p in paths if "/a-" in p] == [f"/en/removed-story/a-{GONE}"]
    assert run.returncode == EXIT_FAILED
    assert run.stderr.strip().splitlines()[-1] == "dw crawl failed: 1 articles to fetch and none fetched"
    assert row["stats"]["dw/failed/article/http_404"] == 1 and "dw/gone" not in row["stats"]


def test_a_short_link_asked_for_that_answers_404_is_a_failure_too(runs):
    """README: an article asked for with `urls=` or a short link that answers 404 is a failure,
    as any other (it was `ok`, `failed 0`, exit 0: tester try28, item 1)."""
    run, row, paths, _ = runs["asked by short link"]
    assert [p for p in paths if p != "/robots.txt"] == [f"/p/{dw.encode_short_code(GONE)}"]
    assert run.returncode == EXIT_FAILED
    assert run.stderr.strip().splitlines()[-1] == "dw crawl failed: 1 articles to fetch and none fetched"
    assert (row["found"], row["failed"], row["gone"]) == (1, 1, 0)
    assert row["stats"]["dw/failed/short_links/http_404"] == 1 and "dw/gone" not in row["stats"]
    assert re.search(r"found 1, fetched 0, .*failed 1, gone 0;", run.stderr)


def test_an_article_that_answers_again_is_no_longer_gone(runs):
    run, row, paths, remembered = runs["back"]
    assert run.returncode == EXIT_OK, run.stderr[-2000:]
    assert runs["archived"] in runs["asked by urls"][3] and runs["archived"] not in remembered
    assert GONE in remembered


def test_a_run_where_every_article_page_answered_404_fails_and_remembers_nothing(runs):
    run, row, paths, remembered = runs["every page 404"]
    found = len([p for p in paths if "/a-" in p])
    assert found >= MANY_GONE
    said = (f"every article page answered 404 or 410 ({found} of {found} found, none fetched): is"
            " DW_ORIGIN serving another site, or a route broken?")
    assert run.returncode == EXIT_FAILED
    assert run.stderr.strip().splitlines()[-1] == f"dw crawl failed: {said}"
    assert row["outcome"] == said
    # Not remembered: once the route is mended, the next run asks for every one of them.
    assert remembered == {}
    assert "not remembered as gone, the next run asks for them again" in run.stderr


# -- the rules, as functions --------------------------------------------------------------------

LISTED = {"dw/discovery/requested": 1, "dw/discovery/entries": 40}


@pytest.mark.parametrize(("counts", "status", "text"), [
    # The tester's case: one listed article gone, the archive has the rest: ok, every run.
    ({"dw/found": 1, "dw/gone": 1}, "ok", "ok"),
    ({"dw/found": 5, "dw/gone": 1, "dw/not_modified": 4}, "ok", "ok"),
    ({"dw/found": MANY_GONE - 1, "dw/gone": MANY_GONE - 1}, "ok", "ok"),
    ({"dw/found": 40, "dw/gone": 39, "dw/fetched": 1}, "ok", "ok"),
    ({"dw/found": MANY_GONE, "dw/gone": MANY_GONE}, "failed",
     f"every article page answered 404 or 410 ({MANY_GONE} of {MANY_GONE} found, none fetched): is"
     " DW_ORIGIN serving another site, or a route broken?"),
    ({"dw/found": 30, "dw/gone": 25, "dw/failed": 5}, "failed",
     "every article page answered 404 or 410 (25 of 30 found, none fetched): is DW_ORIGIN serving"
     " another site, or a route broken?"),
    # Gone articles are not failures, nor what a failure's share is taken of.
    ({"dw/found": 3, "dw/gone": 1, "dw/failed": 2}, "failed",
     "2 articles to fetch and none fetched (1 more gone)"),
    ({"dw/found": 10, "dw/gone": 4, "dw/fetched": 2, "dw/failed": 4}, "failed",
     "most article requests failed (4 of 6)"),
    ({"dw/found": 10, "dw/gone": 4, "dw/fetched": 3, "dw/failed": 3}, "ok", "ok"),
])
def test_gone_articles_in_the_outcome(counts, status, text):
    outcome = judge(Run("finished", LISTED | counts))
    assert (outcome.status, outcome.text) == (status, text)


def test_many_gone_and_none_fetched_fails_at_a_users_limit_too():
    outcome = judge(Run("closespider_timeout", LISTED | {"dw/found": 50, "dw/gone": 12}))
    assert outcome.status == "failed" and outcome.text.startswith("every article page answered 404")


@pytest.mark.parametrize(("checked", "changed", "cutoff", "asked"), [
    ("2026-12-06T04:00:00Z", None, "2026-11-06T04:00:00Z", False),
    ("2026-12-06T04:00:00Z", "2026-12-06T03:59:59Z", "2026-11-06T04:00:00Z", False),
    ("2026-12-06T04:00:00Z", "2026-12-06T04:00:00Z", "2026-11-06T04:00:00Z", False),
    ("2026-12-06T04:00:00Z", "2026-12-06T04:00:01Z", "2026-11-06T04:00:00Z", True),  # dated after
    ("2026-11-01T00:00:00Z", None, "2026-11-06T04:00:00Z", True),  # checked too long ago
])
def test_asked_again(checked, changed, cutoff, asked):
    assert gone.asked_again(checked, changed, cutoff) is asked


_moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda moment: moment.replace(microsecond=0, tzinfo=UTC))


@given(_moments, st.none() | _moments, _moments, st.floats(min_value=0, max_value=3650))
def test_asked_again_is_the_rule_in_time(checked, changed, now, days):
    form = "%Y-%m-%dT%H:%M:%SZ"
    cutoff = gone.recheck_cutoff(now, days)
    asked = gone.asked_again(checked.strftime(form), changed and changed.strftime(form), cutoff)
    too_old = checked < datetime.strptime(cutoff, form).replace(tzinfo=UTC)
    assert asked == ((changed is not None and changed > checked) or too_old)
    if days == 0:
        assert asked == (checked < now or (changed is not None and changed > checked))


@pytest.mark.parametrize(("value", "refused"), [
    ("30", False), ("0", False), ("0.5", False), ("7", False), (30.0, False),
    ("-1", True), ("abc", True), ("", True), ("nan", True), ("inf", True), ("+7", True),
])
def test_the_recheck_setting_is_checked(value, refused):
    from scrapy.settings import Settings

    from crawler import setting_checks

    said = setting_checks.problem(Settings({"DW_GONE_RECHECK_DAYS": value}), ["DW_GONE_RECHECK_DAYS"])
    assert (said is not None) == refused
    if refused:
        too_small = f"DW_GONE_RECHECK_DAYS={value} is less than the least, 0; give"
        no_number = f"DW_GONE_RECHECK_DAYS={value} is not a number of days"
        assert said.startswith(too_small if value == "-1" else no_number)


def test_the_archive_remembers_and_forgets_gone_articles(tmp_path):
    archive = Archive(tmp_path / "dw.db")
    db = archive.db.conn
    gone.record(db, [gone.Gone(1, "https://www.dw.com/en/a/a-1", 404, "2026-12-01T00:00:00Z"),
                     gone.Gone(2, "https://www.dw.com/en/b/a-2", 410, "2026-12-01T00:00:00Z")], [])
    gone.record(db, [gone.Gone(1, "https://www.dw.com/en/a/a-1", 410, "2026-12-05T00:00:00Z")], [2])
    assert gone.load(db) == {1: "2026-12-05T00:00:00Z"}
    assert query(tmp_path / "dw.db", "SELECT * FROM gone_articles") == [
        (1, "https://www.dw.com/en/a/a-1", 410, "2026-12-01T00:00:00Z", "2026-12-05T00:00:00Z")]
    archive.close()


def test_an_older_archive_gains_what_gone_articles_need(tmp_path):
    path = tmp_path / "old.db"
    Archive(path).close()
    with sqlite3.connect(path) as conn:  # as an archive made before gone articles were kept
        conn.execute("DROP TABLE gone_articles")
        conn.execute("ALTER TABLE crawl_runs DROP COLUMN gone")
    Archive(path).close()
    assert query(path, "SELECT count(*) FROM gone_articles") == [(0,)]
    assert "gone" in [row[1] for row in query(path, "PRAGMA table_info(crawl_runs)")]
