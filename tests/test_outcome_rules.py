"""The outcome as data: each rule of `crawler.outcome` with the stats that make it speak, its
status, its words and its exit status; the order in which they decide; a rule added."""

from __future__ import annotations

import pytest

from crawler.health import FIELDS
from crawler.outcome import EXIT_FAILED, EXIT_OK, FORCED, KILLED, OK, RULES, RUNNING, Outcome, Run, judge

FETCHED = {"dw/discovery/requested": 2, "dw/discovery/entries": 40, "dw/found": 40, "dw/fetched": 40,
           "dw/articles/new": 40}
FULL = dict.fromkeys(FIELDS, 1.0) | {"articles": 40}

CASES = {
    "ok": ("finished", FETCHED, "ok", "ok"),
    "bad argument": ("bad_arguments", {"dw/argument_error": "lang: no such language 'xx'"},
                     "failed", "bad argument: lang: no such language 'xx'"),
    "archive not written": ("archive_error", FETCHED | {"dw/archive/error": "database or disk is full"},
                            "failed", "the archive could not be written: database or disk is full"),
    "closed by an error": ("archive_locked", {}, "failed", "stopped: archive_locked"),
    "another run's lock": (
        "archive_locked",
        {"dw/archive/locked": "another crawl is running on this archive (lock /srv/dw/dw.db, pid 4242)"},
        "failed", "another crawl is running on this archive (lock /srv/dw/dw.db, pid 4242)"),
    "every listing empty": ("finished", {"dw/discovery/requested": 2, "dw/discovery/empty": 2},
                            "failed", "no sitemap or feed listed any entry"),
    "sitemaps too deep": ("finished", {"dw/discovery/requested": 1, "dw/skipped/sitemap_too_deep": 2},
                          "failed", "no sitemap or feed listed any entry: sitemap indexes named 2 sitemaps,"
                          " not read because they are deeper than DW_SITEMAP_DEPTH"),
    "no listing readable": ("finished", {"dw/discovery/requested": 2, "dw/failed/news/http_404": 1,
                                         "dw/failed/feeds/http_500": 1},
                            "failed", "no sitemap or feed could be read"),
    "a user's limit": ("closespider_itemcount", FETCHED, "stopped",
                       "stopped: closespider_itemcount (a limit you set: CLOSESPIDER_ITEMCOUNT)"),
    "Ctrl-C": ("shutdown", {"dw/discovery/requested": 2, "dw/discovery/empty": 2}, "stopped",
               "stopped: shutdown (you stopped it: Ctrl-C or SIGTERM)"),
    # Stopped before any listing asked for answered (an origin never reached): was `stopped`,
    # exit 0 (tester try27, items 1 and 9); an article named with `urls=` alone is no listing.
    "Ctrl-C before any listing answered": (
        "shutdown", {"dw/discovery/requested": 3}, "failed",
        "stopped: shutdown (you stopped it: Ctrl-C or SIGTERM) before any sitemap or feed could be read"),
    "a user's limit before any listing answered": (
        "closespider_timeout", {"dw/discovery/requested": 1}, "failed",
        "stopped: closespider_timeout (a limit you set: CLOSESPIDER_TIMEOUT) before any sitemap or feed"
        " could be read"),
    "Ctrl-C with urls= only": ("shutdown", {"dw/found": 1}, "stopped",
                               "stopped: shutdown (you stopped it: Ctrl-C or SIGTERM)"),
    "a user's limit, most of what it tried failed": (
        "shutdown", FETCHED | {"dw/fetched": 2, "dw/failed": 4}, "failed",
        "most article requests failed (4 of 6)"),
    "nothing listed, none empty": ("finished", {"dw/discovery/requested": 2, "dw/found": 1, "dw/fetched": 1},
                                   "failed", "no sitemap or feed listed any entry"),
    "none fetched": ("finished", FETCHED | {"dw/fetched": 0}, "failed",
                     "40 articles to fetch and none fetched"),
    "most of what it found lost": ("finished", FETCHED | {"dw/found": 10, "dw/fetched": 4, "dw/failed": 6},
                                   "failed", "most article requests failed (6 of 10)"),
    "half lost is not most": ("finished", FETCHED | {"dw/found": 12, "dw/fetched": 6, "dw/failed": 6},
                              "ok", "ok"),
    "bodies cut at the safety limit": ("finished", FETCHED | {"dw/extract/body_truncated": 2}, "failed",
                                       "2 article bodies cut at the safety limit (see the warnings)"),
    "most lost, and a body cut": (
        "finished",
        FETCHED | {"dw/found": 10, "dw/fetched": 4, "dw/failed": 6, "dw/extract/body_truncated": 1},
        "failed", "most article requests failed (6 of 10)"),
    # The WARC file could not be closed (its last records may be lost): not ok, at a user's
    # limit too; a run stopped by the WARC error itself says that first (tester try26).
    "WARC file not closed": ("finished", FETCHED | {"dw/warc/not_closed": "dw-1.warc.gz: Input/output error"},
                             "failed", "the WARC file could not be closed (dw-1.warc.gz: Input/output"
                                       " error): the captures of the last pages fetched may be lost"),
    "WARC file not closed, at a user's limit": (
        "shutdown", FETCHED | {"dw/warc/not_closed": "dw-1.warc.gz: No space left on device"}, "failed",
        "the WARC file could not be closed (dw-1.warc.gz: No space left on device): the captures of"
        " the last pages fetched may be lost"),
    "WARC error, and the file not closed": (
        "warc_error", FETCHED | {"dw/warc/not_closed": "dw-1.warc.gz: No space left on device"}, "failed",
        "stopped: warc_error"),
    # ... and says why, with the file or folder (tester try27: `stopped: warc_error` alone)
    "WARC error with its reason": (
        "warc_error", FETCHED | {"dw/warc/error": "cannot write the WARC file /w/dw-1.warc.gz: No space"
                                                  " left on device", "dw/warc/not_closed": "x"}, "failed",
        "stopped: warc_error (cannot write the WARC file /w/dw-1.warc.gz: No space left on device)"),
    # An origin's robots.txt could not be read: nothing fetched from it (RFC 9309); the run's
    # reason when no article was fetched, said after an ok or stopped verdict (tester-try27 3).
    "robots.txt unreadable, nothing fetched": (
        "finished", {"dw/discovery/requested": 2, "dw/failed/news/robots_txt_unreachable": 1,
                     "dw/failed/feeds/robots_txt_unreachable": 1, "dw/robotstxt/unreachable": 1,
                     "dw/robotstxt/unreachable_origins":
                         "robots.txt of https://www.dw.com could not be read (503)"},
        "failed", "robots.txt of https://www.dw.com could not be read (503): nothing fetched from it, as RFC"
                  " 9309 asks"),
    "robots.txt unreadable at a user's limit, nothing fetched": (
        "shutdown", {"dw/discovery/requested": 1, "dw/failed/news/robots_txt_unreachable": 1,
                     "dw/robotstxt/unreachable_origins": "robots.txt of https://www.dw.com could not be read"
                                                         " (TimeoutError)"},
        "failed", "robots.txt of https://www.dw.com could not be read (TimeoutError): nothing fetched from"
                  " it, as RFC 9309 asks"),
    "one origin's robots.txt unreadable, others' articles fetched": (
        "finished", FETCHED | {"dw/failed/feeds/robots_txt_unreachable": 1, "dw/robotstxt/unreachable": 1,
                               "dw/robotstxt/unreachable_origins":
                                   "robots.txt of https://rss.dw.com could not be read (damaged_gzip)"},
        "ok", "ok; robots.txt of https://rss.dw.com could not be read (damaged_gzip): nothing fetched"
              " from it, as RFC 9309 asks"),
    "a user's limit, and a body cut": (
        "closespider_itemcount", FETCHED | {"dw/extract/body_truncated": 1}, "stopped",
        "stopped: closespider_itemcount (a limit you set: CLOSESPIDER_ITEMCOUNT)"),
}


