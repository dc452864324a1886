"""Politeness as servers ask for it, through the real `scrapy crawl dw` against a loopback server
that answers exactly so (`tests/wire.py`): robots.txt obeyed for every request, also those
made while it is still being fetched; `Retry-After` read as RFC 9110 writes it (delay-seconds
or a full HTTP-date; anything else is our own backoff, counted apart), huge values capped, a
wait counted only once the retry went out after it; a 429 slowing the whole host; a stop
(SIGTERM) during a wait taking effect at once. The forms of the header are tested on the pure
function that reads them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from scrapy.exceptions import IgnoreRequest

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import archived_ids, crawl, last_run
from tests.wire import content_id_of, ok, response, serving

# -- robots.txt, for every request --------------------------------------------------------------

FORBIDDEN = range(79900010, 79900020)


@pytest.fixture(scope="module")
def robots_crawl(tmp_path_factory):
    """Ten articles under `/en/`, which robots.txt disallows; robots.txt comes a second late,
    so that every article request is made while it is still being fetched."""
    work = tmp_path_factory.mktemp("robots")
    urls = ",".join(f"https://www.dw.com/en/story/a-{i}" for i in FORBIDDEN)
    with serving(lambda hit: ok(content_id_of(hit.path)) if content_id_of(hit.path) else None,
                 robots=b"User-agent: *\nDisallow: /en/\n", robots_after=1.0) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}")
    return run, work / "dw.db", wire


def test_no_request_robots_txt_forbids_is_made_while_it_is_fetched(robots_crawl):
    run, db, wire = robots_crawl
    assert [p for p in wire.paths() if p.startswith("/en/")] == []
    assert wire.paths() == ["/robots.txt"]
    assert last_run(db)["stats"]["robotstxt/forbidden"] == len(FORBIDDEN)
    assert archived_ids(db) == set()


# -- robots.txt that cannot be read: nothing fetched (RFC 9309 §2.3.1.4) ---------------------------

@pytest.fixture(scope="module")
def unreadable_robots_crawl(tmp_path_factory):
    """The same ten articles, robots.txt answering 503 (retried as Scrapy retries a 503)."""
    work = tmp_path_factory.mktemp("robots503")
    urls = ",".join(f"https://www.dw.com/en/story/a-{i}" for i in FORBIDDEN)
    with serving(lambda hit: ok(content_id_of(hit.path)) if content_id_of(hit.path) else None,
                 robots=b"<html>Service Unavailable</html>", robots_status="503 Service Unavailable") as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}", "-s", "RETRY_TIMES=1",
                    "-s", "RETRY_BACKOFF_BASE=0.05")
    return run, work / "dw.db", wire


def test_an_unreadable_robots_txt_lets_nothing_be_fetched_and_the_run_says_so(unreadable_robots_crawl):
    """On main a 503 (or a network error, or a transfer damaged on every try) was taken as "no
    robots.txt": every path it may forbid was fetched, and the run ended ok (tester-try27 item 3)."""
    run, db, wire = unreadable_robots_crawl
    assert wire.paths() == ["/robots.txt", "/robots.txt"]  # tried twice (RETRY_TIMES=1), no page
    row = last_run(db)
    said = (f"robots.txt of {wire.origin} could not be read (503): nothing fetched from it, as RFC"
            " 9309 asks")
    assert row["outcome"] == said
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == f"dw crawl failed: {said}"
    stats = row["stats"]
    assert stats["dw/robotstxt/unreachable"] == 1
    assert stats["dw/failed/article/robots_txt_unreachable"] == len(FORBIDDEN)
    assert run.stderr.count(f"WARNING: robots.txt of {wire.origin} could not be read (503): nothing is"
                            " fetched from it, as RFC 9309 asks") == 1  # once for the origin
    assert archived_ids(db) == set()


@pytest.mark.parametrize(("status", "allowed"), [(503, False), (500, False), (599, False),
                                                 (404, True), (403, True), (401, True), (410, True)])
