"""Capture: every response the crawl receives, kept as WARC/1.1 (ISO 28500) records, as received.

`WarcCaptureMiddleware` is a downloader middleware at priority 950: above Scrapy's
HttpCompressionMiddleware (590) and RedirectMiddleware (600), so it sees each response's body
still content-encoded, and every redirect, retry, robots.txt, sitemap, feed and article
response. Each exchange becomes a `response` record (a 304 a `revisit` record, profile
`server-not-modified`) followed by its `request` record, each one gzip member, both naming
the real dw.com URL however the crawl reached it. Files rotate at `WARC_MAX_SIZE` bytes; each
starts with a `warcinfo` record. The records are built in the reactor's thread, then compressed
and appended by one capture thread of the middleware's own, in the order handed over, while the
reactor goes on (zlib releases the GIL: the compression runs on a second core); the response
waits for its records, so a record is still flushed to the operating system before the page's
callback runs, so before any article from it reaches the archive; files are fsynced when
rotated or closed. A SIGKILL leaves at most a truncated last record, which readers skip.

`WarcRecordMiddleware` (a spider middleware) writes where the response record is (`warc_file`,
`warc_offset`: the byte offset of its gzip member) and the extractor's version on each
article extracted from it.

The response head (status line and header lines) is written as the server sent it, byte for
byte: its reason phrase, header names in their own case and order, repeated headers, raw
non-ASCII bytes. Scrapy's `Response` keeps none of that (no reason phrase; names re-cased;
`Transfer-Encoding`, `Connection`, `Keep-Alive` dropped by Twisted as connection headers; and
warcio, asked to write the headers, re-encodes non-ASCII bytes as %XX). So the crawl's HTTP
download handler is `WireHeadDownloadHandler`: Scrapy's own, whose response parser also keeps
the head's lines as received and hands them to this middleware with the response. One change is
made to it: the body Scrapy hands on has had its chunked framing removed, so a record saying
`Transfer-Encoding: chunked` over it would mislead every reader; that one header line is kept
under the name `X-Crawler-Transfer-Encoding` (as Common Crawl, wpull and warcprox do), its
value unchanged. A response that came another way (another download handler) has its head
rebuilt from what Scrapy kept, counted as `dw/warc/head_rebuilt`.

A response cut short (its connection closed or reset before the `Content-Length` it announced
or its last chunk, which Scrapy fails with `ResponseDataLossError`; or, for a body only the
connection's close ends, reset, which Twisted and Scrapy take for that close) is kept too: a
`response` record of the bytes that came, marked `WARC-Truncated: disconnect` (WARC 1.1 §5.13),
counted `dw/warc/truncated`; the request fails (and is retried) as Scrapy fails the first kind,
and re-extraction skips such a record, counted. `WireHeadDownloadHandler` reads the body that
far (Scrapy's `download_fail_on_dataloss`, off for the one download; the reset of a body the
close ends noted by its response parser) and raises Scrapy's own `ResponseDataLossError` with
the cut response in the request's meta, where the middleware's `process_exception` finds it.
Without capture (`WARC_ENABLED=False`) the parser still notes such a reset, and the handler
fails the download the same way (nothing to keep): Scrapy alone would hand the cut body on.
With `DOWNLOAD_FAIL_ON_DATALOSS=False` a cut body is handed on (flagged `dataloss`, as Scrapy
flags it) and its record is marked `WARC-Truncated: disconnect` all the same.

The `request` record of an exchange says what the crawl asked for (`ASKED`: the listing, the
article's id and URL): the rebuild needs it to tell a listed article gone (404/410) from a page
the operator named that failed (crawler/archive/gone.py).

A response whose body inflates past `DOWNLOAD_MAXSIZE` (a gzip or brotli bomb) is not stored:
it is refused here as Scrapy's HttpCompressionMiddleware would refuse it after (crawler/codings.py,
the codings read as `crawler.codings.content_codings` reads them).

Settings (defaults in crawler/settings.py): `WARC_ENABLED`, `WARC_DIR` (empty: the archive's own
folder beside `ARCHIVE_PATH`, named after it, so `data/dw.db-warc/` for the default archive),
`WARC_MAX_SIZE` (bytes per file), `DOWNLOAD_MAXSIZE` (Scrapy's); what each accepts, checked before
the crawl starts: crawler/setting_checks.py.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from http.client import responses as REASONS
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import IgnoreRequest, NotConfigured, ResponseDataLossError
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import codings as limits
from crawler.codings import content_codings
from crawler.dates import to_utc
from crawler.extract.version import extractor_version
from crawler.items import Article
from crawler.middlewares import Origins

logger = logging.getLogger(__name__)

# warcio compresses at 9. On a real 100 KB DW page level 3 takes 1.0 ms, 6 2.0 ms, 9 2.3 ms,
# for files 28%, 26%, 26% of the page: capture's cost is mostly this.
GZIP_LEVEL = 3
BUILDER = WARCWriter(None, warc_version="1.1")  # builds records (no state); never writes
NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
# The body Scrapy hands on has had its chunked framing removed; a record saying `chunked`
# would mislead readers, so the header is kept under another name, as wpull and warcprox do.
_RENAMED = {b"transfer-encoding": b"X-Crawler-Transfer-Encoding"}
# The response header that carries the head as received from the download handler to the
# capture middleware, which removes it: nothing else ever sees it.
WIRE_HEAD = b"X-Dw-Wire-Head"
# The request meta key under which the download handler hands a response cut short (the bytes
# received before the connection closed) to the capture middleware's `process_exception`.
CUT_SHORT = "dw_cut_short_response"
# The response header by which the parser tells the download handler that a body delimited by
# the connection's close (no Content-Length, not chunked) ended with a reset, not a close: cut.
# The handler removes it.
RESET_BODY = b"X-Dw-Body-Reset"
# The request record's field saying what the crawl asked for with the request, a JSON object:
# `{"source": "articles", "article": 79010001, "url": "https://www.dw.com/en/…/a-79010001"}` (the
# listing that named the article, its content id, its canonical URL; `source` alone for a
# listing's own request). WARC 1.1 allows fields of one's own (§4); this one is Webrecorder's
# (pywb indexes it into its CDX `metadata`). What a 404 says depends on it: a listed article gone,
# or a page the operator named that failed (crawler/archive/gone.py); the rebuild reads it.
ASKED = "WARC-JSON-Metadata"


def warc_dir(settings) -> Path:
    """`WARC_DIR`, or the archive's own captures folder beside `ARCHIVE_PATH`, named after it
    (`data/dw.db-warc/` for the default archive): two archives in one folder never share
    captures (`crawler.archive.paths.captures_dir`)."""
    from crawler.archive.paths import captures_dir

    return captures_dir(settings.get("ARCHIVE_PATH"), settings.get("WARC_DIR"))


_local = threading.local()


def gzip_member(record) -> bytes:
    """One WARC record serialised as one gzip member (what `WARCWriter(gzip=True)` writes)."""
    return compressed(record_bytes(record))


def record_bytes(record) -> bytes:
    """One WARC record serialised, uncompressed."""
    writer = getattr(_local, "writer", None)
    if writer is None:
        writer = _local.writer = WARCWriter(None, gzip=False, warc_version="1.1")
    writer.out = buffer = BytesIO()
    writer.write_record(record)
    return buffer.getvalue()


def compressed(data: bytes) -> bytes:
    """A serialised record as one gzip member (zlib releases the GIL while it compresses)."""
    # A gzip member (16 + window bits) with a window just larger than the record: deflate sets up
    # state for its whole window, which for a 32 KiB window costs more than compressing a small
    # request record; the bytes compress as with the largest window (deflate never looks further
    # back than the record, nor within 262 bytes of the window's end).
    return zlib.compress(data, GZIP_LEVEL, 16 + min(15, max(9, (len(data) + 262).bit_length())))


class WarcFiles:
    """WARC/1.1 files in one folder, rotated by size; one gzip member per record.

    `append(members)` writes gzip members and returns (file path, offset of the first); the
    bytes are handed to the operating system before it returns. Safe to call from threads.
    `before_open(path)`, when given, is called with each new file's path before the file is
    created (a writer that must know of a file before anything is in it: the backfill).
    """

    def __init__(self, directory: Path, max_size: int, info: dict[str, str], prefix: str = "dw",
                 before_open: Callable[[Path], None] | None = None):
        self.directory = Path(directory)
        self.max_size = max_size
        self.info = info
        self.prefix = prefix
        self.serial = 0
        self.stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        self.path: Path | None = None
        self.handle = None
        self.lock = threading.Lock()
        self.before_open = before_open

    def append(self, members: list[bytes]) -> tuple[str, int]:
        with self.lock:
            if self.handle is None or self.handle.tell() >= self.max_size:
                self._rotate()
            offset = self.handle.tell()
            self.handle.write(b"".join(members))
            self.handle.flush()
            return str(self.path), offset

    def close(self) -> None:
        """Flush, fsync and close the current file."""
        with self.lock:
            self._close()

    def _close(self) -> None:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.handle = None

    def _rotate(self) -> None:
        self._close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.serial += 1
        name = f"{self.prefix}-{self.stamp}-{os.getpid()}-{self.serial:05d}.warc.gz"
        self.path = self.directory / name
        if self.before_open is not None:
            self.before_open(self.path)
        self.handle = open(self.path, "xb")
        self.handle.write(gzip_member(BUILDER.create_warcinfo_record(name, self.info)))
        self.handle.flush()


def _headers(headers) -> list[tuple[str, str]]:
    """Scrapy `Headers` as (name, value) pairs, every value kept, as latin-1 text."""
    pairs = []
    for name, values in headers.items():
        text = name.decode("latin-1")
        pairs += [(text, value.decode("latin-1")) for value in values]
    return pairs


class WireHead(StatusAndHeaders):
    """A response head that warcio writes as the bytes given (`raw`), not re-serialised.

    Its status line and headers are also parsed (latin-1, so that every byte survives) for
    whoever reads them from the record object.
    """

    def __init__(self, raw: bytes):
        lines = raw.decode("latin-1").split("\n")
        protocol, _, statusline = lines[0].rstrip("\r").partition(" ")
        headers: list[list[str]] = []
        for line in lines[1:]:
            line = line.rstrip("\r")
            if line[:1] in (" ", "\t") and headers:  # an obsolete folded continuation
                headers[-1][1] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                headers.append([name.strip(), value.strip()])
        super().__init__(statusline.strip(), [tuple(h) for h in headers], protocol=protocol)
        self.raw = raw

    def compute_headers_buffer(self, header_filter=None):
        self.headers_buff = self.raw


def _as_stored(raw: bytes) -> bytes:
    """The head as received, but for the `Transfer-Encoding` line's name (see the module doc)."""
    lines = raw.split(b"\n")
    for number, line in enumerate(lines[1:], 1):
        name, colon, rest = line.partition(b":")
        renamed = _RENAMED.get(name.strip().lower()) if colon and line[:1] not in (b" ", b"\t") else None
        if renamed:
            lines[number] = renamed + colon + rest
    return b"\n".join(lines)


