"""Crawl health (issue 15): field coverage recorded per run; a field far below its recent level
marks the run degraded, exit 3."""

from __future__ import annotations

import json

import pytest

from crawler.health import FIELDS, coverage, degraded
from devtools.sitegen import write_site
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, last_run, running_mirror

FULL = dict.fromkeys(FIELDS, 1.0) | {"articles": 40, "authors": 0.8, "credit_line": 0.1}


@pytest.mark.parametrize("current, history, expected", [
    (FULL, [FULL] * 3, None),
    (FULL | {"authors": 0.0}, [FULL] * 3, "degraded: authors on 0% of 40 articles, 80% over the last 3 runs"),
    (FULL | {"authors": 0.5}, [FULL] * 3, None),  # lower, but not far below
    (FULL | {"authors": 0.0, "title": 0.2}, [FULL],
     "degraded: title on 20% of 40 articles, 100% over the last 1 run;"
     " authors on 0% of 40 articles, 80% over the last 1 run"),
    (FULL | {"credit_line": 0.0}, [FULL] * 3, None),  # usually rare: not judged
    (FULL | {"authors": 0.0, "articles": 9}, [FULL] * 3, None),  # too few articles to judge
    (FULL | {"authors": 0.0}, [FULL | {"articles": 5}] * 3, None),  # no baseline worth the name
    (FULL | {"authors": 0.0}, [], None),  # a first run
    (FULL | {"authors": 0.3}, [FULL, FULL, FULL | {"authors": 0.0}, FULL | {"authors": 0.0}],
     None),  # the median of recent runs has moved with an accepted change
])
def test_degraded(current, history, expected):
    assert degraded(current, history) == expected


def test_coverage_counts_articles_dropped_for_their_title_as_extracted_without_one():
    stats = {"spidermon_item_scraped_count/Article": 3, "dw/dropped/missing_title": 1,
             "spidermon_item_scraped_count/Article/title": 3,
             "spidermon_item_scraped_count/Article/authors": 2,
             "spidermon_item_scraped_count/Fetched/etag": 4}
    assert coverage(stats) == {"articles": 4, "title": 0.75, "body": 0.0, "published_at": 0.0,
                               "authors": 0.5, "agencies": 0.0, "images": 0.0, "credit_line": 0.0}
    assert coverage({}) == {}


def test_a_run_over_pages_that_lost_their_bylines_ends_degraded(tmp_path):
    spec = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
    site, db, log = tmp_path / "site", tmp_path / "dw.db", tmp_path / "access.log"
    langs = ("-a", "lang=en,de,ar,pt-br,es")
    write_site(spec, site)
    with running_mirror(site, log) as origin:
        first = crawl(Mirror(origin, log), db, *langs)
    assert first.returncode == 0, first.stderr[-2000:]
    before = last_run(db)
    assert before["outcome"] == "ok" and json.loads(before["coverage"])["authors"] > 0.3
    for article in spec["articles"]:
        article["authors"] = []  # a new layout the extractor cannot read bylines from
    write_site(spec, site)
    with running_mirror(site, log) as origin:
        second = crawl(Mirror(origin, log), db, *langs, "-a", "refresh=all")
    run = last_run(db)
    assert second.returncode == 3
    assert run["outcome"].startswith("degraded: authors on 0% of 31 articles")
    assert "authors" in second.stderr and "title" not in run["outcome"]
    assert json.loads(run["coverage"])["authors"] == 0.0


def test_runs_over_other_languages_are_no_baseline(tmp_path):
    # The README's cron recipe: a daily run over some languages, a weekly one over others.
    # Arabic sample pages carry no bylines; English ones do: a run over `ar` alone after runs
    # over `en` is not a layout change.
    spec = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
    for article in spec["articles"]:
        if article["language"] == "ar":
            article["authors"] = []
    site, db, log = tmp_path / "site", tmp_path / "dw.db", tmp_path / "access.log"
    write_site(spec, site)
    with running_mirror(site, log) as origin:
        mirror = Mirror(origin, log)
        english = crawl(mirror, db, "-a", "lang=en", "-s", "HEALTH_MIN_ARTICLES=3")
        arabic = crawl(mirror, db, "-a", "lang=ar", "-s", "HEALTH_MIN_ARTICLES=3")
    assert english.returncode == 0, english.stderr[-2000:]
    assert arabic.returncode == 0, arabic.stderr[-2000:]
    assert last_run(db)["outcome"] == "ok"
    assert json.loads(last_run(db)["coverage"])["authors"] == 0.0
