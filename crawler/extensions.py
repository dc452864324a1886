"""At the end of a crawl: decide its outcome, log what it did, record it in `crawl_runs`."""

from __future__ import annotations

import json
import logging
import sqlite3

from scrapy import signals

from crawler import health
from crawler.archive import ArchiveExtension, utc_now

logger = logging.getLogger(__name__)

# Loggers that report expected network failures (robots.txt unreachable) with a traceback;
# the message already names the error, so the traceback is dropped. Bugs keep theirs.
QUIET_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt",)


class _NoTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def summarize(stats: dict) -> dict[str, int]:
    """The crawl's headline counts from its `dw/*` stats."""
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
        # Pages that failed, and fetched articles the archive could not store.
        "failed": (stats.get("dw/failed", 0) + stats.get("dw/failed/not_an_article", 0)
                   + stats.get("dw/archive/failed_articles", 0)),
    }


# Scrapy's finish reasons for a stop the user asked for: a limit set with `-s`, or Ctrl-C /
# SIGTERM (Scrapy's graceful shutdown). Not failures: exit status 0, and the outcome says which.
USER_LIMITS = {
    "closespider_itemcount": "a limit you set: CLOSESPIDER_ITEMCOUNT",
    "closespider_pagecount": "a limit you set: CLOSESPIDER_PAGECOUNT",
    "closespider_timeout": "a limit you set: CLOSESPIDER_TIMEOUT",
    "shutdown": "you stopped it: Ctrl-C or SIGTERM",
}
EXIT_OK, EXIT_FAILED = 0, 3


def exit_status(verdict: str | None) -> int:
    """The crawl command's exit status for an outcome: 0 ok or a user's limit, 3 failed (also when
    no outcome was decided: the run was stopped by force before its end)."""
    if verdict == "ok" or verdict in {f"stopped: {r} ({why})" for r, why in USER_LIMITS.items()}:
        return EXIT_OK
    return EXIT_FAILED


def outcome(reason: str, stats: dict, counts: dict[str, int]) -> str:
    """`ok`, `stopped: REASON (a limit you set: …)`, or why the run counts as failed."""
    if stats.get("dw/argument_error"):
        return f"bad argument: {stats['dw/argument_error']}"
    if stats.get("dw/archive/locked"):  # "another crawl is running on this archive (lock …, pid N)"
        return stats["dw/archive/locked"]
    if stats.get("dw/archive/error"):
        return f"the archive could not be written: {stats['dw/archive/error']}"
    if reason not in USER_LIMITS and reason != "finished":
        return f"stopped: {reason}"
    source_failures = sum(v for k, v in stats.items()
                          if k.startswith(("dw/failed/news/", "dw/failed/articles/",
                                           "dw/failed/feeds/")) and isinstance(v, int))
    # Sitemaps and feeds were asked for and none listed a single entry (empty, unreadable or
    # in a dialect not understood): nothing was discovered, whatever else the run did. When
    # one was read and was empty, that is the reason, even if others could not be fetched.
    listed_nothing = stats.get("dw/discovery/requested") and not stats.get("dw/discovery/entries")
    if listed_nothing and stats.get("dw/discovery/empty") and reason not in USER_LIMITS:
        return "no sitemap or feed listed any entry"
    if source_failures and not counts["found"] and not counts["skipped"]:
        return "no sitemap or feed could be read"
    if reason in USER_LIMITS:  # cut short on purpose: judged on what it tried, not what it found
        tried = counts["fetched"] + counts["not_modified"] + stats.get("dw/failed", 0)
        return _most_lost(counts["failed"], tried) or f"stopped: {reason} ({USER_LIMITS[reason]})"
    if listed_nothing:
        return "no sitemap or feed listed any entry"
    if counts["found"] and not (counts["fetched"] or counts["not_modified"]):
        return f"{counts['found']} articles to fetch and none fetched"
    return _most_lost(counts["failed"], counts["found"]) or _cut(stats) or "ok"


def _cut(stats: dict) -> str | None:
    # An article body cut at the extractor's safety limit (crawler/extract/body.py): archived,
    # but not whole, so the run did not do its job.
    cut = stats.get("dw/extract/body_truncated", 0)
    return f"{cut} article bodies cut at the safety limit (see the warnings)" if cut else None


def _most_lost(failed: int, of: int) -> str | None:
    """Why a run that lost more than half of its articles failed, at any size (1 of 1, 2 of 3)."""
    if failed and 2 * failed > of:
        return f"most article requests failed ({failed} of {max(of, failed)})"
    return None


class CrawlSummary:
    """Log the crawl's counts and reasons, decide its outcome (stat `dw/outcome`) and record the run."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.started_at = utc_now()

    @classmethod
    def from_crawler(cls, crawler):
        for name in QUIET_LOGGERS:
            quiet = logging.getLogger(name)
            if not any(isinstance(f, _NoTraceback) for f in quiet.filters):
                quiet.addFilter(_NoTraceback())
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def judge(self, reason: str, stats: dict, counts: dict[str, int], coverage: dict) -> str:
        """The run's outcome, then its health against the archive's recent runs (a distributed
        worker judges its cluster run's totals instead: crawler/distributed/worker.py)."""
        verdict = outcome(reason, stats, counts)
        if verdict == "ok":
            archive = self.crawler.get_extension(ArchiveExtension).archive
            lang = (getattr(self.crawler.spider, "arguments", None) or {}).get("lang") or ""
            verdict = health.judge(archive, coverage, self.crawler.settings, lang) or "ok"
        return verdict

    def spider_closed(self, spider, reason):
        archive = self.crawler.get_extension(ArchiveExtension)
        archive.flush()  # the last batch counts too, whichever spider_closed handler runs first
        stats = self.stats.get_stats()
        counts = summarize(stats)
        coverage = health.coverage(stats)
        verdict = self.judge(reason, stats, counts, coverage)
        self.stats.set_value("dw/outcome", verdict)
        reasons = {k[3:]: v for k, v in sorted(stats.items())
                   if k.startswith(("dw/skipped/", "dw/failed/", "dw/blocked/"))}
        log = (logger.info if verdict == "ok" else logger.warning if exit_status(verdict) == EXIT_OK
               else logger.error)
        log("Crawl %s (%s): %s; reasons: %s", reason, verdict,
            ", ".join(f"{k} {v}" for k, v in counts.items()), reasons or "none")
        if stats.get("dw/argument_error"):
            return  # refused before it began: the archive is not touched, not even created
        arguments = {k: v for k, v in getattr(spider, "arguments", {}).items() if v is not None}
        try:
            archive.record_run({
                "started_at": self.started_at, "finished_at": utc_now(),
                "arguments": json.dumps(arguments), "finish_reason": reason, "outcome": verdict,
                **counts, "stats": json.dumps(health.without_field_counts(stats), default=str,
                                              sort_keys=True),
                "coverage": json.dumps(coverage),
            })
        except (sqlite3.Error, OSError) as exc:
            logger.error("Could not record the run in crawl_runs: %s", exc)