def test_a_robots_txt_answering_5xx_disallows_everything_and_4xx_nothing(status, allowed):
    """RFC 9309 §2.3.1.3-4; a 4xx page's body is no rules, even one that reads as rules."""
    import asyncio

    from scrapy.http import HtmlResponse, Request
    from scrapy.utils.test import get_crawler
    from twisted.internet.defer import Deferred

    from crawler.middlewares import RobotsTxtMiddleware

    crawler = get_crawler(settings_dict={"ROBOTSTXT_OBEY": True})
    middleware = RobotsTxtMiddleware(crawler)
    middleware._parsers["127.0.0.1:9"] = Deferred()
    robots = HtmlResponse("http://127.0.0.1:9/robots.txt", status=status,
                          body=b"User-agent: *\nDisallow: /\n")
    page = Request("http://127.0.0.1:9/en/story/a-1")
    asyncio.run(middleware._parse_robots(robots, "127.0.0.1:9", page))
    if allowed:
        middleware.process_request_2(middleware._parsers["127.0.0.1:9"], page)
    else:
        with pytest.raises(IgnoreRequest, match=rf"robots.txt could not be read \({status}\)"):
            middleware.process_request_2(middleware._parsers["127.0.0.1:9"], page)
    assert crawler.stats.get_value("dw/robotstxt/unreachable") == (None if allowed else 1)


def _scrapy_errors() -> list:
    from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError, DownloadTimeoutError
    from twisted.internet import error

    return [(DownloadConnectionRefusedError(), "DownloadConnectionRefusedError", "connection refused"),
            (CannotResolveHostError(), "CannotResolveHostError", "its host name could not be resolved"),
            (error.DNSLookupError(), "DNSLookupError", "its host name could not be resolved"),
            (DownloadTimeoutError(), "DownloadTimeoutError", "no answer in time"),
            (error.TCPTimedOutError(), "TCPTimedOutError", "no answer in time")]


@pytest.mark.parametrize(("error", "why", "words"), [
    (TimeoutError(), "TimeoutError", "no answer in time"),
    (ConnectionRefusedError(), "ConnectionRefusedError", "connection refused"), *_scrapy_errors()])
def test_a_robots_txt_that_could_not_be_downloaded_disallows_everything(error, why, words):
    from scrapy.http import Request
    from scrapy.utils.test import get_crawler
    from twisted.internet.defer import Deferred

    from crawler import codings
    from crawler.middlewares import DamagedResponse, RobotsTxtMiddleware

    crawler = get_crawler(settings_dict={"ROBOTSTXT_OBEY": True})
    middleware = RobotsTxtMiddleware(crawler)
    for netloc, exc, reason in (("a:1", error, why),
                                ("b:1", DamagedResponse("http://b:1/robots.txt", codings.Damaged(
                                    "gzip", "crc"), 4), "damaged_gzip")):
        waiting = middleware._parsers[netloc] = Deferred()
        handed: list = []
        waiting.addCallback(handed.append)
        middleware._robots_error(exc, netloc)
        assert handed and handed[0] is not None  # those waiting are refused too
        with pytest.raises(IgnoreRequest, match=rf"robots.txt could not be read \({reason}\)"):
            middleware.process_request_2(handed[0], Request(f"http://{netloc}/en/x/a-1"))
    assert crawler.stats.get_value("dw/robotstxt/unreachable") == 2
    # Nothing answered at a:1 (tester try28, item 5): the origin is named, not its robots.txt.
    assert crawler.stats.get_value("dw/robotstxt/unreachable_origins") == (
        f"the origin http://a:1 could not be reached ({words}): robots.txt could not be read;"
        " robots.txt of http://b:1 could not be read (damaged_gzip)")
    # Refused on our side (too many redirects, off the origins): no robots.txt, as Scrapy reads it.
    middleware._parsers["c:1"] = Deferred()
    middleware._robots_error(IgnoreRequest("max redirections reached"), "c:1")
    assert middleware._parsers["c:1"] is None
    middleware.process_request_2(None, Request("http://c:1/en/x/a-1"))
    assert crawler.stats.get_value("dw/robotstxt/unreachable") == 2


def test_an_origin_where_nothing_answers_is_named_as_such_not_its_robots_txt(tmp_path):
    """A DW_ORIGIN nothing listens on: the run fails naming the origin and why (it named
    robots.txt and `DownloadConnectionRefusedError`: tester try28, item 5)."""
    from devtools.archives import free_port
    from tests.crawling import Mirror, crawl

    origin = f"http://127.0.0.1:{free_port()}"  # closed again: nothing listens there
    run = crawl(Mirror(origin, tmp_path / "access.log"), tmp_path / "dw.db", "-a", "lang=en",
                "-a", "sources=news", "-s", "RETRY_TIMES=0")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == (
        f"dw crawl failed: the origin {origin} could not be reached (connection refused): robots.txt"
        " could not be read: nothing fetched from it, as RFC 9309 asks")


