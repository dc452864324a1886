"""Re-extract the archive from its WARC files, or import WARCs written by other tools.

    python -m crawler.reextract [--archive PATH] [--workers N] [--origin URL] [WARC|DIR ...]

Reads every record of the given WARC files (default: the archive's own captures, every
`*.warc.gz` / `*.warc` in its folder, `data/dw.db-warc/` for the default archive `data/dw.db`,
and, for an archive made before each had its own, the files in the `warc/` beside it that its
articles name; never another archive's), runs today's
extractor and normaliser over every sound DW article response, in the order the files hold
them (one worker process per core, while the files are read), and writes the results with
the crawl's archive writer (in this process, in batches of one capture second): a new article
is added, one whose stored content differs gets a revision whose `cause` is `reextract`, one
whose content is unchanged is left alone, but for its empty columns (one an upgrade added),
which are filled (counted `unchanged`, and `filled`; no revision). That is for a capture the
archive holds (the one its version was read from, or a sighting or revision at its date); a
record older than the one an article row was made from is then not applied. A capture the
archive does not hold (a rebuild into a new file, another tool's WARC, what a killed run
fetched and never stored) is stored as the crawl stores a fetch: new, an edit, a sighting of
content it has, or, older than what it holds, an earlier revision in its place in time. A
304's `revisit` record marks its article seen (`not_modified`); each article keeps its last
response's `ETag` and `Last-Modified`; revisions and sightings of a capture the archive did not
hold carry the cause of its maker, read off its file's `warcinfo` (`capture_cause`). The
articles each run found gone (404/410 of a listed article, by the request record's account of
what was asked) go to `gone_articles` by the crawl's rule, run by run (`GoneLog`,
`remember_gone`). So an archive rebuilt from a crawl's WARCs equals the crawl's
(tests/test_rebuild.py). Everything else
(requests, sitemaps, feeds, redirects, other sites, damaged or truncated records, responses
marked `WARC-Truncated`: `warc_truncated/disconnect` for a crawl's response cut short) is counted
by kind and skipped; the form each record's payload digest takes is counted too
(`payload_digest/entity_body`, `as_sent`, `both`, `unmatched`, `unverifiable`: see
crawler/warc/read.py).
`--origin` names a mirror the WARC was fetched from (as `DW_ORIGIN` does for a crawl), so
that its URLs are read as the dw.com URLs they stand for.

Stopped (Ctrl-C, a kill), it resumes when run again with the same extractor: the records
done are kept in the archive's `reextract_progress` table until a run completes. Files are
applied in capture order (the WARC-Date of each one's first record), whatever order they are
given in. It takes the archive's run lock, as a crawl does. Exit status, as `scrapy crawl`'s: 0
done; 2 argparse's usage errors (an unknown option, `--workers abc`); 3 an argument refused or
nothing to read (a path that does not exist or is not a WARC, an `--origin` that is not an origin
by `DW_ORIGIN`'s rule, an `--archive` that is empty, `:memory:` or a URI, `--workers` less than 1,
more than `most_workers()`, or not in digits 0-9 alone (` 2`, `٢`); nothing is created) or
the archive cannot be written (damaged: found before anything is written, `integrity_check`,
with the `.recover` line; or a crawl or the archive writer holds it), its last line `dw reextract
failed: REASON` as the other commands'; 130 stopped.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from scrapy.utils.project import get_project_settings

from crawler import dw, setting_checks
from crawler.archive import Archive, ArchiveLocked, Fetched, RunLock, as_record, gone, integrity, paths
from crawler.archive.records import article_row
from crawler.codings import Damaged, TooLarge
from crawler.dates import in_the_future
from crawler.extract import NotAnArticle, extract
from crawler.extract.version import extractor_version
from crawler.middlewares import Origins
from crawler.outcome import EXIT_FAILED
from crawler.warc.capture import warc_dir
from crawler.warc.read import Entry, decode, in_capture_order, scan, unreadable, warc_files

__all__ = ["extractor_version", "main", "recover", "run"]

logger = logging.getLogger("crawler.reextract")

CAUSE = "reextract"
# What a `revisit` record of a 304 (profile server-not-modified) stands for: the article seen
# again, unchanged, as the crawl records it (`crawler.archive.records.Fetched`).
NOT_MODIFIED = "not_modified"


# -- a page -> the article as stored; the archive ----------------------------------------

def article_from_page(body: bytes, url: str, charset: str | None) -> dict | str:
    """The normalised article dict of one page, or the kind of page it is when not an article.

    Does what the crawl does to a fetched page: extract (which applies the one normaliser,
    `crawler.extract.normalize`), keep `kind == "article"`, check and hash (`as_record`).
    """
    try:
        article = extract(body, url=url, encoding=charset)
    except NotAnArticle as exc:  # counted by kind when refused for one (`too_deep`, `too_costly`)
        return f"not_an_article/{exc.kind}" if exc.kind else "not_an_article"
    if article.kind != "article":
        return f"type/{article.kind}"
    article.extractor_version = extractor_version()
    return as_record(article.to_dict())


def stored_source(archive, content_id: int) -> tuple | None:
    """(content_hash, warc_file, warc_offset, last_seen_at, the names of its empty columns) of
    an archived article, or None. A column is empty (NULL) when an upgrade added it after the
    article was stored, or when the extractor of the time found nothing for it."""
    cursor = archive.db.execute("SELECT * FROM articles WHERE id = ?", [content_id])
    row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip((c[0] for c in cursor.description), row, strict=True))
    empty = frozenset(name for name, value in values.items() if value is None)
    return (values["content_hash"], values["warc_file"], values["warc_offset"],
            values["last_seen_at"], empty)


def fills(record: dict, empty: frozenset) -> bool:
    """True when the article would give a value to one of the stored row's empty columns."""
    return any(article_row(record).get(name) is not None for name in empty)


