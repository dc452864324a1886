"""HTTP for backfill: only the configured archive origins, at each one's own pace, waiting as told.

`PoliteClient.get(url)` refuses a URL on no configured origin (`Refused`), waits until the
origin's interval since the last request has passed, and retries a 429, 500, 502, 503 or 504 or
a network failure (a refused or cut connection, no byte for `timeout` seconds): after
`Retry-After` when the answer gives one (seconds or an HTTP date, RFC 9110 §10.2.3; never
longer than `retry_after_max`), else after an exponential backoff (`backoff`, doubled each
time). After `retries` retries it raises `Failed`.

A circuit breaker per origin: each request that failed after its retries doubles that origin's
interval until a request succeeds, and `breaker` failed requests in a row raise `Unavailable`:
the run stops instead of spending a backoff on every capture of an archive that is down; what
it did not fetch is fetched by the next run. Counts go to the `Counter` it is given.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from crawler import settings as defaults
from crawler.dates import http_date

logger = logging.getLogger("crawler.backfill")

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_SLOWEST = 300.0  # seconds: the longest interval the breaker slows an origin to


class Refused(Exception):
    """A URL outside the configured archive origins: never requested."""


class Failed(Exception):
    """A request that did not succeed after its retries (`reason`: `http_503`, `network`, ...)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


class Unavailable(Exception):
    """An archive origin whose last `failures` requests all failed after their retries."""

    def __init__(self, origin: str, failures: int, reason: str):
        super().__init__(f"{origin}: {failures} requests in a row failed ({reason})")
        self.origin, self.failures, self.reason = origin, failures, reason


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` value asks to wait: delay-seconds or an HTTP date; None when it is
    neither (or absent). A date in the past is 0."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    when = http_date(value)
    if when is None:
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL or URL template."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}".lower()


class PoliteClient:
    """One `requests` session for the origins of the URL prefixes named in `intervals` (prefix ->
    seconds between two requests under it; a URL takes its longest prefix, else the longest
    interval of its origin)."""

    def __init__(self, intervals: dict[str, float], counts: Counter, *, user_agent: str,
                 retries: int = defaults.BACKFILL_RETRIES, backoff: float = defaults.BACKFILL_BACKOFF,
                 retry_after_max: float = defaults.BACKFILL_RETRY_AFTER_MAX,
                 timeout: float = defaults.BACKFILL_TIMEOUT, breaker: int = defaults.BACKFILL_BREAKER,
                 sleep: Callable[[float], None] = time.sleep):
        self.intervals = {prefix.rstrip("/"): float(s) for prefix, s in intervals.items()}
        self.origins = {origin_of(prefix) for prefix in self.intervals}
        self.counts = counts
        self.retries, self.backoff, self.retry_after_max = retries, backoff, retry_after_max
        self.timeout, self.breaker, self.sleep = timeout, breaker, sleep
        self.next_allowed: dict[str, float] = {}
        self.failures: Counter = Counter()  # origin -> requests failed in a row
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent

    def allowed(self, url: str) -> bool:
        """True for an http(s) URL on one of the configured origins."""
        return url.lower().startswith(("http://", "https://")) and origin_of(url) in self.origins

    def pace_key(self, url: str) -> str:
        matching = [p for p in self.intervals if url == p or url.startswith((p + "/", p + "?"))]
        if matching:
            return max(matching, key=len)
        origin = origin_of(url)
        return max((p for p in self.intervals if origin_of(p) == origin), key=lambda p: self.intervals[p])

    def get(self, url: str, *, headers: dict | None = None, stream: bool = False) -> requests.Response:
        """The answer to GET `url`: any status but the retried ones (the caller judges it).

        Raises `Refused` for a URL off the configured origins, `Failed` after the retries,
        `Unavailable` when this was the origin's `breaker`-th failed request in a row.
        """
        if not self.allowed(url):
            self.counts["blocked/off_origin"] += 1
            logger.warning("Not requesting %s: not on a configured archive origin", url)
            raise Refused(url)
        key = self.pace_key(url)
        for attempt in range(self.retries + 1):
            self._pace(key)
            try:
                response = self.session.get(url, headers=headers, stream=stream, timeout=self.timeout,
                                            allow_redirects=False)
            except requests.RequestException as exc:
                reason, wait = "network", None
                logger.info("Request to %s failed: %s", url, exc)
            else:
                self.counts["requests"] += 1
                if response.status_code not in RETRIED_STATUSES:
                    self.succeeded(url)
                    return response
                reason = f"http_{response.status_code}"
                wait = retry_after(response.headers.get("Retry-After"))
                response.close()
                if wait is not None:
                    self.counts["retry/retry_after_honoured"] += 1
                    wait = min(wait, self.retry_after_max)
            if attempt == self.retries:
                break
            wait = self.backoff * 2 ** attempt if wait is None else wait
            self.counts[f"retry/{reason}"] += 1
            logger.info("%s from %s: retrying in %.1f s", reason, url, wait)
            self.sleep(wait)
        self.counts[f"failed/{reason}"] += 1
        self.failed(url, reason)
        raise Failed(url, reason)

    def succeeded(self, url: str) -> None:
        """The origin answered (a body read to its end, for a streamed one): its pace is back."""
        self.failures[origin_of(url)] = 0

    def failed(self, url: str, reason: str) -> None:
        """One more request to the origin failed after its retries (also a stream cut while read):
        slow the origin down, and stop the run at the breaker's count."""
        origin = origin_of(url)
        self.failures[origin] += 1
        n = self.failures[origin]
        for prefix in self.intervals:
            if origin_of(prefix) == origin:
                self.next_allowed[prefix] = time.monotonic() + min(
                    max(self.intervals[prefix], self.backoff) * 2 ** n, _SLOWEST)
        if n >= self.breaker:
            self.counts["failed/unavailable"] += 1
            raise Unavailable(origin, n, reason)

    def _pace(self, key: str) -> None:
        now = time.monotonic()
        wait = self.next_allowed.get(key, now) - now
        if wait > 0:
            self.sleep(wait)
        self.next_allowed[key] = max(now, self.next_allowed.get(key, now)) + self.intervals[key]
