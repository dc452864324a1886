"""A run's outcome as data, judged in one place for one process and for a cluster.

`judge(run)` applies `RULES` in order to a `Run` (its finish reason, its `dw/*` stats, its field
coverage and the coverage of earlier runs) and returns an `Outcome`: a status, the words stored
in `crawl_runs.outcome` and the stat `dw/outcome`, and the exit status of `scrapy crawl`. The
first rule that has a verdict decides; a run no rule objects to is ok. Plain Python, no Scrapy:
`crawler.extensions.CrawlSummary` gathers a process's run, `crawler.distributed.worker.ClusterSummary`
the cluster's totals, and both judge here; `crawler/commands/crawl.py` exits with
`Outcome.exit_code`, never by reading the words.

A new rule: a function `Run -> Outcome | None` in `RULES`, at the place its verdict should take
precedence (a test in tests/test_outcome_rules.py with the stats that make it speak).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from crawler import health
from crawler.arguments import LISTING_SOURCES

EXIT_OK, EXIT_FAILED = 0, 3

# Scrapy's finish reasons for a stop the user asked for: a limit set with `-s`, or Ctrl-C /
# SIGTERM (Scrapy's graceful shutdown). Not failures: exit status 0, and the outcome says which.
USER_LIMITS = {
    "closespider_itemcount": "a limit you set: CLOSESPIDER_ITEMCOUNT",
    "closespider_pagecount": "a limit you set: CLOSESPIDER_PAGECOUNT",
    "closespider_timeout": "a limit you set: CLOSESPIDER_TIMEOUT",
    "shutdown": "you stopped it: Ctrl-C or SIGTERM",
}


@dataclass(frozen=True)
class Outcome:
    """How a run ended. `status`: `ok`, `stopped` (at a limit the user set: not a failure),
    `degraded` (field coverage fell: a new page layout?) or `failed` (or `running`: the row of a
    run that has not ended, `RUNNING`); `text`: the outcome in words, as `crawl_runs.outcome`
    stores it (`ok`, `stopped: shutdown (…)`, `degraded: …`, or why the run failed)."""

    status: str
    text: str

    OK_STATUSES = frozenset({"ok", "stopped"})

    @property
    def exit_code(self) -> int:
        """`scrapy crawl`'s exit status: 0 ok or stopped at the user's limit, 3 otherwise."""
        return EXIT_OK if self.status in self.OK_STATUSES else EXIT_FAILED

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        return self.text


OK = Outcome("ok", "ok")


def failed(reason: str) -> Outcome:
    return Outcome("failed", reason)


# What a run's `crawl_runs` row says when no rule judged it (crawler/archive/runs.py): written
# `running` when the run starts; marked killed by the next run when it never ended; stopped by
# force (Ctrl-C twice) before its end, when no handler could judge it.
RUNNING = Outcome("running", "running")
KILLED = failed("killed: the run ended without recording its outcome (kill -9, power loss or a crash)")
FORCED = failed("stopped by force before its end")


def summarize(stats: Mapping[str, Any]) -> dict[str, int]:
    """The crawl's headline counts from its `dw/*` stats (the columns of `crawl_runs`)."""
    def total(prefix: str) -> int:
        return sum(v for k, v in stats.items() if k.startswith(prefix) and isinstance(v, int))

    return {
        "found": stats.get("dw/found", 0),
        "fetched": stats.get("dw/fetched", 0),
        "not_modified": stats.get("dw/not_modified", 0),
        "skipped": total("dw/skipped/"),
        "new": stats.get("dw/articles/new", 0),
        "updated": stats.get("dw/articles/updated", 0),
        "unchanged": stats.get("dw/articles/unchanged", 0),
        # Pages that failed (not fetched, or fetched and not an article).
        "failed": stats.get("dw/failed", 0) + stats.get("dw/failed/not_an_article", 0),
        # Listed articles whose page answered 404/410: found, not failed (crawler/archive/gone.py).
        "gone": stats.get("dw/gone", 0),
        # Articles fetched (and counted so) that the archive could not store: a full disk,
        # ARCHIVE_MAX_PAGES. Apart from `failed`, so that found = fetched + not_modified +
        # failed + gone + not_fetched holds with them too (until 2026-12 `failed` held them:
        # older `crawl_runs` rows have NULL here).
        "not_stored": stats.get("dw/archive/failed_articles", 0),
    }


@dataclass
class Run:
    """What a run's outcome is judged on. `history` (the coverage earlier runs recorded, newest
    first) is read only when a rule asks for it, through `read_history`: a run refused before it
    began never opens the archive."""

    finish_reason: str
    stats: Mapping[str, Any]
    coverage: dict = field(default_factory=dict)
    read_history: Callable[[], list[dict]] = list
    thresholds: health.Thresholds = field(default_factory=health.Thresholds)

    @cached_property
    def counts(self) -> dict[str, int]:
        return summarize(self.stats)

    @cached_property
    def history(self) -> list[dict]:
        return self.read_history()

    @property
    def listed_nothing(self) -> bool:
        """Sitemaps and feeds were asked for and none listed a single entry (empty, unreadable or
        in a dialect not understood): nothing was discovered, whatever else the run did."""
        return bool(self.stats.get("dw/discovery/requested") and not self.stats.get("dw/discovery/entries"))