def write_articles(archive, articles: list[dict], seen_at: str,
                   fetches: list[Fetched] = (), cause: str = CAUSE) -> dict[str, int]:
    """Store articles and 304s (`fetches`, each marking its archived article seen at its
    `fetched_at`, as the crawl's 304s do) in one transaction: counts of `new`, `updated` (each
    updated one gets a revision with cause `reextract`), `unchanged`, `earlier` (older captures
    kept as earlier revisions), `older`, `filled` (empty columns given a value) and
    `not_modified` (the 304s); each article carries its capture's date (`fetched_at`). `cause`
    is recorded on the revisions and sightings written (`capture_cause`)."""
    # As the crawl does for each article it stores: its own short link.
    links = [(dw.encode_short_code(a["id"]), a["id"]) for a in articles]
    counts = archive.write_batch(articles, links, fetches, seen_at=seen_at, cause=cause)
    counts["unchanged"] -= len(fetches)  # the archive counts a 304 as unchanged; apart here
    counts["not_modified"] = len(fetches)
    return {name: counts[name] for name in ("new", "updated", "unchanged", "earlier", "older", "filled",
                                            "not_modified") if counts[name]}


# -- the workers ---------------------------------------------------------------------------

# prctl(2): the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def _ended_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies; False where it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def quiet_worker(parent: int) -> None:
    """A worker's set-up: Ctrl-C is the parent's (pid `parent`) to handle, and the parent's
    death ends the worker without a word.

    A parent killed (SIGKILL, the OOM killer) leaves the pipe of results without a reader: a
    worker's next result would raise BrokenPipeError and print a traceback per worker on the
    terminal. With SIGPIPE's default action the write ends the worker silently instead; but it
    dies holding the pipe's lock, and a worker waiting for that lock (or for a task) would wait
    for ever, so each worker is also ended by the kernel when the parent dies. Where that
    cannot be asked (not Linux) SIGPIPE stays ignored: a traceback, but no worker left behind.
    The results lost are redone by the next run: the checkpoint marks only what was stored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if _ended_with_parent():
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        if os.getppid() != parent:  # it died before the kernel was asked
            os._exit(0)


def extract_record(task: tuple[Entry, str]) -> tuple[Entry, dict | str]:
    """In a worker: (entry with its payload, real URL) -> (the entry without its payload,
    the article dict or the kind of page it was)."""
    entry, url = task
    light = replace(entry, payload=None)
    if entry.kind == "revisit":
        return light, NOT_MODIFIED
    try:
        body = decode(entry)
    except TooLarge as exc:  # a bomb: refused at the crawl's own size limit (DOWNLOAD_MAXSIZE)
        logger.warning("%s:%d: %s", entry.path, entry.offset, exc)
        return light, "too_large"
    except Damaged as exc:  # the crawl's reason for the same damage: `damaged_gzip`, ...
        logger.warning("%s:%d: %s", entry.path, entry.offset, exc)
        return light, exc.reason
    except ValueError as exc:
        logger.warning("%s:%d: %s", entry.path, entry.offset, exc)
        return light, "undecodable"
    charset = entry.content_type.lower().partition("charset=")[2].split(";")[0].strip() or None
    try:
        return light, article_from_page(body, url, charset)
    except Exception:  # noqa: BLE001 - one bad page must not end the run; it is counted
        logger.exception("Extraction failed on %s (%s:%d)", url, entry.path, entry.offset)
        return light, "extractor_error"


# -- progress: what is done (to resume after a stop), what is shown meanwhile -----------------

LOG_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
PROGRESS_TABLE = "reextract_progress"
SAVE_EVERY = 1.0  # seconds between checkpoint writes (a kill redoes at most this much)


class Checkpoint:
    """Records done by an unfinished run, in the archive; emptied when a run completes."""

    def __init__(self, db, version: str):
        self.db = db
        self.version = version
        table = db[PROGRESS_TABLE]
        if not table.exists():
            table.create({"warc_file": str, "warc_offset": int, "extractor_version": str},
                         pk=("warc_file", "warc_offset"))
        db.execute(f"DELETE FROM {PROGRESS_TABLE} WHERE extractor_version != ?", [version])
        self.pending: list[tuple[str, int, str]] = []
        self.saved_at = time.monotonic()

    def done(self) -> set[tuple[str, int]]:
        return set(self.db.execute(f"SELECT warc_file, warc_offset FROM {PROGRESS_TABLE}"))

    def mark(self, path: str, offset: int) -> None:
        self.pending.append((Path(path).name, offset, self.version))
        if len(self.pending) >= 200 or time.monotonic() - self.saved_at >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        self.saved_at = time.monotonic()
        if self.pending:
            self.db.conn.executemany(f"INSERT OR IGNORE INTO {PROGRESS_TABLE} VALUES (?, ?, ?)",
                                     self.pending)
            self.pending = []

    def finish(self) -> None:
        self.pending = []
        self.db.execute(f"DELETE FROM {PROGRESS_TABLE}")


def progress(results: Iterator, files: list[Path]) -> Iterator:
    """Results, with a progress bar on a terminal, or a log line every LOG_EVERY seconds; both
    give pages per second and an ETA, from how far into the files the results are."""
    starts, total = {}, 0
    for path in files:
        starts[str(path)] = total
        total += path.stat().st_size if path.exists() else 0
    started = last = time.monotonic()
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc="re-extracting", smoothing=0.1)
    try:
        for n, result in enumerate(results, start=1):
            yield result
            entry = result[0]
            done = starts.get(entry.path, 0) + entry.offset
            now = time.monotonic()
            if bar is not None:
                bar.update(done - bar.n)
                bar.set_postfix_str(f"{n} pages, {n / max(now - started, 1e-6):.0f} pages/s",
                                    refresh=False)
            elif now - last >= LOG_EVERY:
                last = now
                rate, share = n / (now - started), done / total if total else 1.0
                eta = (now - started) * (1 - share) / share if share else 0.0
                logger.info("re-extracted %d pages (%.0f/s), %.0f%% of the WARC bytes,"
                            " about %.0f s to go", n, rate, share * 100, eta)
    finally:
        if bar is not None:
            bar.close()


# -- articles gone: what each run's captures say of its article requests ---------------------

@dataclass
class RunAnswers:
    """What one crawl run's captures say of its article requests, for `gone_articles`
    (crawler/archive/gone.py): the listed articles whose page answered 404/410 (`gone`), how
    many article pages answered (200, 304), and when those answered that may be held gone
    (`answered`: {id: date}; an article gone before, or found gone by an earlier run read here);
    `unknown`: 404/410 of article pages whose request record does not say what was asked."""

    gone: dict[int, gone.Gone] = field(default_factory=dict)
    answers: int = 0
    answered: dict[int, str] = field(default_factory=dict)
    unknown: int = 0


class GoneLog:
    """`RunAnswers` of each run whose files are read, in capture order, by `capture_run`."""

    def __init__(self, known: set[int]):
        self.known = known  # the ids an answer may take out of `gone_articles`
        self.runs: dict[str, RunAnswers] = {}

    def note(self, run: str, response: Entry, request: Entry, url: str) -> None:
        """One exchange: its `response`/`revisit` record and its `request` record (what the crawl
        asked for: crawler/warc/capture.py `ASKED`), `url` the response's real URL. As the crawl
        counts it: an answer of the article asked (the id it asked for, whatever page came), a
        404/410 of an article a listing named (not one `urls=` or a short link named: a failure)."""
        seen = self.runs.setdefault(run, RunAnswers())
        try:
            what = json.loads(request.asked) if request.asked else {}
        except ValueError:
            what = {}
        article = what.get("article") if isinstance(what, dict) else None
        if response.truncated:  # cut short: a failure of the crawl, retried
            return
        if type(article) is not int:
            target = dw.parse_url(url) if response.status in gone.GONE_STATUSES else None
            if target is not None and target.kind == "article" and not what:
                seen.unknown += 1
            return
        if (response.kind == "revisit" and response.status == 304) or (
                response.kind == "response" and response.status is not None and 200 <= response.status < 300):
            seen.answers += 1
            if article in self.known:
                seen.answered[article] = max(seen.answered.get(article, ""), response.date)
        elif response.kind == "response" and response.status in gone.GONE_STATUSES \
                and what.get("source") in gone.GONE_SOURCES:
            seen.gone[article] = gone.Gone(article, what.get("url") or url, response.status, response.date)
            self.known.add(article)


def capture_run(path: Path) -> str:
    """The crawl run that wrote a WARC file: the name it was written under (its `warcinfo`'s
    `WARC-Filename`, whatever it is called now; else its name) less the serial number
    `crawler.warc.capture.WarcFiles` gives a run's files: `dw-20261206053154-29782-00001.warc.gz`
    is of the run `dw-20261206053154-29782` (its start and process)."""
    from warcio.archiveiterator import ArchiveIterator

    name = None
    try:
        with open(path, "rb") as stream:
            first = next(iter(ArchiveIterator(stream)), None)
            if first is not None and first.rec_type == "warcinfo":
                name = first.rec_headers.get_header("WARC-Filename")
    except Exception:  # noqa: BLE001 - a damaged first record (counted by the scan): its name
        name = None
    name = (name or "").strip() or path.name
    stem, _, serial = name.removesuffix(".gz").removesuffix(".warc").rpartition("-")
    return stem if stem and serial.isdigit() else name


def remember_gone(archive: Archive, log: GoneLog, counts: Counter) -> None:
    """Write what each run found gone and which gone articles answered again, run by run in
    capture order, by the crawl's rule (crawler/archive/gone.py): only when some article page
    of the same run answered. Counts `gone` (found gone), `gone_remembered`,
    `gone_not_remembered` (a run in which no article page answered) and `gone/unknown`.
    Raises sqlite3.Error."""
    for run, seen in log.runs.items():
        for name, n in (("gone", len(seen.gone)), ("gone/unknown", seen.unknown)):
            if n:
                counts[name] += n
        if seen.gone and not seen.answers:
            logger.warning("%d articles answered 404/410 in the run %s and no article page answered"
                           " otherwise: not remembered as gone, as the crawl did not", len(seen.gone), run)
            counts["gone_not_remembered"] += len(seen.gone)
            continue
        written = gone.record_captured(archive.db.conn, seen.gone.values(), seen.answered)
        if written:
            counts["gone_remembered"] += written
    if counts["gone/unknown"]:
        logger.info("%d article pages answered 404/410 whose request records do not say which listing"
                    " asked for them (WARCs written before the crawl said so, or by another tool):"
                    " not remembered as gone", counts["gone/unknown"])


# -- the run ---------------------------------------------------------------------------------

def kind_of(entry: Entry, url: str) -> str:
    """`article` for a sound 200 HTML response of a DW article at `url`, `not_modified` for
    the `revisit` record of its 304, else what it is."""
    if entry.kind == "revisit" and entry.status == 304 and dw.is_dw_host(url):
        target = dw.parse_url(url)
        # Another tool's revisits (identical-payload-digest: a 200 whose body was not stored
        # again) stay `revisit`: skipped, counted.
        return NOT_MODIFIED if target is not None and target.kind == "article" else "revisit"
    if entry.kind != "response":
        return entry.kind
    if not dw.is_dw_host(url):
        return "not_dw"
    if entry.truncated:  # a part of the page (a connection cut, a writer's limit): no article
        return f"warc_truncated/{entry.truncated}"
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
          done: set[tuple[str, int]], dates: dict[tuple[str, int], str],
          log: GoneLog | None = None) -> Iterator[tuple[Entry, str]]:
    """(entry with its payload, real URL) of each sound DW article response and each 304 of one
    (its `revisit` record) in the files, in order, but those in `done`; every other record
    counted in `counts` as `skipped/<kind>`. The date of every article response is noted in
    `dates` by (file name, offset); with `log`, what every exchange said of the article asked
    (`GoneLog.note`), those in `done` too.
    """
    def wanted(entry: Entry) -> bool:
        return kind_of(entry, real_url(entry.uri)) == "article"

    for path in files:
        run = capture_run(path) if log is not None else ""
        for entry, request in _with_request(scan(path, keep=wanted)):
            counts["records"] += 1
            if log is not None and request is not None:
                log.note(run, entry, request, real_url(entry.uri))
            if entry.payload_digest:  # which form the writer digested: crawler/warc/read.py
                counts[f"payload_digest/{entry.payload_digest}"] += 1
                if entry.payload_digest == "unmatched":
                    logger.warning("The payload digest of the %s record at %s:%d matches neither"
                                   " form; its block digest holds, so it is read", entry.kind,
                                   entry.path, entry.offset)
            url = real_url(entry.uri)
            kind = kind_of(entry, url)
            if kind == NOT_MODIFIED and request is not None and request.conditional is False:
                # A 304 to a request without validators: the server's error, as the crawl
                # counts it (`failed/article/http_304`), not the article seen unchanged.
                kind = "http_304"
            if kind not in ("article", NOT_MODIFIED):
                counts[f"skipped/{kind}"] += 1
                if entry.problem:
                    logger.warning("Skipping a %s record at %s:%d: %s", entry.kind, entry.path,
                                   entry.offset, entry.problem)
                continue
            if in_the_future(entry.date):  # would stay the newest fetch for ever
                counts["skipped/future_date"] += 1
                logger.warning("Skipping the response for %s at %s:%d: its WARC-Date %s is in the"
                               " future", url, entry.path, entry.offset, entry.date)
                continue
            key = (Path(entry.path).name, entry.offset)
            if kind == "article":
                dates[key] = entry.date
                counts["article_responses"] += 1
            if key in done:
                counts["resumed"] += 1
                continue
            yield entry, url


def _with_request(entries: Iterator[Entry]) -> Iterator[tuple[Entry, Entry | None]]:
    """Each entry, in order, with, for a `response` or `revisit` record, its request record when
    that is written right after it (crawler/warc/capture.py writes the answer, then its request,
    `WARC-Concurrent-To` the answer): what was asked (`Entry.asked`) and whether it carried a
    validator (`Entry.conditional`). None for other records and where that request is not there
    (another tool's WARCs): a 304 is then taken as asked for, a 404 as of no known article."""
    held: Entry | None = None
    for entry in entries:
        if held is not None:
            ours = entry.kind == "request" and entry.concurrent_to == held.record_id
            yield held, entry if ours else None
            held = None
        if entry.kind in ("response", "revisit"):
            held = entry
            continue
        yield entry, None
    if held is not None:
        yield held, None


def _earlier_own_capture(entry: Entry, stored, dates: dict) -> bool:
    """True when the record is older than the one the article's stored version was read from
    and that one is among the files read: a capture of an earlier version, already in the
    archive's revisions as it was read then (today's extractor would read both anew, and
    comparing its reading with the stored one would make revisions of the extractor's changes,
    not DW's). Records of other files are handed to the archive, whose rule places an older
    capture as an earlier revision."""
    _, warc_file, warc_offset, _, _ = stored
    source_date = dates.get((Path(warc_file).name, warc_offset)) if warc_file else None
    return source_date is not None and entry.date < source_date


def capture_cause(path: Path) -> str:
    """Who made the captures of a WARC file, as the archive's `cause` names it, read off its
    `warcinfo` record: `crawl` for a crawl's files (`crawler.warc.capture.warcinfo`), the source
    (`commoncrawl`, `cc-news`, `wayback`) for a backfill's, else `reextract` (another tool's)."""
    first = next(scan(path, keep=lambda entry: entry.kind == "warcinfo"), None)
    if first is None or first.kind != "warcinfo" or not first.payload:
        return CAUSE
    fields = dict(line.partition(":")[::2] for line in first.payload.decode("utf-8", "replace").splitlines())
    fields = {name.strip().lower(): value.strip() for name, value in fields.items()}
    software, description = fields.get("software", ""), fields.get("description", "")
    if software.startswith("dw-archive/"):
        return "crawl"
    if software == "dw-archive backfill" and description.startswith("captures from "):
        return description.removeprefix("captures from ").strip() or CAUSE
    return CAUSE


def known_capture(archive, article_id: int, entry: Entry, stored) -> bool:
    """True when the archive already holds this capture of the article: the one its stored
    version was read from, or one of its sightings or revisions at the capture's date. A record
    the archive does not know (a rebuild from the WARCs, a run killed before it stored what it
    had fetched, another tool's WARC) is handed to the archive, whose rules place it."""
    _, warc_file, warc_offset, _, _ = stored
    if warc_file and warc_offset == entry.offset and Path(warc_file).name == Path(entry.path).name:
        return True
    return archive.db.execute(
        "SELECT 1 FROM sightings WHERE article_id = ? AND fetched_at = ?"
        " UNION ALL SELECT 1 FROM revisions WHERE article_id = ? AND fetched_at = ? LIMIT 1",
        [article_id, entry.date, article_id, entry.date]).fetchone() is not None


def _results(work: Iterator, workers: int) -> Iterator:
    if workers <= 1:
        yield from map(extract_record, work)
        return
    with multiprocessing.get_context("fork").Pool(workers, initializer=quiet_worker,
                                                  initargs=(os.getpid(),)) as pool:
        yield from pool.imap(extract_record, work, chunksize=4)


class _Writer:
    """Articles and 304s to store, written in batches of one capture second (one transaction
    each)."""

    def __init__(self, archive, counts: Counter, checkpoint: Checkpoint, size: int = 200):
        self.archive, self.counts, self.checkpoint, self.size = archive, counts, checkpoint, size
        self.batch: list[dict] = []
        self.fetches: list[Fetched] = []
        self.ids: set[int] = set()
        self.done: list[tuple[str, int]] = []
        self.seen_at = ""
        self.cause = CAUSE

    def add(self, article: dict | None, entry: Entry, fetch: Fetched | None = None,
            cause: str = CAUSE) -> None:
        if article is not None or fetch is not None:
            pending = len(self.batch) + len(self.fetches)
            if pending and (entry.date != self.seen_at or pending >= self.size or cause != self.cause):
                self.flush()
            self.seen_at, self.cause = entry.date, cause
            if article is not None:
                self.batch.append(article)
                self.ids.add(article["id"])
            else:
                self.fetches.append(fetch)
        self.done.append((entry.path, entry.offset))
        if not (self.batch or self.fetches):
            self.flush()

    def flush(self) -> None:
        # A batch's commit and the checkpoint of its records go together: Ctrl-C between the
        # two would leave stored articles unmarked, so SIGINT waits until both are done. Not by
        # blocking it: the kernel then hands it to another thread (the worker pool's), whose
        # Python handler still raises in this one; a handler that only notes it is safe.
        interrupted: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
        try:
            if self.batch or self.fetches:
                written = write_articles(self.archive, self.batch, self.seen_at, self.fetches,
                                         self.cause)
                for verdict, n in written.items():
                    self.counts[verdict] += n
                self.batch, self.fetches, self.ids = [], [], set()
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
        real_url: Callable[[str], str] = lambda url: url, settings=None) -> Counter:
    """Re-extract `files` into the archive at `archive_path`, opened under its run lock with the
    project's settings (or `settings`); the counts of what happened.

    Raises `ArchiveLocked` when a crawl or the archive writer holds the archive, `sqlite3.Error`
    (OSError) when it cannot be opened or written.
    """
    lock = RunLock(archive_path)
    lock.acquire()
    try:
        archive = Archive.from_settings(settings or get_project_settings(), archive_path)
        return _run(archive, files, workers, real_url)
    finally:
        lock.release()  # after the archive's connection is closed (crawler/archive/lock.py)


