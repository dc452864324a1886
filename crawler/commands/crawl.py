"""`scrapy crawl`, exiting non-zero when the run failed, so that cron and timers notice.

Exit status (`crawler.outcome.Outcome.exit_code`, judged by `CrawlSummary`): 0 the run's outcome
is ok, or it stopped at a limit the user set (CLOSESPIDER_ITEMCOUNT, _PAGECOUNT, _TIMEOUT, Ctrl-C
once); 1 Scrapy could not start the crawl; 2 Scrapy's own usage errors; 3 the run failed or was
degraded, with the reason in one last line on stderr (`dw crawl failed: …`), which is all a cron
mail holds when LOG_FILE is set.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from scrapy.commands import crawl
from scrapy.exceptions import UsageError

from crawler.extensions import CrawlSummary
from crawler.outcome import EXIT_FAILED

logger = logging.getLogger(__name__)

def fail(reason: str) -> None:
    """End the command now with exit status 3 and one line saying why."""
    print(f"dw crawl failed: {reason}", file=sys.stderr)
    sys.exit(EXIT_FAILED)


class Command(crawl.Command):
    """Scrapy's crawl command; exit status 3 and one line when the run's outcome is a failure."""

    def process_options(self, args, opts):
        super().process_options(args, opts)
        # Scrapy opens LOG_FILE when it sets up logging, and a missing folder is a traceback.
        path = self.settings.get("LOG_FILE")
        if path:
            try:
                open(path, "a").close()
            except OSError as exc:
                hint = " (create its folder first)" if isinstance(exc, FileNotFoundError) else ""
                fail(f"cannot write the log file {path}: {exc.strerror or exc}{hint}")

    def run(self, args, opts):
        if len(args) != 1:
            raise UsageError("give exactly one spider: scrapy crawl dw")
        assert self.crawler_process
        try:
            crawler = self.crawler_process.create_crawler(args[0])
        except KeyError:
            raise UsageError(f"no spider named {args[0]!r}: this project has dw") from None
        errors: list[BaseException] = []
        started = self.crawler_process.crawl(crawler, **opts.spargs)
        if isinstance(started, asyncio.Future):  # AsyncCrawlerProcess: a task
            started.add_done_callback(
                lambda task: task.cancelled() or not task.exception() or errors.append(task.exception()))
        else:  # CrawlerProcess: a Deferred
            started.addErrback(lambda failure: errors.append(failure.value))
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed or errors:
            self.exitcode = 1
            if errors:  # a setting naming a missing component, an add-on that fails: one line
                logger.debug("Scrapy could not start the crawl", exc_info=errors[0])
                print(f"dw crawl failed: Scrapy could not start the crawl: {type(errors[0]).__name__}:"
                      f" {errors[0]} (-s LOG_LEVEL=DEBUG shows where)", file=sys.stderr)
        if self.exitcode:
            return
        try:
            summary = crawler.get_extension(CrawlSummary)
        except RuntimeError:  # the crawl never got as far as its extensions
            summary = None
        outcome = summary.outcome if summary is not None else None  # None: never judged
        self.exitcode = outcome.exit_code if outcome is not None else EXIT_FAILED
        if self.exitcode:
            print(f"dw crawl failed: {outcome or 'stopped by force before its end'}", file=sys.stderr)
