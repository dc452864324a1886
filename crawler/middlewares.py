"""Downloader middlewares: keep every request on the configured DW origins; obey robots.txt for
every request; back off on retry, as long as `Retry-After` asks (in seconds or as an HTTP-date)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares import robotstxt
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from crawler import dw
from crawler.dates import http_date

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origins:
    """Where www.dw.com, p.dw.com and rss.dw.com are fetched from."""

    www: str = dw.WWW
    short: str = dw.SHORTLINK
    feeds: str = dw.FEEDS

    @classmethod
    def from_settings(cls, settings) -> Origins:
        return cls(settings.get("DW_ORIGIN", dw.WWW).rstrip("/"),
                   settings.get("DW_SHORTLINK_ORIGIN", dw.SHORTLINK).rstrip("/"),
                   settings.get("DW_FEED_ORIGIN", dw.FEEDS).rstrip("/"))

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
            return request.replace(url=target)
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
        if target is None or urlsplit(target)[2:4] != urlsplit(request.url)[2:4]:
            return None
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

    async def robot_parser(self, request):
        netloc = urlparse_cached(request).netloc
        pending = self._parsers.get(netloc)
        if not isinstance(pending, Deferred):
            return await super().robot_parser(request)
        mine: Deferred = Deferred()

        def hand_on(parser):
            mine.callback(parser)
            return parser

        pending.addCallback(hand_on)
        return await maybe_deferred_to_future(mine)


@dataclass(frozen=True)
class RetryAfter:
    """What a `Retry-After` header asks: `seconds` to wait, or why it cannot be followed."""

    seconds: float | None  # None: unreadable
    asked: str  # the header's text, for the log


def retry_after(value: bytes | str | None, date: bytes | str | None = None,
                now: datetime | None = None) -> RetryAfter | None:
    """The wait a `Retry-After` value asks for (RFC 9110 §10.2.3), in seconds (never negative).

    Either form: delay-seconds (`120`) or an HTTP-date (`Sat, 05 Dec 2026 15:58:40 GMT`, and the
    obsolete RFC 850 and asctime forms: `crawler.dates.http_date`). A date is measured from the
    response's own `Date` header when it has a readable one (the server's clock, so that a
    skewed clock on either side does not change the wait), else from `now` (default: the
    clock); a date already past asks for no wait. None when there is no header;
    `RetryAfter(None, ...)` when it is neither form.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        moment = http_date(text)
        if moment is None:
            return RetryAfter(None, text)
        if isinstance(date, bytes):
            date = date.decode("latin-1")
        reference = (http_date(date) if date else None) or now or datetime.now(UTC)
        seconds = (moment - reference).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # nan, inf: no wait to keep
        return RetryAfter(None, text)
    return RetryAfter(max(seconds, 0.0), text)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, but waiting before each: `Retry-After` if given (up to
    `RETRY_BACKOFF_MAX`), else exponential (`RETRY_BACKOFF_BASE` × 2^retries).

    Stats, each counted once the wait is over: `dw/retry/retry_after_honoured` (waited as
    asked), `dw/retry/retry_after_capped` (asked for more than the cap: waited the cap);
    `dw/retry/retry_after_unreadable` (neither form: our own schedule, logged).
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)

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
        await self._wait(delay)
        if outcome:
            stats.inc_value(f"dw/retry/retry_after_{outcome}")
        return retry

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            from twisted.internet import reactor  # the one Scrapy installed

            await maybe_deferred_to_future(deferLater(reactor, seconds))