def rebuilt_head(response) -> bytes:
    """A head from what Scrapy kept: the protocol, the status with the standard reason phrase,
    the headers in Scrapy's spelling; values byte for byte."""
    protocol = getattr(response, "protocol", None) or "HTTP/1.1"
    status = f"{protocol} {response.status} {REASONS.get(response.status, '')}".rstrip()
    lines = [status.encode("latin-1")]
    for name, values in response.headers.items():
        lines += [name + b": " + value for value in values]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def asked(request) -> str | None:
    """What the crawl asked for with `request`, as the request record's `ASKED` field holds it
    (compact JSON), or None for a request of no listing or article (robots.txt)."""
    fields = {}
    if request.meta.get("source"):
        fields["source"] = request.meta["source"]
    article = (request.cb_kwargs or {}).get("content_id")
    if isinstance(article, int):
        fields["article"] = article
        if request.meta.get("dw_url"):
            fields["url"] = request.meta["dw_url"]
    return json.dumps(fields, separators=(",", ":")) if fields else None


def exchange_records(url: str, request, response, builder: WARCWriter | None = None,
                     head: bytes | None = None, truncated: str | None = None) -> list:
    """The `response` (or `revisit` for a 304) and `request` records of one exchange.

    `url` is the real URL the exchange stands for; `head` the response's status line and
    header lines as received (`rebuilt_head(response)` when not given); `response.body` is
    kept byte for byte. `truncated`: the `WARC-Truncated` reason of a body cut short
    (`disconnect`: the connection closed before the body's announced end). The request record
    says what the crawl asked for (`ASKED`), when it asked for a listing or an article.
    """
    builder = builder or BUILDER
    parts = urlsplit(url)
    protocol = getattr(response, "protocol", None) or "HTTP/1.1"
    http = WireHead(_as_stored(head) if head else rebuilt_head(response))
    if response.status == 304:
        record = builder.create_warc_record(
            url, "revisit", http_headers=http,
            warc_headers_dict={"WARC-Profile": NOT_MODIFIED_PROFILE,
                               "WARC-Refers-To-Target-URI": url})
    else:
        record = builder.create_warc_record(url, "response", payload=BytesIO(response.body),
                                            length=len(response.body), http_headers=http,
                                            warc_headers_dict={"WARC-Truncated": truncated}
                                            if truncated else None)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = StatusAndHeaders(f"{request.method} {target} {protocol}",
                            [("Host", parts.netloc), *_headers(request.headers)],
                            is_http_request=True)
    fields = {"WARC-Date": record.rec_headers.get_header("WARC-Date"),
              "WARC-Concurrent-To": record.rec_headers.get_header("WARC-Record-ID")}
    what = asked(request)
    if what:
        fields[ASKED] = what
    request_record = builder.create_warc_record(url, "request", http_headers=sent,
                                                warc_headers_dict=fields)
    return [record, request_record]


