"""Re-extract the archive from its WARC files, or import WARCs written by other tools.

    python -m crawler.reextract [--archive PATH] [--workers N] [--origin URL] [WARC|DIR ...]

Reads every record of the given WARC files (default: every `*.warc.gz` / `*.warc` in the
crawl's WARC folder, `data/warc/` beside the default archive `data/dw.db`), runs today's
extractor and normaliser over every sound DW article response, in the order the files hold
them (one worker process per core, while the files are read), and writes the results with
the crawl's archive writer (in this process, in batches of one capture second): a new article
is added, one whose stored content differs gets a revision whose `cause` is `reextract`, one
whose content is unchanged is left alone, but for its empty columns (one an upgrade added),
which are filled (`filled` in the counts; no revision). A record older than the one an article row was
made from is not applied. Everything else (requests, sitemaps, feeds,
redirects, other sites, damaged or truncated records) is counted by kind and skipped.
`--origin` names a mirror the WARC was fetched from (as `DW_ORIGIN` does for a crawl), so
that its URLs are read as the dw.com URLs they stand for.

Stopped (Ctrl-C, a kill), it resumes when run again with the same extractor: the records
done are kept in the archive's `reextract_progress` table until a run completes. Files are
applied in capture order (the WARC-Date of each one's first record), whatever order they are
given in. Exit status: 0 done, 2 nothing to read (a path that does not exist or is not a WARC,
an `--origin` that is not an http(s) URL; nothing is created), 3 the archive cannot be
written, 130 stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from crawler import dw
from crawler.middlewares import Origins
from crawler.warc.adapter import (
    default_archive_and_warcs,
    extract_record,
    extractor_version,
    fills,
    open_archive,
    quiet_worker,
    stored_source,
    write_articles,
)
from crawler.warc.progress import Checkpoint, progress
from crawler.warc.read import Entry, in_capture_order, scan, unreadable, warc_files

__all__ = ["extractor_version", "main", "run"]

logger = logging.getLogger("crawler.reextract")


def kind_of(entry: Entry, url: str) -> str:
    """`article` for a sound 200 HTML response of a DW article at `url`, else what it is."""
    if entry.kind != "response":
        return entry.kind
    if not dw.is_dw_host(url):
        return "not_dw"
    if entry.status is None or entry.status >= 300:
        return "redirect" if entry.status in (301, 302, 303, 307, 308) else f"http_{entry.status}"
    target = dw.parse_url(url)
    if target is None:
        return "not_dw_content"  # robots.txt, sitemaps, feeds, the home page
    if target.kind != "article":
        return f"type/{target.kind}"
    if entry.content_type and "html" not in entry.content_type.lower():
        return "not_html"
    return "article"


def tasks(files: list[Path], counts: Counter, real_url: Callable[[str], str],
          done: set[tuple[str, int]], dates: dict[tuple[str, int], str]) -> Iterator[tuple[Entry, str]]:
    """(entry with its payload, real URL) of each sound DW article response in the files, in
    order, but those in `done`; every other record counted in `counts` as `skipped/<kind>`.
    The date of every article response is noted in `dates` by (file name, offset).
    """
    def wanted(entry: Entry) -> bool:
        return kind_of(entry, real_url(entry.uri)) == "article"

    for path in files:
        for entry in scan(path, keep=wanted):
            counts["records"] += 1
            url = real_url(entry.uri)
            kind = kind_of(entry, url)
            if kind != "article":
                counts[f"skipped/{kind}"] += 1
                if entry.problem:
                    logger.warning("Skipping a %s record at %s:%d: %s", entry.kind, entry.path,
                                   entry.offset, entry.problem)
                continue
            key = (Path(entry.path).name, entry.offset)
            dates[key] = entry.date
            counts["article_responses"] += 1
            if key in done:
                counts["resumed"] += 1
                continue
            yield entry, url


def _newer(entry: Entry, stored, dates: dict) -> bool:
    """True when the record is at least as new as the one the row was made from (or, when that
    one is not among the files read, as the row's last sighting)."""
    _, warc_file, warc_offset, last_seen_at, _ = stored
    source_date = dates.get((Path(warc_file).name, warc_offset)) if warc_file else None
    return entry.date >= (source_date or last_seen_at or "")


def _results(work: Iterator, workers: int) -> Iterator:
    if workers <= 1:
        yield from map(extract_record, work)
        return
    with multiprocessing.get_context("fork").Pool(workers, initializer=quiet_worker) as pool:
        yield from pool.imap(extract_record, work, chunksize=4)


class _Writer:
    """Articles to store, written in batches of one capture second (one transaction each)."""

    def __init__(self, archive, counts: Counter, checkpoint: Checkpoint, size: int = 200):
        self.archive, self.counts, self.checkpoint, self.size = archive, counts, checkpoint, size
        self.batch: list[dict] = []
        self.ids: set[int] = set()
        self.done: list[tuple[str, int]] = []
        self.seen_at = ""

    def add(self, article: dict | None, entry: Entry) -> None:
        if article is not None:
            if self.batch and (entry.date != self.seen_at or len(self.batch) >= self.size):
                self.flush()
            self.seen_at = entry.date
            self.batch.append(article)
            self.ids.add(article["id"])
        self.done.append((entry.path, entry.offset))
        if not self.batch:
            self.flush()

    def flush(self) -> None:
        # A batch's commit and the checkpoint of its records go together: Ctrl-C between the
        # two would leave stored articles unmarked, so SIGINT waits until both are done. Not by
        # blocking it: the kernel then hands it to another thread (the worker pool's), whose
        # Python handler still raises in this one; a handler that only notes it is safe.
        interrupted: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        try:
            if self.batch:
                for verdict, n in write_articles(self.archive, self.batch, self.seen_at).items():
                    self.counts[verdict] += n
                self.batch, self.ids = [], set()
                for path, offset in self.done:
                    self.checkpoint.mark(path, offset)
                self.checkpoint.save()
            else:
                for path, offset in self.done:
                    self.checkpoint.mark(path, offset)
            self.done = []
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted:
            raise KeyboardInterrupt


def run(archive_path: Path, files: list[Path], workers: int,
        real_url: Callable[[str], str] = lambda url: url) -> Counter:
    """Re-extract `files` into the archive at `archive_path`; the counts of what happened.

    Raises `sqlite3.Error` when the archive cannot be opened or written.
    """
    scanned: Counter = Counter(files=len(files))
    counts: Counter = Counter()
    dates: dict[tuple[str, int], str] = {}
    archive = open_archive(archive_path)
    checkpoint = Checkpoint(archive.db, extractor_version())
    writer = _Writer(archive, counts, checkpoint)
    try:
        work = tasks(files, scanned, real_url, checkpoint.done(), dates)
        for entry, result in progress(_results(work, workers), files):
            if isinstance(result, str):
                counts[f"skipped/{result}"] += 1
                writer.add(None, entry)
                continue
            if result["id"] in writer.ids:
                writer.flush()  # the same article twice in a batch: the earlier one first
            result.update(warc_file=entry.path, warc_offset=entry.offset)
            stored = stored_source(archive, result["id"])
            if stored is not None and stored[0] == result["content_hash"]:
                if fills(result, stored[4]) and _newer(entry, stored, dates):
                    # a column an upgrade added, filled from the row's own capture: no revision
                    counts["filled"] += 1
                else:
                    counts["unchanged"] += 1
                    result = None
            elif stored is not None and not _newer(entry, stored, dates):
                counts["skipped/older_than_archived"] += 1
                result = None
            writer.add(result, entry)
        writer.flush()
        checkpoint.finish()
    finally:
        try:
            checkpoint.save()
        finally:
            archive.close()
    return scanned + counts


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    archive_default, warc_default = default_archive_and_warcs()
    parser = argparse.ArgumentParser(prog="python -m crawler.reextract",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("warcs", nargs="*", type=Path, metavar="WARC",
                        help=f"WARC files or folders (default: {warc_default})")
    parser.add_argument("--archive", type=Path, default=archive_default,
                        help=f"the SQLite archive (default: {archive_default})")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="extraction processes (default: one per core)")
    parser.add_argument("--origin", action="append", default=[],
                        help="a mirror the WARCs were fetched from, read as www.dw.com")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for origin in args.origin:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            print(f"--origin {origin!r} is not an http(s) URL (write http://{origin.lstrip('/')})",
                  file=sys.stderr)
            return 2
    problems = [problem for problem in map(unreadable, args.warcs) if problem]
    if problems:  # before the archive is opened: a typo never creates an empty archive
        print(problems[0], file=sys.stderr)
        return 2
    files = in_capture_order(warc_files(args.warcs or [warc_default]))
    if not files:
        print(f"No WARC files in {', '.join(map(str, args.warcs or [warc_default]))}", file=sys.stderr)
        return 2
    mirrors = [Origins(o.rstrip("/"), o.rstrip("/"), o.rstrip("/")) for o in args.origin]

    def real_url(url: str) -> str:
        for mirror in mirrors:
            url = mirror.real_url(url)
        return url

    try:
        counts = run(args.archive, files, args.workers, real_url)
    except KeyboardInterrupt:
        print("Stopped; run the same command again to resume.", file=sys.stderr)
        return 130
    except sqlite3.Error as exc:
        print(f"The archive {args.archive} cannot be written: {exc}", file=sys.stderr)
        return 3
    logger.info("Re-extraction done: %s", json.dumps(dict(sorted(counts.items()))))
    print(json.dumps(dict(sorted(counts.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
