"""The command `python -m crawler.backfill` (see the package's docstring): arguments, settings,
the run's outcome, its `crawl_runs` row and exit status."""

from __future__ import annotations

import argparse
import calendar
import json
import logging
import sqlite3
import sys
from collections import Counter
from datetime import date
from pathlib import Path

from crawler import dw
from crawler.backfill.sources import SOURCES
from crawler.outcome import EXIT_FAILED, OK, Outcome, failed

logger = logging.getLogger("crawler.backfill")

EXIT_OK, EXIT_BAD_ARGUMENT, EXIT_STOPPED = 0, 2, 130  # EXIT_FAILED (3): crawler.outcome


class BadArgument(ValueError):
    pass


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
    return parser.parse_args(argv)


def job_from(args: argparse.Namespace, settings):
    """The `Job` the arguments ask for; raises BadArgument saying which is wrong."""
    from crawler.backfill.run import Job

    if args.source not in SOURCES:
        raise BadArgument(f"source {args.source!r}: one of {', '.join(SOURCES)}")
    languages = (list(dw.LANGUAGES) if args.lang == "all"
                 else [x.strip() for x in args.lang.split(",") if x.strip()])
    unknown = [x for x in languages if x not in dw.LANGUAGES]
    if unknown or not languages:
        raise BadArgument(f"--lang {args.lang!r}: {', '.join(unknown) or 'empty'} is no DW language")
    since, until = (_day(args.since) if args.since else None), (_day(args.until) if args.until else None)
    if args.month:
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
    crawls = [c.strip() for c in args.crawl.split(",") if c.strip()]
    if args.source == "commoncrawl" and not crawls:
        raise BadArgument("commoncrawl: name the crawls (--crawl CC-MAIN-2024-10,...) or --crawl all")
    endpoints = {
        "commoncrawl_collinfo": settings.get("BACKFILL_COMMONCRAWL_COLLINFO"),
        "commoncrawl_cdx": settings.get("BACKFILL_COMMONCRAWL_CDX"),
        "commoncrawl_data": settings.get("BACKFILL_COMMONCRAWL_DATA"),
        "wayback_cdx": settings.get("BACKFILL_WAYBACK_CDX"),
        "wayback_replay": settings.get("BACKFILL_WAYBACK_REPLAY"),
    }
    return Job(args.source, languages, since, until, crawls, endpoints,
               settings.getint("BACKFILL_BATCH_SIZE"))


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


def outcome(counts: Counter, error: str | None) -> Outcome:
    """The backfill's outcome (`crawler.outcome.Outcome`): ok, or why it did not do its job."""
    if error:
        return failed(f"the archive could not be written: {error}")
    read_nothing = not (counts["listings/read"] or counts["skipped/listing_done_before"])
    if counts["listings/failed"] and read_nothing:
        return failed("no index or listing could be read")
    if counts["found"] and not counts["fetched"]:
        return failed(f"{counts['found']} captures to fetch and none fetched")
    if counts["failed"] >= 3 and counts["failed"] > max(counts["fetched"], 1) // 2:
        return failed(f"most captures failed ({counts['failed']} of {counts['found'] or counts['fetched']})")
    if counts["listings/failed"]:
        return failed(f"{counts['listings/failed']} listings could not be read")
    return OK


def main(argv: list[str] | None = None) -> int:
    from scrapy.utils.project import get_project_settings

    from crawler import setting_names
    from crawler.archive import Archive, integrity, paths, utc_now
    from crawler.archive.lock import ArchiveLocked, RunLock
    from crawler.backfill.client import PoliteClient
    from crawler.backfill.run import Backfill
    from crawler.warc.capture import WarcFiles, warc_dir

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse(argv)
    settings = get_project_settings()
    try:
        for pair in args.settings:
            name, sep, value = pair.partition("=")
            if not sep:
                raise BadArgument(f"-s {pair!r}: write NAME=VALUE")
            settings.set(name, value, priority="cmdline")
        if args.archive:
            settings.set("ARCHIVE_PATH", str(args.archive), priority="cmdline")
        # As `scrapy crawl` checks them (crawler/setting_names.py, crawler/archive/paths.py).
        refused = (setting_names.check(setting_names.given_names(args.settings))[0]
                   or paths.problem(settings.get("ARCHIVE_PATH")))
        if refused:
            raise BadArgument(refused)
        job = job_from(args, settings)
    except BadArgument as exc:
        print(f"dw backfill: bad argument: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENT
    archive_path = Path(settings.get("ARCHIVE_PATH"))
    try:  # before anything is written or created, the lock's file too (the .recover line)
        integrity.refuse_damaged(archive_path)
    except sqlite3.Error as exc:
        print(f"dw backfill failed: cannot open {archive_path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # Not the archive's run lock: a backfill may run beside a crawl (the archive orders their
    # writes by fetch time), but not beside another backfill.
    lock = RunLock(archive_path, purpose="backfill")  # held until the process ends
    try:
        lock.acquire()
    except ArchiveLocked:
        print("dw backfill failed: another backfill is running on this archive", file=sys.stderr)
        return EXIT_FAILED
    counts: Counter = Counter()
    started, error, stopped = utc_now(), None, False
    client = PoliteClient(intervals(job, settings), counts, user_agent=settings.get("USER_AGENT"),
                          retries=settings.getint("BACKFILL_RETRIES"),
                          retry_after_max=settings.getfloat("BACKFILL_RETRY_AFTER_MAX"))
    warcs = WarcFiles(warc_dir(settings), settings.getint("WARC_MAX_SIZE"),
                      {"software": "dw-archive backfill", "description": f"captures from {job.source}"},
                      prefix=f"backfill-{job.source}")
    try:
        archive = Archive.from_settings(settings)
    except (sqlite3.Error, OSError) as exc:
        print(f"dw backfill failed: cannot open {archive_path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        Backfill(job, archive, client, warcs, counts).run()
    except KeyboardInterrupt:
        stopped = True
    except sqlite3.Error as exc:
        error = str(exc)
    finally:
        warcs.close()
    verdict = (Outcome("stopped", "stopped: you stopped it (Ctrl-C or SIGTERM)") if stopped
               else outcome(counts, error))
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
