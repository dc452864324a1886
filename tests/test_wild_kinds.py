"""What the wild serves, round 3 (issue 22), each kind through the real path: `scrapy crawl dw`
against a loopback server that behaves exactly so (`tests/wire.py`, or the mirror),
`python -m crawler.reextract`, datasette's agency page; the many variants of each kind as tests
of the pure functions that read them.

Kinds: `Retry-After` as an HTTP-date; `xml:base` in feeds and sitemaps; WARC payload digests
in both the standard's form and the older one, and other tools' encodings; response heads
captured byte for byte; the old layout's "Read more:" cross-links; photo credits in every
form; and a run that loses more than half of what it found is not "ok", at any size.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from crawler.dates import http_date
from crawler.middlewares import retry_after
from tests.conftest import SHARED, needs_shared
from tests.crawling import archived_ids, crawl, last_run
from tests.wire import http_date as format_http_date
from tests.wire import response, serving

BUGS = SHARED / "bugs"
RETRY = BUGS / "19-retry-after-date"


def last_line(run) -> str:
    lines = run.stderr.strip().splitlines()
    return lines[-1] if lines else ""


# -- Retry-After: seconds or an HTTP-date (RFC 9110 §10.2.3) --------------------------------------

NOW = datetime(2026, 12, 5, 15, 58, 0, tzinfo=UTC)


@pytest.mark.parametrize("value, seconds", [
    ("Sat, 05 Dec 2026 15:58:40 GMT", 40),  # IMF-fixdate
    ("Saturday, 05-Dec-26 15:58:40 GMT", 40),  # RFC 850, obsolete but to be accepted
    ("Sat Dec  5 15:58:40 2026", 40),  # asctime: no zone, GMT
    ("sat, 05 dec 2026 15:58:40 gmt", 40),  # case
    ("Sat, 5 Dec 2026 15:58:40 GMT", 40),  # one-digit day
    ("Sat, 05 Dec 2026 16:58:40 +0100", 40),  # an offset instead of GMT (lenient)
    ("Sat, 05 Dec 2026 16:58:40 CET", 40),
    ("Sat, 05 Dec 2026 10:58:40 EST", 40),
    ("Sat, 05 Dec 2026 15:58:40 UTC", 40),
    ("Sat, 05 Dec 2026 15:57:00 GMT", 0),  # already past: no wait
    ("  Sat, 05 Dec 2026 15:59:00 GMT ", 60),
    ("120", 120), ("0", 0), (" 7 ", 7),
])
def test_retry_after_reads_both_forms(value, seconds):
    asked = retry_after(value.encode("latin-1"), now=NOW)
    assert asked is not None and asked.seconds == seconds


@pytest.mark.parametrize("value", ["soon", "Sat, 05 Dec 2026 15:58:40 XYZ", "-", "nan", "inf",
                                   "Sat, 45 Dec 2026 15:58:40 GMT"])
def test_retry_after_that_is_neither_form_is_unreadable(value):
    asked = retry_after(value, now=NOW)
    assert asked is not None and asked.seconds is None and asked.asked == value


def test_no_retry_after_asks_nothing():
    assert retry_after(None) is None and retry_after(b"") is None


def test_a_retry_after_date_is_measured_from_the_response_date():
    # The server's clock says 15:58:30: 10 s to wait, whatever this machine's clock says.
    asked = retry_after(b"Sat, 05 Dec 2026 15:58:40 GMT", b"Sat, 05 Dec 2026 15:58:30 GMT", now=NOW)
    assert asked.seconds == 10
    unreadable_date = retry_after(b"Sat, 05 Dec 2026 15:58:40 GMT", b"yesterday", now=NOW)
    assert unreadable_date.seconds == 40


@pytest.mark.parametrize("value, expected", [
    ("Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37"),
    ("Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37"),
    ("Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37"),
    # A two-digit year more than 50 years ahead is the last such year past (2080 -> 1980).
    ("Monday, 01-Jan-80 00:00:00 GMT", "1980-01-01T00:00:00"),
    ("Tuesday, 01-Jan-30 00:00:00 GMT", "2030-01-01T00:00:00"),
])
def test_http_date_reads_the_three_forms_of_rfc_9110(value, expected):
    assert http_date(value) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "2026-12-05", "120", "Sun, 06 Nov 1994 08:49:37 QQT", "never"])
def test_http_date_refuses_what_is_no_instant(value):
    assert http_date(value) is None


def _retry_page(content_id: int) -> bytes:
    return (RETRY / f"a-{content_id}.html").read_bytes()


WINDOW = 3.0  # seconds each path answers 503 after its first request


@pytest.fixture(scope="module")
def retried(tmp_path_factory):
    """One crawl of four articles, each first answered 503 with a `Retry-After` of one form:
    an HTTP-date just after the path's 503 window ends (79100191), seconds (79100192), a date an
    hour ahead, over the cap (79100193), and text that is neither (79100194).

    Scrapy's own schedule here (0.2 s, 0.4 s, 0.8 s) would give up inside the window: only a
    wait as long as the header asks gets the first two."""
    work = tmp_path_factory.mktemp("retry")
    pages = {79100191: _retry_page(79100191), 79100192: _retry_page(79100192),
             79100193: _retry_page(79100191).replace(b"79100191", b"79100193"),
             79100194: _retry_page(79100191).replace(b"79100191", b"79100194")}

    def respond(hit):
        content_id = int(hit.path.rsplit("-", 1)[1]) if "/a-" in hit.path else None
        if content_id not in pages:
            return None
        until = hit.first_at + WINDOW
        ok = response("200 OK", [("Content-Type", "text/html; charset=utf-8")], pages[content_id])
        busy = {79100191: format_http_date(until + 1), 79100192: str(int(WINDOW) + 1),
                79100193: format_http_date(hit.at + 3600), 79100194: "whenever you like"}[content_id]
        if content_id in (79100193, 79100194):
            until = hit.first_at  # one 503, then served
        if hit.number > 1 and hit.at >= until:
            return ok
        return response("503 Service Unavailable", [("Date", format_http_date(hit.at)),
                                                    ("Retry-After", busy)], b"busy")

    urls = ",".join(f"https://www.dw.com/en/storm-warning/a-{i}" for i in pages)
    with serving(respond) as wire:
        started = time.monotonic()
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}", "-s", "RETRY_BACKOFF_BASE=0.2",
                    "-s", "RETRY_BACKOFF_MAX=5")
        took = time.monotonic() - started
    return run, work / "dw.db", wire, took


@needs_shared(RETRY)
def test_a_retry_after_date_is_waited_out_and_the_article_archived(retried):
    run, db, wire, _ = retried
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == {79100191, 79100192, 79100193, 79100194}
    for content_id in (79100191, 79100192):  # asked to wait past the window: one retry, in time
        hits = [h for h in wire.hits if h.path.endswith(f"a-{content_id}")]
        assert len(hits) == 2, [(h.path, h.at - hits[0].at) for h in hits]
        assert hits[1].at >= hits[0].at + WINDOW


@needs_shared(RETRY)
def test_retry_after_stats_count_only_what_was_done(retried):
    run, db, wire, _ = retried
    stats = last_run(db)["stats"]
    assert stats["dw/retry/retry_after_honoured"] == 2  # the date and the seconds: waited as asked
    assert stats["dw/retry/retry_after_capped"] == 1  # an hour asked, the 5 s cap waited
    assert stats["dw/retry/retry_after_unreadable"] == 1
    assert "Unreadable Retry-After 'whenever you like'" in run.stderr
    capped = [h for h in wire.hits if h.path.endswith("a-79100193")]
    assert len(capped) == 2 and capped[1].at - capped[0].at >= 5