# -- the rules, in the order they are applied --------------------------------------------------

def bad_argument(run: Run) -> Outcome | None:
    if run.stats.get("dw/argument_error"):
        return failed(f"bad argument: {run.stats['dw/argument_error']}")
    return None


def archive_locked(run: Run) -> Outcome | None:
    """Another run held the archive's run lock: the words say which lock and which process
    (`another crawl is running on this archive (lock FILE, pid N)`, crawler/archive/extension.py)."""
    if run.stats.get("dw/archive/locked"):
        return failed(run.stats["dw/archive/locked"])
    return None


def archive_not_written(run: Run) -> Outcome | None:
    if run.stats.get("dw/archive/error"):
        return failed(f"the archive could not be written: {run.stats['dw/archive/error']}")
    return None


def warc_not_written(run: Run) -> Outcome | None:
    """Stopped because a capture could not be written (crawler/warc/capture.py): the outcome
    says which file or folder and why (`No space left on device`), not only the finish reason."""
    if run.finish_reason == "warc_error" and run.stats.get("dw/warc/error"):
        return failed(f"stopped: warc_error ({run.stats['dw/warc/error']})")
    return None


def stopped_by_an_error(run: Run) -> Outcome | None:
    """Closed for any reason but its end or a limit the user set (`archive_locked`, ...)."""
    if run.finish_reason not in USER_LIMITS and run.finish_reason != "finished":
        return failed(f"stopped: {run.finish_reason}")
    return None


def warc_not_closed(run: Run) -> Outcome | None:
    """The WARC file could not be flushed and closed when the run ended (a full disk, its folder
    gone): the captures of the last pages may be lost, so the run failed, whatever else it did
    (a limit the user set, Ctrl-C, too). Counted as `failed/warc_not_closed`."""
    if run.stats.get("dw/warc/not_closed"):
        return failed(f"the WARC file could not be closed ({run.stats['dw/warc/not_closed']}): the"
                      " captures of the last pages fetched may be lost")
    return None


def log_not_written(run: Run) -> Outcome | None:
    """`LOG_FILE` could not be written mid-run (a full disk under the log, crawler/logfile.py):
    what the run did is in the archive, but not in its log, so the run failed (at a limit the
    user set too). Counted as `failed/log_not_written` (the records lost)."""
    if run.stats.get("dw/log/not_written"):
        return failed(run.stats["dw/log/not_written"])
    return None


def robots_txt_unreadable(run: Run) -> Outcome | None:
    """An origin's robots.txt could not be read (5xx, a network error, damaged on every try; the
    middleware's words name the origin when nothing answered there at all):
    RFC 9309 §2.3.1.4 has nothing fetched from it (crawler/middlewares.py). When no article was
    fetched at all, that is the run's reason, not "no sitemap or feed could be read"."""
    said = run.stats.get("dw/robotstxt/unreachable_origins")
    if said and not (run.counts["fetched"] or run.counts["not_modified"]):
        return failed(f"{said}: nothing fetched from it, as RFC 9309 asks")
    return None


def sitemaps_too_deep(run: Run) -> Outcome | None:
    """Nothing listed, and sitemap indexes named sitemaps that were not read because
    `DW_SITEMAP_DEPTH` stopped them: that is the reason, not "listed no entry"."""
    deep = run.stats.get("dw/skipped/sitemap_too_deep", 0)
    if run.listed_nothing and deep and run.finish_reason not in USER_LIMITS:
        return failed(f"no sitemap or feed listed any entry: sitemap indexes named {deep} sitemaps,"
                      " not read because they are deeper than DW_SITEMAP_DEPTH")
    return None


def every_listing_empty(run: Run) -> Outcome | None:
    """When a listing was read and was empty, that is the reason, even if others could not be
    fetched (a run the user cut short may simply not have got to the entries)."""
    if run.listed_nothing and run.stats.get("dw/discovery/empty") and run.finish_reason not in USER_LIMITS:
        return failed("no sitemap or feed listed any entry")
    return None


def no_listing_readable(run: Run) -> Outcome | None:
    listings = tuple(f"dw/failed/{source}/" for source in LISTING_SOURCES)
    source_failures = sum(v for k, v in run.stats.items() if k.startswith(listings) and isinstance(v, int))
    if source_failures and not run.counts["found"] and not run.counts["skipped"]:
        return failed("no sitemap or feed could be read")
    return None


# Article pages answering 404/410, none answering otherwise, from which a run fails: not DW
# removing articles (a few at a time, among many it serves) but an origin serving another site,
# or a route that answers 404 to everything. Fewer, the run is judged as any other (its ids are
# not remembered as gone: crawler/archive/gone.py), and the next runs ask for them again, so a
# broken route reaches this many in a few runs even where each run finds only one or two.
MANY_GONE = 10