# -- Retry-After: delay-seconds or a full HTTP-date, nothing else (RFC 9110 §10.2.3) --------------

NOW = datetime(2026, 12, 5, 15, 58, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [
    "-10", "-1", "+5", "1.5", "4.0", "5 (seconds)", "5s", "1e3", "0x10", "٣", "３",  # no delay-seconds
    "12:00", "15:58:40", "Dec 2026", "Sat, 05 Dec 2026", "05 Dec 2026",  # no full date and time
    "2026-12-05T15:58:40Z",
    "Sat, 05 Dec 2026 15:58:40 XYZ", "tomorrow at noon",
])
def test_a_retry_after_that_is_neither_form_is_unreadable(value):
    from crawler.middlewares import retry_after

    asked = retry_after(value.encode("utf-8"), now=NOW)
    assert asked is not None and asked.seconds is None


@pytest.mark.parametrize("value, seconds", [
    ("0", 0), ("007", 7), ("120", 120), ("9" * 15, 999_999_999_999_999),
    ("9" * 400, 10**15), ("9" * 5000, 10**15),  # any number of digits: read, then capped
    ("Sat, 05 Dec 2026 15:58:40 GMT", 40), ("Saturday, 05-Dec-26 15:58:40 GMT", 40),
    ("Sat Dec  5 15:58:40 2026", 40), ("Sat, 05 Dec 2026 15:59 GMT", 60),
])
def test_delay_seconds_of_any_length_and_full_dates_are_read(value, seconds):
    from crawler.middlewares import retry_after

    assert retry_after(value, now=NOW).seconds == seconds


BUSY = 2.0  # seconds each of these paths answers 503 after its first request
UNREADABLE = {79900031: "-10", 79900032: "-1", 79900033: "12:00", 79900034: "Dec 2026",
              79900035: "1.5", 79900036: "5 (seconds)"}
HUGE = 79900037  # Retry-After: 400 nines, then served


@pytest.fixture(scope="module")
def unreadable_crawl(tmp_path_factory):
    """Six articles busy for BUSY seconds, each 503 carrying a Retry-After of neither form, and
    one whose Retry-After is 400 digits long. Our own backoff (0.4, 0.8, 1.6 s) outlasts the
    busy spell; no wait at all would spend every retry inside it."""
    work = tmp_path_factory.mktemp("retry-forms")

    def respond(hit):
        content_id = content_id_of(hit.path)
        if content_id == HUGE:
            return ok(HUGE) if hit.number > 1 else response(
                "503 Service Unavailable", [("Retry-After", "9" * 400)], b"busy")
        if content_id not in UNREADABLE:
            return None
        if hit.number > 1 and hit.at >= hit.first_at + BUSY:
            return ok(content_id)
        return response("503 Service Unavailable", [("Retry-After", UNREADABLE[content_id])], b"busy")

    urls = ",".join(f"https://www.dw.com/en/story/a-{i}" for i in [*UNREADABLE, HUGE])
    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}", "-s", "RETRY_BACKOFF_BASE=0.4",
                    "-s", "RETRY_BACKOFF_MAX=3")
    return run, work / "dw.db", wire


def test_an_unreadable_retry_after_gets_our_own_backoff(unreadable_crawl):
    run, db, wire = unreadable_crawl
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == {*UNREADABLE, HUGE}
    for content_id in UNREADABLE:  # (the capped one's pause of the host may add to the waits)
        times = [h.at for h in wire.hits if content_id_of(h.path) == content_id]
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert times[-1] - times[0] >= BUSY and 2 <= len(times) <= 4, gaps
        assert all(gap >= least for gap, least in zip(gaps, (0.4, 0.8, 1.6), strict=False)), gaps


def test_unreadable_and_capped_retry_afters_are_counted_apart(unreadable_crawl):
    run, db, wire = unreadable_crawl
    stats = last_run(db)["stats"]
    busy_answers = sum(1 for h in wire.hits if content_id_of(h.path) in UNREADABLE) - len(UNREADABLE)
    assert stats["dw/retry/retry_after_unreadable"] == busy_answers  # every 503 but none served
    assert stats["dw/retry/retry_after_capped"] == 1
    assert "dw/retry/retry_after_honoured" not in stats
    for value in UNREADABLE.values():
        assert f"Unreadable Retry-After {value!r}" in run.stderr
    huge = [h.at for h in wire.hits if content_id_of(h.path) == HUGE]
    assert len(huge) == 2 and huge[1] - huge[0] >= 3  # the cap, not "unreadable, 0.4 s"


