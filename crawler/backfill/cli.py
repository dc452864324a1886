"""The command `python -m crawler.backfill` (see the package's docstring): arguments, settings,
the run's outcome, its `crawl_runs` row and exit status."""

from __future__ import annotations

import argparse
import calendar
import json
import logging
import signal
import sqlite3
import sys
from collections import Counter
from datetime import date
from pathlib import Path

from crawler.arguments import ArgumentError, parse_languages
from crawler.backfill.sources import CRAWL_ID, SOURCES
from crawler.outcome import EXIT_FAILED, OK, Outcome, failed

logger = logging.getLogger("crawler.backfill")

# As `scrapy crawl`'s: argparse's own usage errors are 2; a value refused (a bad argument or
# setting), like a failed run, is 3 (a failed run: its Outcome's exit_code).
EXIT_OK, EXIT_BAD_ARGUMENT, EXIT_STOPPED = 0, EXIT_FAILED, 130
# The user's stop: not a failure, but its own exit status (130, as a shell gives Ctrl-C).
STOPPED = Outcome("stopped", "stopped: you stopped it (Ctrl-C or SIGTERM)")


class BadArgument(ValueError):
    """A value of the command line refused (`dw backfill failed: bad argument: …`)."""


class BadSetting(BadArgument):
    """A setting's name or value refused (`dw backfill failed: bad setting: …`, as `scrapy crawl`)."""


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadArgument(f"{value!r} is not a day (YYYY-MM-DD)") from None


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crawler.backfill",
                                     description="Backfill the archive from the web archives.")
    parser.add_argument("source", help=f"one of: {', '.join(SOURCES)}")
    parser.add_argument("--lang", default="en", help="DW language prefixes, comma-separated, or all")
    parser.add_argument("--since", help="first capture day, YYYY-MM-DD")
    parser.add_argument("--until", help="last capture day, YYYY-MM-DD")
    parser.add_argument("--month", help="one month, YYYY-MM (sets --since and --until)")
    parser.add_argument("--crawl", default="", help="commoncrawl: crawl ids, comma-separated, or all")
    parser.add_argument("--archive", type=Path, help="the SQLite archive (default: ARCHIVE_PATH)")
    parser.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting (BACKFILL_*, ARCHIVE_PATH, WARC_DIR, ...)")
    args = parser.parse_args(argv)
    for pair in args.settings:  # the form of the command line: a usage error (2), as Scrapy's
        if "=" not in pair:
            parser.error(f"-s {pair!r}: write NAME=VALUE")
    return args


def job_from(args: argparse.Namespace, settings):
    """The `Job` the arguments ask for; raises BadArgument saying which is wrong."""
    from crawler.backfill.client import origin_of
    from crawler.backfill.run import Job

    if args.source not in SOURCES:
        raise BadArgument(f"source {args.source!r}: one of {', '.join(SOURCES)}")
    try:  # the crawl's rule (crawler/arguments.py): `en,` is `en`, `,` is refused
        languages = parse_languages(args.lang) if args.lang.strip() else []
    except ArgumentError as exc:
        raise BadArgument(f"--lang {args.lang!r}: {exc}") from None
    if not languages:
        raise BadArgument(f"--lang {args.lang!r}: no language (use e.g. en,de or all)")
    since, until = (_day(args.since) if args.since else None), (_day(args.until) if args.until else None)
    if args.month:
        if args.since or args.until:
            raise BadArgument("--month with --since or --until: give one or the other")
        try:
            year, month = map(int, args.month.split("-"))
            since = date(year, month, 1)
        except ValueError:
            raise BadArgument(f"--month {args.month!r} is not YYYY-MM") from None
        until = date(year, month, calendar.monthrange(year, month)[1])
    if since and until and since > until:
        raise BadArgument(f"--since {since} is after --until {until}")
    if args.source == "cc-news" and not (since and until):
        raise BadArgument("cc-news reads whole months: give --month, or --since and --until")
    crawls = [c.strip() for c in args.crawl.split(",")]
    crawls = [c for c in crawls if c] if args.crawl.strip() else []
    if args.source != "commoncrawl" and args.crawl.strip():
        raise BadArgument(f"--crawl names Common Crawl's crawls: only for commoncrawl, not {args.source}")
    if args.source == "commoncrawl":
        if not crawls:
            raise BadArgument("commoncrawl: name the crawls (--crawl CC-MAIN-2024-10,...) or --crawl all")
        if crawls != ["all"]:
            wrong = [c for c in args.crawl.split(",") if not CRAWL_ID.fullmatch(c.strip())]
            if wrong:
                raise BadArgument(f"--crawl {args.crawl!r}: {wrong[0].strip()!r} is no crawl id"
                                  " (CC-MAIN-YYYY-WW, or all)")
    cdx = settings.get("BACKFILL_COMMONCRAWL_CDX")
    endpoints = {
        "commoncrawl_collinfo": settings.get("BACKFILL_COMMONCRAWL_COLLINFO")
        or f"{origin_of(cdx)}/collinfo.json",
        "commoncrawl_cdx": cdx,
        "commoncrawl_data": settings.get("BACKFILL_COMMONCRAWL_DATA"),
        "wayback_cdx": settings.get("BACKFILL_WAYBACK_CDX"),
        "wayback_replay": settings.get("BACKFILL_WAYBACK_REPLAY"),
    }
    settle = {"wayback": settings.getint("BACKFILL_WAYBACK_SETTLE_DAYS"),
              "cc-news": settings.getint("BACKFILL_CC_NEWS_SETTLE_DAYS")}.get(args.source, 0)
    return Job(args.source, languages, since, until, crawls, endpoints,
               batch_size=settings.getint("BACKFILL_BATCH_SIZE"),
               progress_interval=settings.getfloat("BACKFILL_PROGRESS_INTERVAL"),
               settle_days=settle, retries=settings.getint("BACKFILL_RETRIES"))


