"""Given URLs and job directories through the real `scrapy crawl dw` against the mirror: the
inputs of `../shared/bugs/` 12 (finished job directory) and 13 (pasted URLs), and variants of
each kind written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED, needs_shared
from tests.crawling import Mirror, copy_site, crawl, last_run, running_mirror, served
from tests.crawling import archived_ids as ids

JOBDIR_SITE = SHARED / "bugs" / "12-finished-jobdir"
PASTED = SHARED / "bugs" / "13-pasted-urls"


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
        stopped = crawl(first, db, *args, "-s", "CLOSESPIDER_PAGECOUNT=6", "-s", "CONCURRENT_REQUESTS=1")
    assert stopped.returncode == 0  # a limit the user set is not a failure
    assert last_run(db)["outcome"].startswith("stopped: closespider_pagecount")
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


@needs_shared(JOBDIR_SITE)
def test_an_article_that_failed_before_a_stop_is_fetched_by_the_resumed_run(tmp_path):
    """A run stopped at a limit (or by a full archive or WARC folder) leaves in JOBDIR only the
    requests still queued: an article whose request failed (or was fetched but not stored) is not
    taken as done by the resumed run, which ended "ok" without it (found by a tester)."""
    site = copy_site(JOBDIR_SITE / "site", tmp_path / "site")
    db, job = tmp_path / "dw.db", tmp_path / "job"
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"/en/story-1/a-79100121": "status=503"}))
    args = ("-a", "lang=en", "-a", "sources=articles", "-s", f"JOBDIR={job}", "-s", "RETRY_TIMES=0")
    with running_mirror(site, tmp_path / "access-1.log", faults) as origin:
        first = Mirror(origin, tmp_path / "access-1.log")
        stopped = crawl(first, db, *args, "-s", "CLOSESPIDER_PAGECOUNT=6", "-s", "CONCURRENT_REQUESTS=1")
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert ("/en/story-1/a-79100121", 503) in first.requests()
    assert 0 < len(ids(db)) < 7
    assert 79100121 not in ids(db) and last_run(db)["stats"]["dw/failed/article/http_503"] == 1
    faults.write_text("{}")
    with served(site, tmp_path / "access-2.log") as second:
        run = crawl(second, db, *args)
    assert run.returncode == 0, run.stderr[-2000:]
    assert ids(db) == set(range(79100121, 79100129))
    assert "/en/story-1/a-79100121" in second.article_pages()


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
