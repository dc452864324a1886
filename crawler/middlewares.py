"""Downloader middlewares: keep every request on the configured DW origins; back off on retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

from crawler import dw

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origins:
    """Where www.dw.com, p.dw.com and rss.dw.com are fetched from."""

    www: str = dw.WWW
    short: str = dw.SHORTLINK
    feeds: str = dw.FEEDS

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


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, but waiting before each: `Retry-After` if given, else exponential."""

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE")
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX")

    async def process_response(self, request, response):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retries = request.meta.get("retry_times", 0)
        retry = get_retry_request(request, reason=f"{response.status}", spider=self.crawler.spider,
                                  max_retry_times=self.max_retry_times, priority_adjust=self.priority_adjust)
        if retry is None:
            return response
        retry_after = response.headers.get(b"Retry-After")
        delay = self._delay(retries, retry_after)
        if retry_after:
            self.crawler.stats.inc_value("dw/retry/retry_after_honoured")
        logger.info("HTTP %s from %s: retrying in %.1f s", response.status, request.url, delay)
        await self._wait(delay)
        return retry

    def _delay(self, retries: int, retry_after: bytes | None) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after.decode().strip()), 0.0), self.cap)
            except ValueError:
                pass  # an HTTP date or garbage: fall back to our own schedule
        return min(self.base * (2 ** retries), self.cap)

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            from twisted.internet import reactor  # the one Scrapy installed

            await maybe_deferred_to_future(deferLater(reactor, seconds))