def intervals(job, settings) -> dict[str, float]:
    """The URL prefixes this job may request, each with its pace (seconds between requests)."""
    delay = settings.getfloat("BACKFILL_DELAY")
    e = job.endpoints
    if job.source == "wayback":
        return {e["wayback_cdx"]: settings.getfloat("BACKFILL_WAYBACK_CDX_DELAY"),
                e["wayback_replay"]: delay}
    if job.source == "cc-news":
        return {e["commoncrawl_data"]: delay}
    cdx = e["commoncrawl_cdx"].split("{crawl}")[0]
    return {cdx: delay, e["commoncrawl_collinfo"]: delay, e["commoncrawl_data"]: delay}


def outcome(counts: Counter, error: str | None, unavailable: str | None = None) -> Outcome:
    """The backfill's outcome (`crawler.outcome.Outcome`): ok, or why it did not do its job
    (failed, exit status 3). `error`: the archive could not be written; `unavailable`: an
    archive kept failing and the run stopped early (`client.Unavailable`)."""
    if error:
        return failed(f"the archive could not be written: {error}")
    if unavailable:
        return failed(f"stopped: {unavailable}; what was not fetched is fetched by the next run"
                      " (run again later)")
    read_nothing = not (counts["listings/read"] or counts["skipped/listing_done_before"])
    if counts["listings/failed"] and read_nothing:
        return failed("no index or listing could be read")
    if counts["found"] and not counts["fetched"]:
        return failed(f"{counts['found']} captures to fetch and none fetched")
    tried = counts["found"] + counts["failed/cdx_row"]  # a row naming no capture failed as well
    if counts["failed"] and 2 * counts["failed"] > max(tried, counts["failed"]):
        return failed(f"most captures failed ({counts['failed']} of {max(tried, counts['failed'])})")
    problems = []
    if counts["listings/failed"]:
        problems.append(f"{counts['listings/failed']} listings could not be read")
    if counts["files/failed"]:
        problems.append(f"{counts['files/failed']} WARC files could not be read to their end")
    return failed("; ".join(problems)) if problems else OK