def warcinfo(settings) -> dict[str, str]:
    """What a reader of the files should know about the crawl that wrote them."""
    from importlib.metadata import version

    origins = Origins.from_settings(settings)
    return {
        "software": f"dw-archive/{version('dw-archive')} (warcio/{version('warcio')},"
                    f" Scrapy/{version('scrapy')})",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "hostname": socket.gethostname(),
        "http-header-user-agent": settings.get("USER_AGENT"),
        "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
        "description": "Responses as received (before content decoding); target URIs are the"
                       f" real DW URLs, fetched from {origins.www}, {origins.short}, {origins.feeds}",
        "download-maxsize": str(settings.getint("DOWNLOAD_MAXSIZE")),
    }


class _NotWritten(Exception):
    """A capture queued behind one that failed, or handed over after the capture closed: not
    written (the crawl is stopping)."""


class WarcCaptureMiddleware:
    """Write every response, with its request, to the crawl's WARC files (see module doc)."""

    def __init__(self, crawler, files: WarcFiles, origins: Origins):
        self.crawler = crawler
        self.stats = crawler.stats
        self.files = files
        self.origins = origins
        self.failed = False
        self.closed = False
        self.max_size = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        # One thread: the records reach the files in the order they were handed over, as when
        # they were written in the reactor's thread. At most CONCURRENT_REQUESTS wait for it
        # (each response waits for its own records).
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warc-capture")

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("WARC_ENABLED"):
            raise NotConfigured("WARC_ENABLED is off")
        files = WarcFiles(warc_dir(settings), settings.getint("WARC_MAX_SIZE"),
                          warcinfo(settings))
        middleware = cls(crawler, files, Origins.from_settings(settings))
        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    async def process_response(self, request, response):
        if self.failed:
            raise IgnoreRequest("WARC capture failed: the response is not kept, so not used")
        self._refuse_too_large(request, response)
        url = self.origins.real_url(response.url)
        # Handed on cut short, as `DOWNLOAD_FAIL_ON_DATALOSS=False` asks (Scrapy's `dataloss`
        # flag, or a reset of a body the close ends): kept, but marked as what it is.
        cut = "dataloss" in response.flags
        records = self._records(url, request, response, truncated="disconnect" if cut else None)
        try:
            # Compressed and appended by the capture thread; the response goes on once its
            # records are handed to the operating system.
            path, offset = await self._written([record_bytes(record) for record in records])
        except _NotWritten:
            raise IgnoreRequest("WARC capture failed: the response is not kept, so not used") from None
        except OSError as exc:
            self._fail(exc)
            raise IgnoreRequest(f"WARC capture failed: {exc}") from None
        kind, date = records[0].rec_type, records[0].rec_headers.get_header("WARC-Date")
        request.meta["warc_file"], request.meta["warc_offset"] = path, offset
        request.meta["fetched_at"] = to_utc(date)  # the archive's clock: the capture's date
        self.stats.inc_value("dw/warc/records", 2)
        self.stats.inc_value(f"dw/warc/{kind}")
        if cut:
            self.stats.inc_value("dw/warc/truncated")
        return response

    async def process_exception(self, request, exception):
        """Keep a response cut short (see the module doc) as a `WARC-Truncated: disconnect`
        record; the exception goes on to the other middlewares (a retry) and the errback."""
        cut = request.meta.pop(CUT_SHORT, None)
        if cut is None or not isinstance(exception, ResponseDataLossError) or self.failed:
            return None
        try:
            self._refuse_too_large(request, cut)
        except IgnoreRequest:
            return None
        records = self._records(self.origins.real_url(cut.url), request, cut, truncated="disconnect")
        try:
            await self._written([record_bytes(record) for record in records])
        except _NotWritten:
            return None
        except OSError as exc:
            self._fail(exc)
            return None
        self.stats.inc_value("dw/warc/records", 2)
        self.stats.inc_value("dw/warc/truncated")
        return None

    def _refuse_too_large(self, request, response) -> None:
        """Raise IgnoreRequest, storing nothing, for a body that inflates past `DOWNLOAD_MAXSIZE`:
        Scrapy's HttpCompressionMiddleware refuses it after this middleware would have stored it
        (a gzip bomb: 291 KB kept, 200 MB when read back). Counted as `dw/warc/refused_too_large`;
        the request fails as Scrapy's own refusal does (`too_large`)."""
        undo, _ = content_codings(response.headers.getlist(b"Content-Encoding"))
        if not undo or request.method == "HEAD":
            return
        max_size = request.meta.get("download_maxsize", self.max_size)
        size = limits.decoded_size_exceeds(response.body, undo, max_size)
        if size is None:
            return
        self.stats.inc_value("dw/warc/refused_too_large")
        raise IgnoreRequest(f"Ignored {response.url}: its body ({len(response.body)} B as received,"
                            f" {size} B inflated so far) exceeded DOWNLOAD_MAXSIZE ({max_size} B);"
                            " not captured")

    def _records(self, url: str, request, response, truncated: str | None = None) -> list:
        head = response.headers.pop(WIRE_HEAD, None)
        if head is None:
            self.stats.inc_value("dw/warc/head_rebuilt")
        return exchange_records(url, request, response,
                                head=base64.b64decode(head[0]) if head else None, truncated=truncated)

    async def _written(self, records: list[bytes]) -> tuple[str, int]:
        """(file, offset) of the records, once the capture thread has compressed and appended
        them; OSError when it could not, `_NotWritten` after an earlier failure."""
        from twisted.internet import reactor  # the one Scrapy installed

        done: Deferred = Deferred()

        def settle(future: Future) -> None:  # in the capture thread
            exc = future.exception()
            reactor.callFromThread(done.errback if exc else done.callback, exc or future.result())

        try:
            future = self.writer.submit(self._append, records)
        except RuntimeError:  # closed: a response after the spider closed is not kept
            raise _NotWritten from None
        future.add_done_callback(settle)
        return await maybe_deferred_to_future(done)

    def _append(self, records: list[bytes]) -> tuple[str, int]:
        """In the capture thread: compress and append one exchange's records."""
        if self.failed:  # nothing is appended after a failed write (the file may end mid-record)
            raise _NotWritten
        try:
            return self.files.append([compressed(data) for data in records])
        except OSError:
            self.failed = True
            raise

    def close(self, spider=None) -> None:
        """Write what was handed over, then flush, fsync and close the file; once. Called by
        `crawler.extensions.CrawlSummary` before it judges the run (a file that cannot be closed
        is part of the outcome, `dw/failed/warc_not_closed`, and logged before the closing line),
        and by `spider_closed` when there is no such extension."""
        if self.closed:
            return
        self.closed = True
        self.writer.shutdown(wait=True)  # what was handed over is written first
        try:
            self.files.close()
        except OSError as exc:
            # Its last records may be lost (a full disk, a folder gone): the articles stored
            # from them would name captures that are not there, so the run did not do its job.
            self.stats.set_value("dw/warc/not_closed", f"{self.files.path}: {exc.strerror or exc}")
            self.stats.inc_value("dw/failed/warc_not_closed")
            logger.error("Could not close the WARC file %s: %s", self.files.path, exc)
        self.stats.set_value("dw/warc/files", self.files.serial)

    def _fail(self, exc: OSError) -> None:
        """Stop the crawl: no article is stored without its response on disk."""
        self.failed = True
        where = (f"the WARC file {self.files.path}" if self.files.path is not None
                 else f"in the WARC folder {self.files.directory}")  # no file open yet
        # In the run's outcome, the last line (crawler/outcome.py `warc_not_written`).
        self.stats.set_value("dw/warc/error", f"cannot write {where}: {exc.strerror or exc}")
        logger.error("Cannot write %s (%s); stopping the crawl", where, exc)
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            self._closing = deferred_from_coro(engine.close_spider_async(reason="warc_error"))