@pytest.mark.parametrize("reason, stats, status, text", CASES.values(), ids=CASES.keys())
def test_each_rule(reason, stats, status, text):
    outcome = judge(Run(reason, stats, FULL, lambda: [FULL] * 3))
    assert (outcome.status, outcome.text) == (status, text)
    assert outcome.exit_code == (EXIT_OK if status in ("ok", "stopped") else EXIT_FAILED)


def test_a_run_whose_coverage_fell_is_degraded_exit_3():
    current = FULL | {"authors": 0.0}
    outcome = judge(Run("finished", FETCHED, current, lambda: [FULL | {"authors": 0.8}] * 3))
    assert outcome.status == "degraded" and outcome.exit_code == EXIT_FAILED
    assert outcome.text == "degraded: authors on 0% of 40 articles, 80% over the last 3 runs"


def test_a_cut_body_decides_before_the_coverage():
    current = FULL | {"authors": 0.0}
    outcome = judge(Run("finished", FETCHED | {"dw/extract/body_truncated": 1}, current,
                        lambda: [FULL | {"authors": 0.8}] * 3))
    assert (outcome.status, outcome.text) == (
        "failed", "1 article bodies cut at the safety limit (see the warnings)")


def test_the_rows_no_rule_judged():
    # A run's row while it runs, one the next run found never ended, one stopped by force.
    assert (RUNNING.status, RUNNING.text) == ("running", "running")
    assert KILLED.text.startswith("killed: ") and KILLED.exit_code == EXIT_FAILED
    assert (FORCED.text, FORCED.exit_code) == ("stopped by force before its end", EXIT_FAILED)


def test_the_history_is_read_only_when_a_rule_needs_it():
    read = []
    judge(Run("bad_arguments", {"dw/argument_error": "x"}, read_history=lambda: read.append(1) or []))
    assert read == []  # a refused run never opens the archive
    judge(Run("finished", FETCHED, FULL, read_history=lambda: read.append(1) or []))
    assert read == [1]