def _run(archive: Archive, files: list[Path], workers: int, real_url: Callable[[str], str]) -> Counter:
    scanned: Counter = Counter(files=len(files))
    counts: Counter = Counter()
    checkpoint = Checkpoint(archive.db, extractor_version())
    log = GoneLog(set(gone.load(archive.db.conn)))
    try:
        _apply(archive, files, workers, real_url, checkpoint.done(), scanned, counts, checkpoint, log=log)
        remember_gone(archive, log, counts)
        checkpoint.finish()
    finally:
        try:
            checkpoint.save()
        finally:
            archive.close()
    return scanned + counts


class _NoCheckpoint:
    """For a pass that keeps no progress of its own (`recover`: its records are few and the
    sightings it writes are what it skips when run again)."""

    def mark(self, path: str, offset: int) -> None:
        pass

    def save(self) -> None:
        pass


def _apply(archive: Archive, files: list[Path], workers: int, real_url: Callable[[str], str],
           done: set[tuple[str, int]], scanned: Counter, counts: Counter, checkpoint,
           shown: bool = True, log: GoneLog | None = None) -> None:
    """Read the files' article responses and 304s but those in `done`, and store what they hold
    (see the module doc); `scanned` and `counts` count what was read and what was done; with
    `shown`, a progress bar or log lines (`progress`); with `log`, what each exchange said of
    the article asked is noted in it (`tasks`)."""
    dates: dict[tuple[str, int], str] = {}
    writer = _Writer(archive, counts, checkpoint)
    causes = {str(path): capture_cause(path) for path in files}
    work = tasks(files, scanned, real_url, done, dates, log)
    results = _results(work, workers)
    for entry, result in progress(results, files) if shown else results:
        if result == NOT_MODIFIED:  # a 304: the article seen, as the crawl records it
            target = dw.parse_url(real_url(entry.uri))
            writer.add(None, entry, Fetched(target.id, etag=entry.etag, last_modified=entry.last_modified,
                                            not_modified=True, fetched_at=entry.date),
                       causes.get(entry.path, CAUSE))
            continue
        if isinstance(result, str):
            counts[f"skipped/{result}"] += 1
            writer.add(None, entry)
            continue
        if result["id"] in writer.ids:
            writer.flush()  # the same article twice in a batch: the earlier one first
        # Where the response is kept, and its validators, as the crawl stores them.
        result.update(warc_file=entry.path, warc_offset=entry.offset, etag=entry.etag,
                      last_modified=entry.last_modified)
        stored = stored_source(archive, result["id"])
        # A capture the archive already holds is only re-read; one it does not know is a
        # sighting to record, even of content it has (its date, validators, its capture).
        known = stored is not None and known_capture(archive, result["id"], entry, stored)
        if known and stored[0] == result["content_hash"]:
            if not fills(result, stored[4]) or _earlier_own_capture(entry, stored, dates):
                counts["unchanged"] += 1
                result = None  # else a column an upgrade added, filled: no revision
        elif known and _earlier_own_capture(entry, stored, dates):
            counts["skipped/older_than_archived"] += 1
            result = None
        if result is not None:
            result["fetched_at"] = entry.date  # the capture's date: the archive's clock
        # A capture the archive did not know is what its maker saw (a crawl's edit is the
        # crawl's revision); re-reading a known one is this command's doing.
        writer.add(result, entry, cause=CAUSE if known else causes.get(entry.path, CAUSE))
    writer.flush()