# -- the head as received -----------------------------------------------------------------
# Scrapy's HTTP/1.1 handler parses responses with its `_LenientHTTPClientParser` (swapped in by
# `_LenientHTTP11ClientProtocol.request`); the subclasses below also keep the lines of the head.
# These are Scrapy's private classes: should a Scrapy release rename them, the handler is
# Scrapy's own and every head is rebuilt (counted); tests/test_wild_kinds.py notices.
try:
    from scrapy.core.downloader.handlers.http11 import (
        _LenientHTTP11ClientFactory,
        _LenientHTTP11ClientProtocol,
        _LenientHTTPClientParser,
    )
    from twisted.internet.error import ConnectionDone
    from twisted.web._newclient import STATUS
except ImportError:  # pragma: no cover - a Scrapy without them
    _LenientHTTPClientParser = None


if _LenientHTTPClientParser is not None:
    class _ResetNotingParser(_LenientHTTPClientParser):
        """Scrapy's response parser, noting on the response that a body delimited by the
        connection's close was reset, not closed (`RESET_BODY`): installed with WARC capture or
        without it, since Scrapy alone would hand on the cut body as whole."""

        def connectionLost(self, reason=None) -> None:
            # A body delimited by the connection's close ends whole when the server closes it,
            # cut when the connection is reset: Twisted reports both alike (PotentialDataLoss,
            # which Scrapy passes on as a whole response flagged `partial`). The reset is noted
            # on the response's headers, which Scrapy reads once the body has ended.
            if (self.bodyDecoder is not None and reason is not None
                    and getattr(self.bodyDecoder, "contentLength", 0) is None
                    and not reason.check(ConnectionDone)):
                self.headers.setRawHeaders(RESET_BODY, [b"1"])
            super().connectionLost(reason)

    class _WireHeadParser(_ResetNotingParser):
        """The parser of a crawl that captures: also keeps the head's lines as received
        (`delimiter` is `\n`, so each line still holds its `\r`)."""

        def lineReceived(self, line: bytes) -> None:
            if self.state == STATUS:  # a new head: also after an ignored 1xx response
                self._wire_lines = []
            self._wire_lines.append(line)
            super().lineReceived(line)

        def allHeadersReceived(self) -> None:
            # base64: Twisted's headers turn CR and LF into spaces (a guard against injection)
            head = b"\n".join(self._wire_lines) + b"\n"
            self.headers.setRawHeaders(WIRE_HEAD, [base64.b64encode(head)])
            super().allHeadersReceived()

    class _ResetNotingProtocol(_LenientHTTP11ClientProtocol):
        parser = _ResetNotingParser

        def request(self, request):
            d = super().request(request)
            if type(self._parser) is _LenientHTTPClientParser:  # as Scrapy swaps it in, ours
                self._parser.__class__ = self.parser
            return d

    class _WireHeadProtocol(_ResetNotingProtocol):
        parser = _WireHeadParser

    class _ResetNotingFactory(_LenientHTTP11ClientFactory):
        protocol = _ResetNotingProtocol

        def buildProtocol(self, addr):
            return self.protocol(self._quiescentCallback)

    class _WireHeadFactory(_ResetNotingFactory):
        protocol = _WireHeadProtocol


class WireHeadDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler; with `WARC_ENABLED`, each response also carries its
    head as received to `WarcCaptureMiddleware` (see the module doc). With capture or without,
    a body only the connection's close ends, reset part-way, fails as a body short of its
    `Content-Length` does (Scrapy alone hands it on as whole)."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self.capturing = crawler.settings.getbool("WARC_ENABLED")
        self.fail_on_dataloss = crawler.settings.getbool("DOWNLOAD_FAIL_ON_DATALOSS")
        if _LenientHTTPClientParser is not None:
            self._pool._factory = _WireHeadFactory if self.capturing else _ResetNotingFactory

    async def download_request(self, request):
        """Scrapy's download; a body cut short fails as Scrapy fails it (`ResponseDataLossError`,
        when `DOWNLOAD_FAIL_ON_DATALOSS`), its bytes handed to the capture (`CUT_SHORT`)."""
        key = "download_fail_on_dataloss"
        given = request.meta.get(key)
        fail = self.fail_on_dataloss if given is None else given
        if not (self.capturing and fail):
            response = await super().download_request(request)
            if response.headers.pop(RESET_BODY, None) is None:
                return response
            _reset_warning(request, response)
            if not fail:  # handed on, flagged as Scrapy flags a body short of its length
                response.flags.append("dataloss")
                return response
            raise ResponseDataLossError(f"{request.url}: the connection was reset before the body's end")
        request.meta[key] = False  # this download only: read the cut body, then fail it here
        try:
            response = await super().download_request(request)
        finally:
            if given is None:
                del request.meta[key]
            else:
                request.meta[key] = given
        reset = response.headers.pop(RESET_BODY, None) is not None
        if "dataloss" not in response.flags and not reset:
            return response
        request.meta[CUT_SHORT] = response
        if reset:
            _reset_warning(request, response)
        else:
            logger.warning("The response of %s was cut short: %d bytes of its body, fewer than its"
                           " Content-Length %s", request.url, len(response.body),
                           _header_text(response, b"Content-Length"))
        raise ResponseDataLossError(f"{request.url}: the connection closed before the body's end")


def _reset_warning(request, response) -> None:
    logger.warning("The response of %s was cut short: the connection was reset after %d bytes of"
                   " its body, which only the connection's close was to end", request.url,
                   len(response.body))


def _header_text(response, name: bytes) -> str:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else "(none)"


class WarcRecordMiddleware:
    """Put on each article where its response record is and which extractor read it."""

    def __init__(self, version: str):
        self.version = version

    @classmethod
    def from_crawler(cls, crawler):
        return cls(extractor_version())

    def _mark(self, item, response):
        if isinstance(item, Article):
            item.warc_file = response.meta.get("warc_file")
            item.warc_offset = response.meta.get("warc_offset")
            item.extractor_version = self.version
        return item

    def process_spider_output(self, response, result):
        for item in result:
            yield self._mark(item, response)

    async def process_spider_output_async(self, response, result):
        async for item in result:
            yield self._mark(item, response)