def every_article_gone(run: Run) -> Outcome | None:
    """Many article pages answered 404 or 410 and no article page answered otherwise (200,
    304): whatever else failed, and at a limit the user set too."""
    counts = run.counts
    if counts["gone"] >= MANY_GONE and not (counts["fetched"] or counts["not_modified"]):
        return failed(f"every article page answered 404 or 410 ({counts['gone']} of {counts['found']}"
                      " found, none fetched): is DW_ORIGIN serving another site, or a route broken?")
    return None


def _most_lost(lost: int, of: int) -> Outcome | None:
    """A run that lost more than half of its articles failed, at any size (1 of 1, 2 of 3)."""
    if lost and 2 * lost > of:
        return failed(f"most article requests failed ({lost} of {max(of, lost)})")
    return None


def most_requests_failed(run: Run) -> Outcome | None:
    """More than half of what the run found was lost (of the articles not gone): failed, or
    fetched and not stored."""
    counts = run.counts
    return _most_lost(counts["failed"] + counts["not_stored"], counts["found"] - counts["gone"])


def stopped_before_any_listing(run: Run) -> Outcome | None:
    """Stopped at a limit the user set (Ctrl-C, SIGTERM, CLOSESPIDER_*) before any sitemap or
    feed that was asked for answered: nothing was found, so the run did not do its job (it was
    exit 0, `stopped: shutdown`, after a crawl that never reached its origin: tester try27, item
    1). A listing that failed is `no_listing_readable`'s; one read empty, `stopped` as before."""
    stats = run.stats
    if (run.finish_reason in USER_LIMITS and run.listed_nothing and not stats.get("dw/discovery/empty")
            and not run.counts["found"]):
        return failed(f"stopped: {run.finish_reason} ({USER_LIMITS[run.finish_reason]}) before any"
                      " sitemap or feed could be read")
    return None


def stopped_at_a_user_limit(run: Run) -> Outcome | None:
    """Cut short on purpose: judged on what it tried, not what it found, and by no rule after
    this one."""
    if run.finish_reason in USER_LIMITS:
        counts = run.counts
        tried = counts["fetched"] + counts["not_modified"] + run.stats.get("dw/failed", 0)
        return _most_lost(counts["failed"] + counts["not_stored"], tried) or Outcome(
            "stopped", f"stopped: {run.finish_reason} ({USER_LIMITS[run.finish_reason]})")
    return None


def nothing_listed(run: Run) -> Outcome | None:
    if run.listed_nothing:
        return failed("no sitemap or feed listed any entry")
    return None


def none_fetched(run: Run) -> Outcome | None:
    """Articles to fetch and none fetched; those gone (404/410 of a listed article) are not
    failures of the run: found and gone alone, it is ok."""
    counts = run.counts
    to_fetch = counts["found"] - counts["gone"]
    if to_fetch > 0 and not (counts["fetched"] or counts["not_modified"]):
        gone = f" ({counts['gone']} more gone)" if counts["gone"] else ""
        return failed(f"{to_fetch} articles to fetch and none fetched{gone}")
    return None


def bodies_cut(run: Run) -> Outcome | None:
    """An article body cut at the extractor's safety limit (crawler/extract/body.py,
    `MAX_BLOCKS`): archived, but not whole, so the run did not do its job."""
    cut = run.stats.get("dw/extract/body_truncated", 0)
    if cut:
        return failed(f"{cut} article bodies cut at the safety limit (see the warnings)")
    return None


def coverage_fell(run: Run) -> Outcome | None:
    """Health: a field far below its share over earlier runs (crawler/health.py)."""
    reason = health.degraded(run.coverage, run.history, run.thresholds)
    return Outcome("degraded", reason) if reason else None


RULES: list[Callable[[Run], Outcome | None]] = [
    bad_argument,
    archive_locked,
    archive_not_written,
    warc_not_written,
    stopped_by_an_error,
    warc_not_closed,
    log_not_written,
    robots_txt_unreadable,
    sitemaps_too_deep,
    every_listing_empty,
    no_listing_readable,
    every_article_gone,
    stopped_before_any_listing,
    stopped_at_a_user_limit,
    nothing_listed,
    none_fetched,
    most_requests_failed,
    bodies_cut,
    coverage_fell,
]


def judge(run: Run, rules: list[Callable[[Run], Outcome | None]] | None = None) -> Outcome:
    """The run's outcome: the verdict of the first rule that has one, else ok. An ok or stopped
    run for which an origin's robots.txt could not be read says so after its verdict (`ok;
    robots.txt of … could not be read (503): nothing fetched from it, as RFC 9309 asks`): what
    that origin serves is missing from it, though the other origins gave it work."""
    verdict = next((said for rule in (RULES if rules is None else rules)
                    if (said := rule(run)) is not None), OK)
    unread = run.stats.get("dw/robotstxt/unreachable_origins")
    if unread and verdict.status in Outcome.OK_STATUSES:
        return Outcome(verdict.status, f"{verdict.text}; {unread}: nothing fetched from it, as RFC 9309 asks")
    return verdict