def main(argv: list[str] | None = None) -> int:
    from scrapy.utils.project import get_project_settings

    from crawler import setting_checks, setting_names
    from crawler.archive import Archive, integrity, paths, utc_now
    from crawler.archive.lock import ArchiveLocked, RunLock
    from crawler.backfill.client import PoliteClient, Unavailable
    from crawler.backfill.run import Backfill, Stopper
    from crawler.warc.capture import WarcFiles, warc_dir

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse(argv)
    settings = get_project_settings()
    try:
        for pair in args.settings:
            name, _, value = pair.partition("=")
            settings.set(name.strip(), value, priority="cmdline")
        if args.archive:
            settings.set("ARCHIVE_PATH", str(args.archive), priority="cmdline")
        # As `scrapy crawl` checks them (crawler/setting_names.py, crawler/setting_checks.py).
        refused = setting_names.check(args.settings)[0] or setting_checks.problem(settings)
        if refused:
            raise BadSetting(refused)
        job = job_from(args, settings)
    except BadArgument as exc:
        kind = "bad setting" if isinstance(exc, BadSetting) else "bad argument"
        print(f"dw backfill failed: {kind}: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENT
    counts: Counter = Counter()
    archive_path = Path(settings.get("ARCHIVE_PATH"))
    # Not the archive's run lock: a backfill may run beside a crawl (the archive orders their
    # writes by fetch time), but not beside another backfill (`<archive>.backfill.lock`).
    lock = RunLock(archive_path, purpose="backfill")

    def give_up(verdict: Outcome) -> int:  # before the archive is open: no crawl_runs row
        lock.release()
        print(json.dumps({"outcome": verdict.text}))
        if verdict is STOPPED:
            print("Stopped before anything was fetched.", file=sys.stderr)
            return EXIT_STOPPED
        print(f"dw backfill failed: {verdict}", file=sys.stderr)
        return verdict.exit_code

    stopper = Stopper()
    signal.signal(signal.SIGINT, stopper)
    signal.signal(signal.SIGTERM, stopper)  # as Ctrl-C: what is in hand is written, the run recorded
    started, error, stopped, unavailable = utc_now(), None, False, None
    try:
        # Before anything is written or created, the lock's file too (the .recover line).
        integrity.refuse(archive_path)
        lost = paths.lost_archive(archive_path, settings.get("WARC_DIR"))
        if lost:
            raise integrity.NotAnArchive(lost)
        lock.acquire()
        client = PoliteClient(intervals(job, settings), counts, user_agent=settings.get("USER_AGENT"),
                              retries=settings.getint("BACKFILL_RETRIES"),
                              backoff=settings.getfloat("BACKFILL_BACKOFF"),
                              retry_after_max=settings.getfloat("BACKFILL_RETRY_AFTER_MAX"),
                              timeout=settings.getfloat("BACKFILL_TIMEOUT"),
                              breaker=settings.getint("BACKFILL_BREAKER"))
        warcs = WarcFiles(warc_dir(settings), settings.getint("WARC_MAX_SIZE"),
                          {"software": "dw-archive backfill", "description": f"captures from {job.source}"},
                          prefix=f"backfill-{job.source}")
        archive = Archive.from_settings(settings)
    except KeyboardInterrupt:
        return give_up(STOPPED)
    except ArchiveLocked as exc:
        holder = f"pid {exc.pid}" if exc.pid else "its process unknown"
        return give_up(failed(f"another backfill is running on this archive (lock {exc.path}, {holder})"))
    except integrity.ArchiveRefused as exc:
        return give_up(failed(str(exc)))
    except (sqlite3.Error, OSError, ValueError) as exc:
        return give_up(failed(f"the archive could not be written: cannot open {archive_path}: {exc}"))
    try:
        Backfill(job, archive, client, warcs, counts, stopper).run()
    except KeyboardInterrupt:
        stopped = True
    except Unavailable as exc:
        unavailable = f"{exc.origin} kept failing ({exc.failures} requests in a row, {exc.reason})"
        logger.error("Stopping: %s", unavailable)
    except sqlite3.Error as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the last net: one line, counted, the run recorded
        counts["failed/internal"] += 1
        error = f"an unexpected {type(exc).__name__}: {exc}"
        logger.error("Backfill stopped by %s", error)
        logger.debug("Where:", exc_info=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the account of the run is written whole
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        warcs.close()
    if counts["listings/read"] and not counts["captures/listed"] and not stopped:
        # pywb answers a collection it does not have as it answers one with nothing in the range
        logger.warning("The listings read named no capture at all: check the range, the languages"
                       " and the endpoints (%s)", ", ".join(sorted(set(job.endpoints.values()))))
    verdict = STOPPED if stopped else outcome(counts, error, unavailable)
    summary = {k: v for k, v in sorted(counts.items())}
    try:
        archive.record_run({
            "started_at": started, "finished_at": utc_now(),
            "arguments": json.dumps({"backfill": job.source, "lang": ",".join(job.languages),
                                     "since": str(job.since or ""), "until": str(job.until or ""),
                                     "crawl": ",".join(job.crawls)}),
            "finish_reason": "shutdown" if stopped else "finished", "outcome": verdict.text,
            "found": counts["found"], "fetched": counts["fetched"], "not_modified": 0,
            "new": counts["new"], "updated": counts["updated"] + counts["earlier"],
            "unchanged": counts["unchanged"],
            "skipped": sum(v for k, v in counts.items() if k.startswith("skipped/")),
            "failed": counts["failed"], "stats": json.dumps(summary), "coverage": "{}"})
    except sqlite3.Error as exc:
        logger.error("Could not record the run in crawl_runs: %s", exc)
    finally:
        archive.close()
        lock.release()  # after the connection is closed (crawler/archive/lock.py)
    logger.log(logging.INFO if verdict.ok else logging.ERROR, "Backfill %s (%s): %s",
               job.source, verdict, json.dumps(summary))
    print(json.dumps({"outcome": verdict.text, **summary}))
    if stopped:
        print("Stopped; run the same command again to resume.", file=sys.stderr)
        return EXIT_STOPPED
    if verdict.exit_code:
        print(f"dw backfill failed: {verdict}", file=sys.stderr)
        return verdict.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