def recover(archive: Archive, folder: Path, since: str) -> Counter:
    """Store what a killed run fetched but never stored, from its WARC files: the article
    responses and 304s in the crawl's files of `folder` written at or after `since` (the killed run's
    start, `YYYY-MM-DDTHH:MM:SSZ`; the runs before it had ended: it held the run lock) that no
    sighting of the archive names, in capture order, through the archive's rules as a rebuild
    stores them. The counts (`new`, `unchanged`, `not_modified`, `resumed`: the records the
    archive already held, ...). Raises sqlite3.Error, OSError as a write does."""
    try:
        since_ts = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return Counter()
    if not folder.is_dir():
        return Counter()
    # A crawl's files only: a backfill's own records past its last commit are cut off by the next
    # backfill (crawler/backfill/run.py), never to be stored from here.
    files = in_capture_order([path for path in warc_files([folder])
                              if path.stat().st_mtime >= since_ts and capture_cause(path) == "crawl"])
    done: set[tuple[str, int]] = set()
    for path in files:  # what the archive holds is skipped unread: a killed run stored most of it
        done.update((path.name, offset) for (offset,) in archive.db.execute(
            "SELECT warc_offset FROM sightings WHERE warc_offset IS NOT NULL"
            " AND (warc_file = ? OR warc_file LIKE ?)", [str(path), f"%/{path.name}"]))
    scanned, counts = Counter(files=len(files)), Counter()
    if files:
        logger.info("Reading %d WARC file(s) of the killed run (%.1f MB) for what it fetched and did"
                    " not store", len(files), sum(path.stat().st_size for path in files) / 1e6)
        _apply(archive, files, 1, lambda url: url, done, scanned, counts, _NoCheckpoint(), shown=False)
    return scanned + counts