# -- a 429 slows the whole host; a stop during a wait is prompt ----------------------------------

LIMITED = 79900041  # answers 429 with Retry-After: PAUSE to its first request
OTHERS = range(79900042, 79900047)
PAUSE = 2
GAP = 0.3  # DOWNLOAD_DELAY: the host's pace before the 429


@pytest.fixture(scope="module")
def rate_limited(tmp_path_factory):
    """Seven articles fetched one at a time, GAP seconds apart; the first request is answered
    429 with `Retry-After: 2`."""
    work = tmp_path_factory.mktemp("429")

    def respond(hit):
        content_id = content_id_of(hit.path)
        if content_id == LIMITED and hit.number == 1:
            return response("429 Too Many Requests", [("Retry-After", str(PAUSE))], b"slow down")
        return ok(content_id) if content_id in (LIMITED, *OTHERS) else None

    urls = ",".join(f"https://www.dw.com/en/story/a-{i}" for i in (LIMITED, *OTHERS))
    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}", "-s", f"DOWNLOAD_DELAY={GAP}",
                    "-s", "RANDOMIZE_DOWNLOAD_DELAY=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1")
    return run, work / "dw.db", wire


def test_a_429_pauses_every_request_to_the_host(rate_limited):
    run, db, wire = rate_limited
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == {LIMITED, *OTHERS}
    limited = next(h.at for h in wire.hits if content_id_of(h.path) == LIMITED)
    # A request already on its way when the 429 came may arrive just after it; none later
    # than that until the pause is over (at the old pace, three or four would).
    during = [round(h.at - limited, 2) for h in wire.hits if limited + 1.0 <= h.at < limited + PAUSE]
    assert during == []
    stats = last_run(db)["stats"]
    assert stats["dw/retry/host_slowed"] == 1 and stats["dw/retry/retry_after_honoured"] == 1


def test_a_429_slows_the_host_from_then_on(rate_limited):
    run, db, wire = rate_limited
    limited = next(h.at for h in wire.hits if content_id_of(h.path) == LIMITED)
    after = [h.at for h in wire.hits if h.at >= limited + PAUSE]
    gaps = [later - earlier for earlier, later in zip(after, after[1:], strict=False)]
    assert len(after) >= 3 and min(gaps) >= 2 * GAP * 0.95, gaps  # the delay doubled


STUCK = 79900051  # always 503, Retry-After: an hour (WAITED), waited in full (RETRY_BACKOFF_MAX)
WAITED = 3600


def test_a_stop_during_a_retry_after_wait_is_prompt_and_counts_no_wait(tmp_path):
    """SIGTERM while the crawl waits out an hour's Retry-After: it stops at once, not at the
    wait's end (a stop takes 1-2 s; the bound is a tenth of the wait, for a busy machine), the
    retry is never sent, and nothing is counted as honoured."""
    def respond(hit):
        if content_id_of(hit.path) == STUCK:
            return response("503 Service Unavailable", [("Retry-After", str(WAITED))], b"busy")
        return None

    log = tmp_path / "crawl.log"
    with serving(respond) as wire:
        command = crawl_command(wire.origin, tmp_path / "dw.db", "-s", f"LOG_FILE={log}", "-a",
                                f"urls=https://www.dw.com/en/story/a-{STUCK}",
                                "-s", f"RETRY_BACKOFF_MAX={WAITED}")
        process = forkserver.start(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=os.environ.copy())
        try:
            deadline = time.monotonic() + 120
            while f"s before sending {wire.origin}/en/story/a-{STUCK}" not in (
                    log.read_text() if log.exists() else ""):
                assert time.monotonic() < deadline and process.poll() is None, "the crawl never waited"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            _, stderr = process.communicate(timeout=WAITED / 10)
            took = time.monotonic() - stopped_at
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    stderr += log.read_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert took < WAITED / 10, f"{took:.1f} s to stop"
    waits = [float(w) for w in re.findall(r"Waiting ([\d.]+) s before sending", stderr)]
    assert waits and min(waits) > WAITED - 60, waits  # the stop cut the hour short
    assert [h.path for h in wire.hits if content_id_of(h.path) == STUCK] == [f"/en/story/a-{STUCK}"]
    stats = last_run(tmp_path / "dw.db")["stats"]
    assert "dw/retry/retry_after_honoured" not in stats
    assert stats["dw/retry/left_for_next_run"] == 1
