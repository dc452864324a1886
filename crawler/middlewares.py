"""Downloader middlewares: keep every request on the configured DW origins; obey robots.txt for
every request; undo content codings only as far as they verify; back off on retry, as long as
`Retry-After` asks (in seconds or as an HTTP-date)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares import robotstxt
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    NotConfigured,
)
from scrapy.http import Request, Response, TextResponse
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet import error as twisted_errors
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from crawler import codings, dw
from crawler.codings import content_codings
from crawler.dates import http_date

UNVERIFIED_CODING = "unverified_coding"  # the flag of a response read from codings without a check

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def scrapy_form(origin: str) -> str:
    """An origin as Scrapy writes it in a request's URL (w3lib's `safe_url_string`: scheme and
    host lowercased, an IDN host in punycode, an empty port or a port's leading zeros dropped),
    without a trailing `/`. One Scrapy cannot read is left as it is: `scrapy crawl` has refused it
    already (crawler/setting_checks.py), and a command that does not check (`scrapy shell`) says
    so on its own."""
    try:
        return Request(origin.rstrip("/") + "/").url.rstrip("/")
    except ValueError:
        return origin.rstrip("/")


@dataclass(frozen=True)
class Origins:
    """Where www.dw.com, p.dw.com and rss.dw.com are fetched from."""

    www: str = dw.WWW
    short: str = dw.SHORTLINK
    feeds: str = dw.FEEDS

    def __post_init__(self) -> None:
        # Each origin in the form Scrapy gives its requests' URLs, so that a URL on it is known
        # as on it: a capital letter in the host (`http://LOCALHOST:18810`) made every request,
        # lowercased by Scrapy, look off the origin and be rewritten back, for ever.
        for field in ("www", "short", "feeds"):
            object.__setattr__(self, field, scrapy_form(getattr(self, field)))

    @classmethod
    def from_settings(cls, settings) -> Origins:
        return cls(settings.get("DW_ORIGIN").rstrip("/"),
                   settings.get("DW_SHORTLINK_ORIGIN").rstrip("/"),
                   settings.get("DW_FEED_ORIGIN").rstrip("/"))

    def fetch_url(self, url: str) -> str | None:
        """The URL to request for a real DW URL (or one already on an origin); None if off DW."""
        if self.is_origin(url):
            return url
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in dw.DW_HOSTS:
            origin = self.www
        elif host in dw.SHORTLINK_HOSTS:
            origin = self.short
        elif host in dw.FEED_HOSTS:
            origin = self.feeds
        else:
            return None
        rest = parts.path or "/"
        if parts.query:
            rest += "?" + parts.query
        return origin + rest

    def real_url(self, url: str) -> str:
        """The dw.com URL a fetched URL stands for (origins may share one host, as a mirror does)."""
        for origin in sorted({self.www, self.short, self.feeds}, key=len, reverse=True):
            if url.startswith(origin + "/"):
                path = url[len(origin):]
                return self._real_host(origin, path) + path
        return url

    def _real_host(self, origin: str, path: str) -> str:
        hosts = [real for configured, real in ((self.www, dw.WWW), (self.short, dw.SHORTLINK),
                                               (self.feeds, dw.FEEDS)) if configured == origin]
        if dw.SHORTLINK in hosts and path.startswith("/p/"):
            return dw.SHORTLINK
        if dw.FEEDS in hosts and path.startswith(("/rdf/", "/xml/", "/atom/")):
            return dw.FEEDS
        return dw.WWW if dw.WWW in hosts else hosts[0]

    def is_origin(self, url: str) -> bool:
        """True when the URL is on one of the configured origins."""
        return any(url == o or url.startswith(o + "/") for o in (self.www, self.short, self.feeds))


class OriginMiddleware:
    """Send requests for dw.com hosts to the configured origins; refuse every other host."""

    def __init__(self, origins: Origins, stats):
        self.origins = origins
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(Origins.from_settings(crawler.settings), crawler.stats)

    def process_request(self, request):
        target = self.origins.fetch_url(request.url) or self.resumed(request)
        if target is None:
            self.stats.inc_value("dw/blocked/off_origin")
            logger.warning("Not requesting %s: not on a configured DW origin", request.url)
            raise IgnoreRequest(f"off the configured DW origins: {request.url}")
        if target != request.url:
            moved = request.replace(url=target)
            # Compared as Scrapy writes both: a target that Scrapy's URL form makes the same URL
            # is no move, and rewriting it would bring the request back here for ever.
            if moved.url != request.url:
                return moved
        return None

    def resumed(self, request) -> str | None:
        """Where to send a request queued in a JOBDIR while the origins were different.

        The spider names each request's dw.com URL in `meta["dw_url"]`; a request on another
        host with that URL's path (not a redirect: those are judged by where they lead) is the
        same request, made now on the origin configured now.
        """
        real = request.meta.get("dw_url")
        if not real or request.meta.get("redirect_urls"):
            return None
        target = self.origins.fetch_url(real)
        # Compared as Scrapy writes URLs (request.url is in that form already).
        written = None if target is None else Request(target).url
        if written is None or urlsplit(written)[2:4] != urlsplit(request.url)[2:4]:
            return None
        if written == request.url:  # already where it goes: no move, nothing to count
            return target
        self.stats.inc_value("dw/resumed_on_current_origin")
        logger.info("Queued request %s sent to the current origin: %s", request.url, target)
        return target


class RobotsTxtMiddleware(robotstxt.RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, obeyed also by the requests made while robots.txt is
    still being fetched.

    Since Scrapy 2.13 (scrapy/scrapy#6802, "Refactor RobotsTxtMiddleware to use async def
    process_request()") every such request awaits the one Deferred that the robots.txt
    download fires, through `maybe_deferred_to_future`; that adds a callback returning None
    to the Deferred's chain, so the first waiter gets the parser and every later one None,
    which the middleware reads as "no robots.txt": allowed. (A reviewer's note on that pull
    request, "Looks like this is not covered by the tests", is on that very line.) It is so in
    Scrapy 2.19.0, the newest release, and on its main branch as of 2026-08-21; no issue or fix
    upstream yet. Here each waiter gets a Deferred of its own, fired with the parser, which
    the shared one hands on unchanged. Relies on Scrapy's `_parsers` (netloc -> parser, or the
    Deferred of a robots.txt being fetched).
    """

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._unreadable: dict[str, str] = {}  # netloc -> why its robots.txt could not be read
        self._schemes: dict[str, str] = {}  # netloc -> the scheme its robots.txt was asked with

    async def robot_parser(self, request):
        netloc = urlparse_cached(request).netloc
        self._schemes.setdefault(netloc, urlparse_cached(request).scheme)
        pending = self._parsers.get(netloc)
        if not isinstance(pending, Deferred):
            return await super().robot_parser(request)
        mine: Deferred = Deferred()

        def hand_on(parser):
            mine.callback(parser)
            return parser

        pending.addCallback(hand_on)
        return await maybe_deferred_to_future(mine)

    # RFC 9309 §2.3.1.3-4: a robots.txt answering 4xx is unavailable (everything allowed); one
    # that cannot be reached (5xx, a network error, and so a transfer damaged on every try)
    # disallows everything. Scrapy 2.19 takes all of these as "no robots.txt" (its 5xx body is
    # even parsed as a robots.txt), so a crawl went on over paths the site forbids.

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500:
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            return self._disallow_all(netloc, str(response.status))
        if response.status >= 400:  # unavailable: a 404 page's words are no rules
            response = response.replace(body=b"")
        return await super()._parse_robots(response, netloc, request)

    # Errors that say nothing answers at the origin (the wrong host or port, a typo in the name,
    # a firewall): an operator is sent to the origin setting, not to robots.txt (tester try28,
    # item 5: `robots.txt of http://127.0.0.1:80 could not be read
    # (DownloadConnectionRefusedError)`).
    _NOTHING_ANSWERS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
        ((DownloadConnectionRefusedError, ConnectionRefusedError, twisted_errors.ConnectionRefusedError),
         "connection refused"),
        ((CannotResolveHostError, twisted_errors.DNSLookupError), "its host name could not be resolved"),
        ((DownloadTimeoutError, TimeoutError, twisted_errors.TimeoutError, twisted_errors.TCPTimedOutError),
         "no answer in time"),
    )

    @classmethod
    def nothing_answers(cls, exc: BaseException) -> str | None:
        """Why nothing answered at an origin, in words (`connection refused`, `its host name
        could not be resolved`, `no answer in time`), for an error that says so; else None."""
        return next((words for kinds, words in cls._NOTHING_ANSWERS if isinstance(exc, kinds)), None)

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, IgnoreRequest) and not isinstance(exc, DamagedResponse):
            # Refused on our side, not unreachable: more redirects than REDIRECT_MAX_TIMES (RFC
            # 9309 §2.3.1.2: then unavailable, allowed), a redirect off the origins, past the
            # size limit. Scrapy's reading, as before: no robots.txt.
            return super()._robots_error(exc, netloc)
        if not isinstance(exc, IgnoreRequest):
            self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        why = getattr(exc, "reason", None) or type(exc).__name__  # `damaged_gzip`, `TimeoutError`
        self._disallow_all(netloc, why, self.nothing_answers(exc))

    def _disallow_all(self, netloc: str, why: str, nothing_answers: str | None = None) -> None:
        """Every request to `netloc` refused from now on (`robots_txt_unreachable`), counted
        and said once for the origin: `robots.txt of <origin> could not be read (<why>)`, or,
        when nothing answered there at all, `the origin <origin> could not be reached
        (<nothing_answers>): robots.txt could not be read`."""
        self._unreadable[netloc] = why
        origin = f"{self._schemes.get(netloc, 'http')}://{netloc}"
        said = (f"the origin {origin} could not be reached ({nothing_answers}): robots.txt could not be"
                " read" if nothing_answers else f"robots.txt of {origin} could not be read ({why})")
        self._stats.inc_value("dw/robotstxt/unreachable")
        earlier = self._stats.get_value("dw/robotstxt/unreachable_origins")
        self._stats.set_value("dw/robotstxt/unreachable_origins", f"{earlier}; {said}" if earlier else said)
        logger.warning("%s: nothing is fetched from it, as RFC 9309 asks (an unreachable robots.txt"
                       " disallows everything)", said)
        parser = build_from_crawler(self._parserimpl, self.crawler, b"User-agent: *\nDisallow: /\n")
        pending = self._parsers.get(netloc)
        self._parsers[netloc] = parser
        if isinstance(pending, Deferred):
            pending.callback(parser)

    def process_request_2(self, rp, request: Request) -> None:
        why = self._unreadable.get(urlparse_cached(request).netloc)
        if why is not None:
            self._stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest(f"robots.txt could not be read ({why}): nothing fetched from its origin")
        super().process_request_2(rp, request)


