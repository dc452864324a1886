"""Captures dated in the future (#27, the tester's finding 4), through the real commands: a crawl
of the mirror, `python -m crawler.reextract` of warcio-written WARCs, the crawl again.

A capture with `WARC-Date: 2099-01-01` was imported as the article's newest fetch: the article
showed its text for ever, since no later fetch could be newer, and the next real crawl, whose
content differed, was counted `unchanged`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.dates import in_the_future
from devtools.demo import crawl_command
from devtools.sitegen import render_article, url_of
from tests.crawling import last_run, query, running_mirror
from tests.hostile import articles, measured, write_hostile_site


def forged_warc(path, article: dict, date: str) -> None:
    """One response for `article`'s URL dated `date`, its headline changed."""
    body = render_article(article).replace(article["title"], "FORGED " + article["title"]).encode()
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url_of(article), "response", payload=BytesIO(body), length=len(body), http_headers=http,
            warc_headers_dict={"WARC-Date": date}))


def reextract(archive, warc) -> dict:
    run = measured([sys.executable, "-m", "crawler.reextract", "--archive", str(archive), "--workers", "1",
                    str(warc)], timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.cpu_seconds < 60 and run.peak_mib < 600
    return json.loads(run.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("future")
    spec = articles(2, first_id=82_000_000)
    write_hostile_site(tmp / "site", spec, {})
    db = tmp / "dw.db"
    with running_mirror(tmp / "site", tmp / "access.log") as origin:
        yield tmp, spec, db, lambda *args: measured(crawl_command(origin, db, *args))


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_future_is_later_than_now_by_more_than_a_clock_skew():
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert in_the_future("2099-01-01T00:00:00Z", now)
    assert in_the_future("2026-12-05T12:11:00Z", now)
    assert not in_the_future("2026-12-05T12:09:00Z", now)  # clocks a few minutes apart
    assert not in_the_future("2026-12-05T11:00:00Z", now)
    assert not in_the_future("", now) and not in_the_future(None, now)


def test_a_capture_dated_in_the_future_is_skipped_and_counted(site):
    tmp, spec, db, crawl = site
    first = crawl("-a", f"urls={url_of(spec[0])}")
    assert first.returncode == 0, first.stderr[-2000:]
    forged_warc(tmp / "2099.warc.gz", spec[0], "2099-01-01T00:00:00Z")
    counts = reextract(db, tmp / "2099.warc.gz")
    assert counts["skipped/future_date"] == 1 and "updated" not in counts
    assert query(db, "SELECT title, last_seen_at < '2030' FROM articles WHERE id = ?", spec[0]["id"]) == [
        (spec[0]["title"], 1)]
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]


def test_a_fetch_older_than_the_stored_version_with_other_content_is_never_unchanged(site):
    tmp, spec, db, crawl = site
    article = spec[1]
    assert crawl("-a", f"urls={url_of(article)}").returncode == 0
    # A capture a few minutes ahead (within the clocks' tolerance) stores other content...
    forged_warc(tmp / "ahead.warc.gz", article, stamp(timedelta(minutes=5)))
    assert reextract(db, tmp / "ahead.warc.gz")["updated"] == 1
    # ... so the crawl's fetch now is older than the stored version, and its content differs.
    run = crawl("-a", f"urls={url_of(article)}", "-a", "refresh=all")
    assert run.returncode == 0, run.stderr[-2000:]
    stats = last_run(db)["stats"]
    assert stats.get("dw/articles/unchanged", 0) == 0, stats
    assert stats["dw/articles/older"] == 1
    # The stored version is the newest fetch's; the crawl's fetch is a sighting in its time.
    stored = query(db, "SELECT title FROM articles WHERE id = ?", article["id"])
    assert stored == [("FORGED " + article["title"],)]
    (sightings,) = query(db, "SELECT count(*) FROM sightings WHERE article_id = ?", article["id"])[0]
    assert sightings == 3