def captures_of(archive: Path, settings) -> tuple[Path, list[Path]]:
    """(the captures folder of the archive at `archive`, every WARC file holding its captures):
    its own folder (`WARC_DIR` when set), and the files of an older archive in the `warc/`
    folder it may share with others that its articles name (`crawler.archive.paths.capture_files`).
    Never another archive's. Read before the archive is opened for writing: it reads the archive
    through a connection of its own (see crawler/archive/lock.py)."""
    configured = settings.get("WARC_DIR")
    return paths.captures_dir(archive, configured), paths.capture_files(archive, configured)


def _captures_named_elsewhere(archive: Path) -> str:
    """A hint for an archive whose captures folder is not beside the name given (another name of
    the file, a hard link, or a moved archive): the folders its articles name that hold WARC
    files, and how to give them; "" when there are none."""
    try:
        with closing(sqlite3.connect(f"file:{archive.resolve()}?mode=ro", uri=True)) as db:
            named = [row[0] for row in db.execute(
                "SELECT DISTINCT warc_file FROM articles WHERE warc_file IS NOT NULL LIMIT 1000")]
    except sqlite3.Error:
        return ""
    folders = sorted({str(Path(name).parent) for name in named if Path(name).is_file()})
    if not folders:
        return ""
    links = archive.stat().st_nlink
    names = f"; {archive} is one of {links} names of one file (hard links)" if links > 1 else ""
    return (f"{names}. Its articles name captures in {', '.join(folders)}: give them, as in"
            f" python -m crawler.reextract --archive {archive} {' '.join(folders)}")