class DamagedResponse(IgnoreRequest):
    """A response whose content coding fails its own check (a gzip's CRC-32 or length, a zlib
    stream's Adler-32), is cut short or has data after its end: the bytes changed or were lost
    in transfer. `reason` is the failure's short name (`damaged_gzip`, `damaged_deflate`,
    `damaged_br`, `damaged_zstd`), as `dw/failed/<kind>/<reason>` counts it. An IgnoreRequest,
    as Scrapy's refusal of a body over its size limit is: the request's errback counts it, and
    Scrapy logs no traceback for it (robots.txt's download included; Scrapy's retry helper has
    said "Gave up retrying", at DEBUG: the spider's warning is the one line, `detail` its
    words: which check failed, or that it was cut short, or had bytes after it)."""

    def __init__(self, url: str, damage: codings.Damaged, tries: int):
        super().__init__(f"{url}: {damage} (after {tries} tries)")
        self.reason = damage.reason
        self.detail = f"{damage.problem} (tried {tries} times)"


class ContentCodingMiddleware:
    """The crawl's one reading of content codings (in Scrapy's HttpCompressionMiddleware's place,
    at its order, 590), verifying what each coding lets it verify before anything is read from
    the body: gzip's CRC-32 and length, every member; deflate's Adler-32 (zlib's format) or raw
    deflate's structure; zstd's checksum when it has one; brotli's structure only
    (crawler/codings.py `DECODERS`, the
    decoders the WARC's re-extraction uses, so that both read a body alike). Scrapy 2.19's
    takes a gzip whose check fails, or cut short, or with junk after it, as it comes
    (`scrapy.utils.gz.gunzip`: "resilient to CRC checksum errors"), so a changed byte became
    another article's id in a sitemap, or changed text in a page.

    Which codings are undone is Scrapy's reading (`crawler.codings.content_codings`: every
    `Content-Encoding` line, from the last applied while Scrapy knows the coding; the rest left
    as they are), but `identity` (RFC 9110 §8.4.1: no coding) is passed over wherever it stands,
    as browsers do (Scrapy stops at it).

    Requests ask for `gzip, deflate` only (`codings.ACCEPT_ENCODING`; Scrapy asks for `br` and
    `zstd` too), the codings that carry a check. A 2xx body whose codings carry none (br, zstd
    without its checksum, raw deflate; `codings.verifiable`), most often one we did not ask
    for, is still undone and read (it is what the server sent, and a body sent with no coding
    at all carries no check either), but counted `dw/unverified_coding/<coding>` and warned
    once per run naming the first URL; a verified coding we did not ask for (zstd with its
    checksum) is counted `dw/unasked_coding/<coding>`. Such a response is flagged
    `unverified_coding`: a listing so read is fetched a second time and read only when both
    agree (`crawler.spiders.listings`).

    A body that fails its check is a damaged transfer: retried as a network error is (Scrapy's
    `RETRY_TIMES`, `retry/reason_count/damaged_gzip`), then the request fails with
    `DamagedResponse`, which the spider counts (`dw/failed/article/damaged_gzip`, a listing's
    `dw/failed/<source>/damaged_gzip`) and logs once; nothing is read from it. Only a 2xx
    response's body is read by the crawl: another's (an error page) is left as it came, its
    `Content-Encoding` kept. The WARC capture (950) has kept the bytes as received either way.
    Past `DOWNLOAD_MAXSIZE` (or the request's `download_maxsize`) inflated: refused as Scrapy
    refuses it (IgnoreRequest, `too_large`). `COMPRESSION_ENABLED = False` turns it off.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.max_size = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        self.warn_size = crawler.settings.getint("DOWNLOAD_WARNSIZE")
        self.retry = crawler.settings.getbool("RETRY_ENABLED")
        self.warned_unverified = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ContentCodingMiddleware:
        if not crawler.settings.getbool("COMPRESSION_ENABLED"):
            raise NotConfigured
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        request.headers.setdefault("Accept-Encoding", codings.ACCEPT_ENCODING)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        values = response.headers.getlist(b"Content-Encoding")
        if not values or request.method == "HEAD":
            return response
        undo, kept = content_codings(values)
        if not undo or not response.body:  # nothing we undo, or no body to undo it in (a 304)
            return self._labelled(response, kept)
        max_size = request.meta.get("download_maxsize", self.max_size)
        try:
            body, checked = codings.decode_all(response.body, undo, max_size)
        except codings.TooLarge as exc:
            message = (f"Ignored response {response} because its body ({len(response.body)} B as"
                       f" received, {exc.size} B inflated so far) exceeded DOWNLOAD_MAXSIZE"
                       f" ({max_size} B) during decompression.")
            logger.warning(message)
            raise IgnoreRequest(message) from None
        except codings.Damaged as damage:
            return self._damaged(request, response, damage)
        warn_size = request.meta.get("download_warnsize", self.warn_size)
        if len(response.body) < warn_size <= len(body):
            logger.warning("%s body size after decompression (%d B) is larger than the download"
                           " warning size (%d B).", response, len(body), warn_size)
        self.stats.inc_value("httpcompression/response_bytes", len(body))
        self.stats.inc_value("httpcompression/response_count")
        flags = response.flags
        if 200 <= response.status < 300 and not checked:  # only those bodies are read
            self._unverified(response, undo)
            flags = [*flags, UNVERIFIED_CODING]  # a listing is fetched again (crawler/spiders/listings.py)
        elif 200 <= response.status < 300:
            self._unasked(undo)
        response = self._labelled(response, kept)
        kind = responsetypes.from_args(headers=response.headers, url=response.url, body=body)
        # The encoding found again from the decoded body, as Scrapy's middleware does.
        extra = {"encoding": None} if issubclass(kind, TextResponse) else {}
        return response.replace(cls=kind, body=body, flags=flags, **extra)

    def _unasked(self, undo: list[str]) -> None:
        """Count a body in a coding not asked for (`dw/unasked_coding/<coding>`)."""
        for coding in undo:
            if coding not in codings.ASKED:
                self.stats.inc_value(f"dw/unasked_coding/{coding}")

    def _unverified(self, response: Response, undo: list[str]) -> None:
        """Count (and warn once per run of) a body read from codings that carry no check."""
        self._unasked(undo)
        outer = undo[0]
        self.stats.inc_value(f"dw/unverified_coding/{outer}")
        if not self.warned_unverified:
            self.warned_unverified = True
            raw = " (raw deflate, without zlib's Adler-32)" if outer == "deflate" else ""
            logger.warning("%s came in the content coding %r%s, which carries no check (the crawl"
                           " asks for %s): a page is read as it came, a listing when a second transfer"
                           " agrees; a byte changed in transfer would go unnoticed; every such"
                           " response is counted dw/unverified_coding/<coding>, this warning is given"
                           " once", response.url, ", ".join(undo), raw,
                           codings.ACCEPT_ENCODING.decode())

    @staticmethod
    def _labelled(response: Response, kept: list[str]) -> Response:
        """The response with only the codings left on its body in `Content-Encoding`."""
        if kept:
            response.headers[b"Content-Encoding"] = ", ".join(kept).encode("latin-1")
        elif b"Content-Encoding" in response.headers:
            del response.headers[b"Content-Encoding"]
        if kept:
            logger.warning("Cannot undo the content coding %r of %s: its body is read as it came",
                           ", ".join(kept), response.url)
        return response

    def _damaged(self, request: Request, response: Response, damage: codings.Damaged) -> Request | Response:
        """A retry of the request (a damaged transfer, as a network error), or DamagedResponse."""
        if not 200 <= response.status < 300:
            logger.debug("The %s body of %s (HTTP %s, not read) fails its check: %s", damage.coding,
                         response.url, response.status, damage.problem)
            return response
        self.stats.inc_value(f"dw/damaged_transfer/{damage.coding}")
        reason = damage.reason
        retry = None
        if self.retry and not request.meta.get("dont_retry", False):
            # Its give-up at DEBUG: the spider's warning names the damage (Scrapy's ERROR
            # would say only `damaged_gzip`); network errors' give-ups keep Scrapy's level.
            retry = get_retry_request(request, spider=self.crawler.spider, reason=reason,
                                      give_up_log_level=logging.DEBUG)
        if retry is not None:
            logger.info("The %s body of %s fails its check (%s): retrying", damage.coding,
                        response.url, damage.problem)
            return retry
        failed = DamagedResponse(response.url, damage, request.meta.get("retry_times", 0) + 1)
        if request.errback is None:  # not the spider's (robots.txt): no errback says it
            logger.warning("Failed to fetch %s: %s: %s", response.url, failed.reason, failed.detail)
        raise failed


@dataclass(frozen=True)
class RetryAfter:
    """What a `Retry-After` header asks: `seconds` to wait, or why it cannot be followed."""

    seconds: float | None  # None: unreadable
    asked: str  # the header's text, for the log


_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)  # RFC 9110 §10.2.3: delay-seconds = 1*DIGIT
_MOST_SECONDS = 10**15  # a longer delay-seconds is read as this; it is capped anyway


def retry_after(value: bytes | str | None, date: bytes | str | None = None,
                now: datetime | None = None) -> RetryAfter | None:
    """The wait a `Retry-After` value asks for (RFC 9110 §10.2.3), in seconds (never negative).

    Either form: delay-seconds, a non-negative integer in ASCII digits (`120`; one of any
    length is read, however large, and capped by the caller), or a full HTTP-date (`Sat, 05 Dec
    2026 15:58:40 GMT`, and the obsolete RFC 850 and asctime forms: `crawler.dates.http_date`).
    A date is measured from the response's own `Date` header when it has a readable one (the
    server's clock, so that a skewed clock on either side does not change the wait), else from
    `now` (default: the clock); a date already past asks for no wait. None when there is no
    header; `RetryAfter(None, ...)` when it is neither form (`-10`, `1.5`, `12:00`, `Dec 2026`,
    `5 (seconds)`), as urllib3 and browsers take it.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = (value or "").strip()
    if not text:
        return None
    if _DELAY_SECONDS.fullmatch(text):
        digits = text.lstrip("0") or "0"
        return RetryAfter(float(int(digits)) if len(digits) <= 15 else float(_MOST_SECONDS), text)
    moment = http_date(text)
    if moment is None:
        return RetryAfter(None, text)
    if isinstance(date, bytes):
        date = date.decode("latin-1")
    reference = (http_date(date) if date else None) or now or datetime.now(UTC)
    return RetryAfter(max((moment - reference).total_seconds(), 0.0), text)


