"""`scrapy crawl`, exiting non-zero when the run failed, so that cron and timers notice.

Exit status (`crawler.outcome.Outcome.exit_code`, judged by `CrawlSummary`): 0 the run's outcome
is ok, or it stopped at a limit the user set (CLOSESPIDER_ITEMCOUNT, _PAGECOUNT, _TIMEOUT, Ctrl-C
once); 1 Scrapy could not start the crawl; 2 Scrapy's own usage errors; 3 a bad argument or
setting, or the run failed or was degraded, with the reason in one last line on stderr (`dw crawl
failed: …`), which is all a cron mail holds when LOG_FILE is set. `scrapy archive-writer` and
`python -m crawler.backfill` give the same statuses the same meanings (README, exit statuses).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from scrapy.commands import crawl
from scrapy.exceptions import UsageError

from crawler import logfile, setting_checks, setting_names
from crawler.archive import ArchiveExtension
from crawler.arguments import NAMES as SPIDER_ARGUMENTS
from crawler.extensions import CrawlSummary
from crawler.outcome import EXIT_FAILED, FORCED, failed
from crawler.spiders.jobdir import JobDirInUse

logger = logging.getLogger(__name__)

def fail(reason: str, command: str = "crawl") -> None:
    """End the command now with exit status 3 and one line saying why (`dw COMMAND failed: …`)."""
    print(f"dw {command} failed: {reason}", file=sys.stderr)
    sys.exit(EXIT_FAILED)


class Command(crawl.Command):
    """Scrapy's crawl command; exit status 3 and one line when the run's outcome is a failure."""

    def process_options(self, args, opts):
        super().process_options(args, opts)
        # Scrapy's parser hands on what it does not know as if it were a spider's name.
        unknown = [arg for arg in args if arg.startswith("-") and arg != "-"]
        if unknown:
            raise UsageError(unknown_option(unknown[0]))
        self.passed_on = check_settings(self.settings, opts)
        # A record Scrapy cannot write to LOG_FILE mid-run (a full disk) is a traceback each:
        # counted instead, and the run's outcome says so.
        if self.settings.get("LOG_FILE"):
            logfile.watch(self.settings.get("LOG_FILE"))

    def run(self, args, opts):
        if len(args) != 1:
            raise UsageError("give exactly one spider: scrapy crawl dw")
        assert self.crawler_process
        try:
            crawler = self.crawler_process.create_crawler(args[0])
        except KeyError:
            raise UsageError(f"no spider named {args[0]!r}: this project has dw") from None
        setting_names.warn_passed_on(getattr(self, "passed_on", []))
        errors: list[BaseException] = []
        started = self.crawler_process.crawl(crawler, **opts.spargs)
        if isinstance(started, asyncio.Future):  # AsyncCrawlerProcess: a task
            started.add_done_callback(
                lambda task: task.cancelled() or not task.exception() or errors.append(task.exception()))
        else:  # CrawlerProcess: a Deferred
            started.addErrback(lambda failure: errors.append(failure.value))
        try:
            self.crawler_process.start()
        except KeyboardInterrupt:
            # Ctrl-C once more after the reactor stopped (Scrapy's handlers gone, Python's back):
            # the run is over and its outcome decided; it, not the signal, gives the status.
            pass
        finally:
            # From here the outcome decides the status: a later Ctrl-C or SIGTERM while the
            # process ends must not turn it into an undocumented 130 (or 143).
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.crawler_process.bootstrap_failed or errors:
            self.exitcode = 1
            if errors and isinstance(errors[0], JobDirInUse):  # refused, as by the archive's lock
                self.exitcode = EXIT_FAILED
                print(f"dw crawl failed: {errors[0]}", file=sys.stderr)
            elif errors:  # a setting naming a missing component, an add-on that fails: one line
                logger.debug("Scrapy could not start the crawl", exc_info=errors[0])
                print(f"dw crawl failed: Scrapy could not start the crawl: {type(errors[0]).__name__}:"
                      f" {errors[0]} (-s LOG_LEVEL=DEBUG shows where)", file=sys.stderr)
        if self.exitcode:
            return
        try:
            summary = crawler.get_extension(CrawlSummary)
        except RuntimeError:  # the crawl never got as far as its extensions
            summary = None
        outcome = summary.outcome if summary is not None else None
        if outcome is None:  # never judged: stopped by force (Ctrl-C twice); the run's row says so
            outcome = FORCED
            if summary is not None:  # the extensions exist: the archive's too
                crawler.get_extension(ArchiveExtension).record_forced_stop()
        lost_log = logfile.failure()
        if lost_log is not None and outcome.exit_code == 0:  # failed after the run was judged
            outcome = failed(str(lost_log))
        self.exitcode = outcome.exit_code
        if self.exitcode:
            print(f"dw crawl failed: {outcome}", file=sys.stderr)


def check_settings(settings, opts, command: str = "crawl") -> list[str]:
    """Before anything is fetched or created: end the command (`fail`) on a typo in the name of
    a `-s` setting (crawler/setting_names.py) or a value of a project setting that cannot be used
    (crawler/setting_checks.py: every setting of crawler/settings.py, and JOBDIR; LOG_FILE,
    crawler/logfile.py); the unknown
    names passed on. The one place a crawl's settings are checked: each check says why in one
    sentence beginning `NAME=VALUE`; the last line names `command`."""
    refused, passed_on = setting_names.check(opts.set or [])
    refused = refused or setting_checks.problem(settings)
    # Scrapy opens LOG_FILE when it sets up logging: a missing folder would be a traceback.
    refused = refused or setting_checks.log_file_problem(settings)
    if refused:
        fail(f"bad setting: {refused}", command)
    return passed_on


def unknown_option(option: str, command: str = "crawl") -> str:
    """The usage error for an option Scrapy does not take, with the form it was meant as."""
    name, _, value = option.lstrip("-").partition("=")
    if name in SPIDER_ARGUMENTS and command == "crawl":
        return (f"unknown option {option}; spider arguments are given with -a:"
                f" -a {name}={value or 'VALUE'}")
    if name.isupper():
        return f"unknown option {option}; settings are given with -s: -s {name}={value or 'VALUE'}"
    return f"unknown option {option} (scrapy {command} -h lists the options)"