def test_the_exit_status_is_the_outcomes_not_its_words():
    # Words that read like a user's limit do not make a failure exit 0.
    looks_stopped = Outcome("failed", "stopped: shutdown (you stopped it: Ctrl-C or SIGTERM)")
    assert looks_stopped.exit_code == EXIT_FAILED and OK.exit_code == EXIT_OK


def test_a_rule_is_added_where_its_verdict_should_decide():
    def lost_most(run: Run) -> Outcome | None:  # e.g. a run that lost more than half of what it found
        lost, found = run.stats.get("dw/lost", 0), run.counts["found"]
        return Outcome("failed", f"lost {lost} of {found}") if lost * 2 > found else None

    run = Run("finished", FETCHED | {"dw/lost": 30}, FULL)
    assert judge(run) == OK
    assert judge(run, [*RULES[:-1], lost_most, RULES[-1]]) == Outcome("failed", "lost 30 of 40")


# -- the reasons failures are counted under (crawler/discovery/failures.py) ----------------------

@pytest.mark.parametrize(("exception", "reason"), [
    # A response dropped because its WARC records could not be written (crawler/warc/capture.py).
    ("WARC capture failed: [Errno 28] No space left on device", "warc_not_written"),
    ("WARC capture failed: the response is not kept, so not used", "warc_not_written"),
    ("Ignored https://www.dw.com/x: its body (1 B as received, 9 B inflated so far) exceeded"
     " DOWNLOAD_MAXSIZE (8 B); not captured", "too_large"),
    ("Forbidden by robots.txt", "robots_txt"),
    ("something else", "IgnoreRequest"),
])
def test_an_ignored_request_is_counted_under_what_ignored_it(exception, reason):
    from scrapy.exceptions import IgnoreRequest
    from twisted.python.failure import Failure

    from crawler.discovery.failures import failure_reason

    assert failure_reason(Failure(IgnoreRequest(exception))) == reason


# -- the closing line adds up (crawler/extensions.py `closing_counts`) ---------------------------

@pytest.mark.parametrize(("stats", "reason", "said"), [
    ({"dw/found": 40, "dw/fetched": 40}, "finished", "found 40, fetched 40, not_modified 0, skipped 0,"
     " new 0, updated 0, unchanged 0, failed 0, gone 0"),
    ({"dw/found": 48, "dw/fetched": 2, "dw/failed": 1, "dw/gone": 1}, "closespider_itemcount",
     "found 48, fetched 2, not_modified 0, skipped 0, new 0, updated 0, unchanged 0, failed 1, gone 1,"
     " not_fetched 44 (stopped)"),
    ({"dw/found": 10, "dw/not_modified": 3}, "shutdown", "found 10, fetched 0, not_modified 3, skipped 0,"
     " new 0, updated 0, unchanged 0, failed 0, gone 0, not_fetched 7 (stopped)"),
    # fetched and not stored (a full archive): apart from failed, so the counts add up
    ({"dw/found": 80, "dw/fetched": 80, "dw/archive/failed_articles": 80}, "finished",
     "found 80, fetched 80, not_modified 0, skipped 0, new 0, updated 0, unchanged 0, failed 0,"
     " gone 0, not_stored 80"),
    # finished and still a gap: articles lost unseen, named without "(stopped)"
    ({"dw/found": 5, "dw/fetched": 4}, "finished", "found 5, fetched 4, not_modified 0, skipped 0,"
     " new 0, updated 0, unchanged 0, failed 0, gone 0, not_fetched 1"),
])
def test_the_closing_line_names_what_was_found_and_not_fetched(stats, reason, said):
    from crawler.extensions import closing_counts
    from crawler.outcome import summarize

    counts = summarize(stats)
    # What the spider counts when it closes: found, less the requests that ended (any way).
    ended = counts["fetched"] + counts["not_modified"] + stats.get("dw/failed", 0) + counts["gone"]
    assert closing_counts(counts, counts["found"] - ended, reason) == said


def test_articles_not_stored_still_count_as_lost():
    from crawler.outcome import Run, judge

    run = Run("finished", {"dw/found": 3, "dw/fetched": 3, "dw/archive/failed_articles": 2})
    assert run.counts["failed"] == 0 and run.counts["not_stored"] == 2
    assert judge(run).text == "most article requests failed (2 of 3)"


def test_an_older_archives_crawl_runs_gains_not_stored(tmp_path):
    import sqlite3

    import sqlite_utils

    from crawler.archive import schema

    db = sqlite_utils.Database(tmp_path / "old.db")
    old = {k: v for k, v in schema.TABLES["crawl_runs"][0].items() if k != "not_stored"}
    db["crawl_runs"].insert({**{k: None for k in old}, "id": 1, "failed": 80, "outcome": "x"}, pk="id")
    schema.migrate(db)
    db.conn.commit()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute("SELECT failed, not_stored FROM crawl_runs").fetchall() == [(80, None)]