# A 429 at least doubles its host's delay between requests, to at least this (seconds).
SLOWED_DELAY = 1.0
_STOP_CHECK_SECONDS = 0.25  # how often a wait looks whether the crawl is stopping


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, but waiting before each: `Retry-After` if given (up to
    `RETRY_BACKOFF_MAX`), else exponential (`RETRY_BACKOFF_BASE` × 2^retries).

    The wait is kept in the retry's `meta` and waited when the retry comes back through here
    on its way out, so nothing holds the download slot meanwhile. A 429 pauses the whole host
    (its download slot) for the wait, not only the request that got it, and doubles the
    host's delay between requests (at least
    `SLOWED_DELAY`; AutoThrottle may lower it again as the host answers well): RFC 6585 §4, "too
    many requests". A crawl asked to stop (SIGTERM, Ctrl-C) stops a retry's wait within a
    quarter of a second: the request goes back to the scheduler (kept in a JOBDIR) unsent;
    requests already in the host's download slot when a 429 came are sent when its pause
    ends, as Scrapy's graceful stop sends what its downloader holds (a second Ctrl-C ends at
    once).

    Stats, each counted when the retry is sent after its wait: `dw/retry/retry_after_honoured`
    (waited as asked), `dw/retry/retry_after_capped` (asked for more than the cap: waited the
    cap); and `dw/retry/retry_after_unreadable` (neither form: our own schedule, logged),
    `dw/retry/host_slowed` (a 429 paused its host and raised its delay),
    `dw/retry/left_for_next_run` (a request not sent because the crawl stopped during its wait).
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE")
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX")
        self.paused: dict[str, float] = {}  # download slot -> time.time() until which it waits

    async def process_response(self, request, response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retries = request.meta.get("retry_times", 0)
        retry = get_retry_request(request, reason=f"{response.status}", spider=self.crawler.spider,
                                  max_retry_times=self.max_retry_times, priority_adjust=self.priority_adjust)
        if retry is None:
            return response
        asked = retry_after(response.headers.get(b"Retry-After"), response.headers.get(b"Date"))
        stats = self.crawler.stats
        if asked is not None and asked.seconds is None:
            stats.inc_value("dw/retry/retry_after_unreadable")
            logger.warning("Unreadable Retry-After %r from %s: retrying on our own schedule",
                           asked.asked, request.url)
        if asked is not None and asked.seconds is not None:
            delay = min(asked.seconds, self.cap)
            outcome = "honoured" if asked.seconds <= self.cap else "capped"
        else:
            delay, outcome = min(self.base * (2 ** retries), self.cap), None
        logger.info("HTTP %s from %s: retrying in %.1f s%s", response.status, request.url, delay,
                    f" (Retry-After: {asked.asked})" if outcome else "")
        until = time.time() + delay
        if response.status == 429:
            self._slow_host(request, until)
        retry.meta["dw_retry_wait"] = (until, outcome)
        return retry

    async def process_request(self, request):
        waiting = request.meta.get("dw_retry_wait")
        paused = self.paused.get(self._slot_key(request), 0.0) if self.paused else 0.0
        until = max(waiting[0] if waiting else 0.0, paused)
        if until > time.time():
            logger.info("Waiting %.1f s before sending %s", until - time.time(), request.url)
        if until > time.time() and not await self._wait_until(until):
            self.crawler.stats.inc_value("dw/retry/left_for_next_run")
            logger.info("Stopping: %s is not sent; it waits in the queue (kept in a JOBDIR)", request.url)
            return request.replace(dont_filter=True)  # back to the scheduler, unsent
        if waiting:
            del request.meta["dw_retry_wait"]
            if waiting[1]:
                self.crawler.stats.inc_value(f"dw/retry/retry_after_{waiting[1]}")
        return None

    def _slot_key(self, request) -> str:
        return self.crawler.engine.downloader.get_slot_key(request)

    def _slow_host(self, request, until: float) -> None:
        """After a 429: no request to the host before `until` (time.time()), those already in
        its download slot's queue included, and twice its delay between requests from then on."""
        key = self._slot_key(request)
        self.paused[key] = max(until, self.paused.get(key, 0.0))
        slot = self.crawler.engine.downloader.slots.get(key)
        if slot is not None:
            # Scrapy's downloader sends a slot's next request no sooner than `delay` (less its
            # jitter) after `lastseen` (time.monotonic()): moved on, the queue waits too.
            slot.delay = min(max(2 * slot.delay, SLOWED_DELAY), self.cap)
            resume = time.monotonic() + (until - time.time())
            slot.lastseen = max(slot.lastseen, resume - slot.delay * (1 - slot.jitter))
        self.crawler.stats.inc_value("dw/retry/host_slowed")
        logger.info("HTTP 429 from %s: no request to it for %.1f s, then %.1f s between them", key,
                    until - time.time(), slot.delay if slot is not None else SLOWED_DELAY)

    def _stopping(self) -> bool:
        return not self.crawler.crawling or not self.crawler.engine.running

    async def _wait_until(self, until: float) -> bool:
        """Wait until `until` (time.time()); False, at once, when the crawl is asked to stop."""
        from twisted.internet import reactor  # the one Scrapy installed

        while (left := until - time.time()) > 0:
            if self._stopping():
                return False
            await maybe_deferred_to_future(deferLater(reactor, min(left, _STOP_CHECK_SECONDS)))
        return not self._stopping()