# Extraction is CPU-bound: workers past the cores only add processes, each a forked copy with
# its own parser and results in flight; 4 per core leaves room for the reading and
# writing to wait without a machine's memory going to thousands of them (`--workers 100000` forked
# until the kernel's OOM killer ended it).
WORKERS_PER_CORE = 4


def most_workers() -> int:
    """The most `--workers` taken: WORKERS_PER_CORE times the cores this process may run on."""
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


def workers_problem(workers: int) -> str | None:
    """Why `--workers N` cannot be used, in one sentence starting `--workers=N`; None when it can."""
    most = most_workers()
    if workers < 1:
        return (f"--workers={workers} is less than the least, 1; give the extraction processes, 1"
                f" to {most} (default: one per core)")
    if workers > most:
        return (f"--workers={workers} is more than the most, {most} ({WORKERS_PER_CORE} per core of"
                f" the {most // WORKERS_PER_CORE} this process may use: extraction is CPU-bound, and"
                " each worker is a process of its own); give 1 to"
                f" {most} (default: one per core)")
    return None


def refuse(reason: str) -> int:
    """End the command with exit status 3 and one line saying why, as the other commands end
    (`dw COMMAND failed: …`, crawler/commands/crawl.py): the line a cron mail holds."""
    print(f"dw reextract failed: {reason}", file=sys.stderr)
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    settings = get_project_settings()
    archive_default, warc_default = Path(settings.get("ARCHIVE_PATH")), warc_dir(settings)
    parser = argparse.ArgumentParser(prog="python -m crawler.reextract",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("warcs", nargs="*", type=Path, metavar="WARC",
                        help="WARC files or folders (default: the archive's own captures,"
                             f" {warc_default} for {archive_default})")
    # A str, not a Path: Path('') is '.', and `--archive ''` (an unset shell variable) would be
    # refused as "a folder" instead of as empty.
    parser.add_argument("--archive", type=str, default=str(archive_default),
                        help=f"the SQLite archive (default: {archive_default})")
    cores = len(os.sched_getaffinity(0))
    # Read as the settings' numbers are (setting_checks.read_whole), not by argparse's int(),
    # which takes ` 2` and `٢` (another script's digit) as 2.
    parser.add_argument("--workers", type=str, default=cores,
                        help=f"extraction processes, 1 to {most_workers()} (default: one per core, {cores})")
    parser.add_argument("--origin", action="append", default=[],
                        help="a mirror the WARCs were fetched from, read as www.dw.com")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for origin in args.origin:  # DW_ORIGIN's rule, from its one home
        refused = setting_checks.origin_problem("--origin", origin)
        if refused:
            return refuse(f"{refused}; give the mirror the WARCs were fetched from, as DW_ORIGIN"
                          " names it")
    workers = setting_checks.read_whole(args.workers)
    if workers is None:
        try:
            int(args.workers)
        except ValueError:  # no number at all (`abc`, `1.5`, empty): a usage error, as before
            parser.error(f"argument --workers: invalid int value: {args.workers!r}")
        return refuse(f"--workers={args.workers!r} is not a whole number as written (digits 0-9"
                      " only: no blank, line end, sign +, or _); give the extraction processes,"
                      f" 1 to {most_workers()} (default: one per core)")
    args.workers = workers
    refused = workers_problem(args.workers)
    if refused:  # before any process is forked or anything made
        return refuse(refused)
    refused = paths.problem(args.archive, "--archive")
    if refused:  # SQLite would take it for a temporary or in-memory database
        return refuse(refused)
    args.archive = Path(args.archive)
    problems = [problem for problem in map(unreadable, args.warcs) if problem]
    if problems:  # before the archive is opened: a typo never creates an empty archive
        return refuse(problems[0])
    try:  # before anything is written, as a crawl does: no archive, a damaged one or its -wal
        integrity.refuse(args.archive)
    except integrity.ArchiveRefused as exc:
        return refuse(str(exc))
    if args.warcs:
        files = in_capture_order(warc_files(args.warcs))
        where = ", ".join(map(str, args.warcs))
    else:  # the archive's own captures, never those of another archive beside it
        # Beside the archive's real file when it is given through a symbolic link.
        folder, own = captures_of(args.archive.resolve(), settings)
        files = in_capture_order(own)
        where = f"{folder} (the captures of {args.archive})"
    if not files:
        return refuse(f"No WARC files in {where}"
                      f"{_captures_named_elsewhere(args.archive) if not args.warcs else ''}")
    mirrors = [Origins(o.rstrip("/"), o.rstrip("/"), o.rstrip("/")) for o in args.origin]

    def real_url(url: str) -> str:
        for mirror in mirrors:
            url = mirror.real_url(url)
        return url

    try:
        counts = run(args.archive, files, args.workers, real_url, settings)
    except KeyboardInterrupt:
        print("Stopped; run the same command again to resume.", file=sys.stderr)
        return 130
    except ArchiveLocked as exc:
        return refuse(f"The archive {args.archive} is being written by a crawl or the archive writer"
                      f" (it is locked by {f'pid {exc.pid}' if exc.pid else 'another process'}); run"
                      " this again when it is done")
    except (sqlite3.Error, OSError) as exc:
        if integrity.is_damage(exc):  # a damaged page met mid-run
            return refuse(integrity.damaged_message(args.archive, str(exc)))
        return refuse(f"The archive {args.archive} cannot be written: {exc}")
    logger.info("Re-extraction done: %s", json.dumps(dict(sorted(counts.items()))))
    print(json.dumps(dict(sorted(counts.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
