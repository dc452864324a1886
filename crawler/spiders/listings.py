"""The spider's sitemap and feed callbacks: requests for listings, entries into `pending`.

A mixin of `DwSpider` (it uses the spider's `count`, `origins`, `on_origin`, `on_error`,
`admit`, `article_request`, `sitemaps_seen` and `sitemap_depth`); what a listing holds is read
by `crawler.discovery`, without Scrapy.

Memory stays flat with the crawl, whatever the size of a listing:
- A listing read waits in `waiting`, its entries packed (`PackedEntries`: a 40,000-URL sitemap
  is under 1 MB there, 15 MB as `Entry` objects, 30 MB more while its tree was read whole).
- Its entries are admitted (deduplicated, checked against the archive and the date range,
  counted) in the order the listings were read, one at a time as `request_pending`, the tail
  of the spider's `start()`, needs a request: while the scheduler holds fewer than
  `DW_REQUESTS_AHEAD` (48: three times the parallel requests, so the downloader never waits).
  An admitted article waits as a small tuple in `pending` until then, not as a Request in
  Scrapy's queue. `DW_REQUESTS_AHEAD = 0`: everything listed is admitted and requested at
  once, as a distributed worker does, whose queue is in Redis and whose memory must hold
  nothing another worker would need.
- The sitemaps a sitemap index lists wait in `listings` and are requested while fewer than
  `DW_PENDING_MAX` (10,000) articles wait, listed or admitted: what waits is bounded by a few
  sitemaps' entries (at most 50,000 each by the sitemap protocol), packed.
A run stopped with a JOBDIR keeps only what it scheduled (`remember_scheduled`): what waits
here, not yet requested, is found again in the listings by the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import scrapy
from scrapy.downloadermiddlewares.retry import get_retry_request

from crawler import dw
from crawler.archive import utc_now
from crawler.dates import to_utc
from crawler.discovery import (
    DamagedGzip,
    Entry,
    Listing,
    NotReadable,
    PackedEntries,
    TooLarge,
    newest,
    read_listing,
)
from crawler.discovery.listings import PUBLICATION_DATES
from crawler.middlewares import UNVERIFIED_CODING

logger = logging.getLogger(__name__)


_FEED_POLL_SECONDS = 0.01
# How far after the run's start a listing's date may be before it is taken as in the future
# (`ListingCallbacks.changed_at`): a day covers any zone written wrong (UTC+14 as UTC) and a
# server clock that is fast; an article so dated is re-checked, conditionally, until it passes.
FUTURE_SLACK = timedelta(days=1)


# How often the spider has retried a listing whose `.xml.gz` failed its check: a key of its
# own, not Scrapy's `retry_times`, which Scrapy's MetaCopyDetectionMiddleware takes in a
# request a spider yields for a key copied from `response.meta` and warns of (tester-try27).
_LISTING_RETRIES = "dw_listing_retries"
# Keys Scrapy's downloader sets on a request's meta; a retry made by the spider leaves them out.
_DOWNLOADER_KEYS = ("retry_times", "download_latency")


_FIRST_DIGEST = "dw_unverified_digest"  # the SHA-256 of a listing's first such transfer, decoded


@dataclass(frozen=True)
class _Confirming:
    """What `ListingCallbacks.confirm` does instead of reading a listing: fetch it again
    (`request`), or nothing (the two transfers differ)."""

    request: scrapy.Request | None


def _listing_retry(request: scrapy.Request, spider) -> scrapy.Request | None:
    """A retry of a listing request (Scrapy's `get_retry_request`: `RETRY_TIMES`, its stats
    `retry/count`, `retry/reason_count/damaged_gzip`), or None when its tries are spent (Scrapy's
    "Gave up retrying" at DEBUG: the spider's warning says which damage). Its count is kept in
    `_LISTING_RETRIES`; the downloader's own keys are not carried over."""
    counted = request.replace(meta={**request.meta, "retry_times": request.meta.get(_LISTING_RETRIES, 0)})
    retry = get_retry_request(counted, spider=spider, reason="damaged_gzip", give_up_log_level=logging.DEBUG)
    if retry is None:
        return None
    retry.meta[_LISTING_RETRIES] = retry.meta["retry_times"]
    for key in _DOWNLOADER_KEYS:
        retry.meta.pop(key, None)
    return retry


class ListingCallbacks:
    """Sitemaps, sitemap indexes and feeds: fetched on every run, their entries scheduled."""

    pending: deque[tuple]  # admitted articles not yet requested: see `admit`
    listings: deque  # requests for sitemaps listed in an index, not yet made
    waiting: deque  # (entries, source, where) of listings read, not yet admitted
    unadmitted: int  # the entries in `waiting`

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending = deque()
        self.listings = deque()
        self.waiting = deque()
        self.unadmitted = 0
        # When this run started, as the listings' dates are compared (UTC, `…T…Z`): a date more
        # than FUTURE_SLACK after it is in the future. And the listings already warned about
        # such dates (once each).
        self.started_at = utc_now()
        self.future_dated: set[str] = set()

    async def request_pending(self) -> AsyncIterator:
        """Requests for the admitted articles, a few dozen ahead of the downloader, until no
        listing is left to read and none waits; the end of the spider's `start()`."""
        engine = self.crawler.engine
        queued = self.crawler.settings.getint("DW_REQUESTS_AHEAD") or float("inf")
        most_pending = self.crawler.settings.getint("DW_PENDING_MAX")
        idle_checks = 0
        while engine.running and engine.spider is not None:
            scheduler = engine.scheduler
            # The scheduler's length is asked only when there is something to request: a
            # distributed worker's scheduler asks Redis, which may be gone.
            while (self.pending or self.waiting) and len(scheduler) < queued:
                if not self.pending:
                    # Listed entries are admitted as requests go out, not ahead: what waits
                    # admitted is no more than what the scheduler takes at once.
                    for request in self.admit_waiting(1):
                        yield request  # an old host's short link
                    if not self.pending:
                        break
                yield self.article_request(*self.pending.popleft())
            while (self.listings and len(self.pending) + self.unadmitted < most_pending
                   and len(scheduler) < queued):
                yield self.listings.popleft()
            if self.pending or self.listings or self.waiting:
                idle_checks = 0
            elif (not engine.downloader.active and not scheduler.has_pending_requests()
                  and engine.scraper.slot.is_idle()):
                # Nothing is downloading or being parsed: no listing can add more. Seen twice
                # in a row, a reactor turn apart, so that a response between the downloader
                # and its callback is not missed.
                idle_checks += 1
                if idle_checks >= 2:
                    return
            else:
                idle_checks = 0
            await asyncio.sleep(_FEED_POLL_SECONDS)

    def discovery_request(self, url: str, source: str, callback=None, depth: int = 0) -> scrapy.Request:
        """A sitemap or feed request. Made on every run: never filtered as seen, so that a job
        directory of a finished run (its seen-requests file) cannot leave a run with nothing."""
        if depth == 0:
            self.count("discovery/requested")
        # A listing's own size limit (Scrapy's per-request `download_maxsize`, which its download
        # handler and HttpCompressionMiddleware, and the WARC capture, obey): the sitemap
        # protocol allows 50 MB, three times the limit for pages.
        maxsize = self.crawler.settings.getint("DW_LISTING_MAXSIZE")
        return scrapy.Request(self.on_origin(url), callback=callback or self.parse_sitemap,
                              errback=self.on_error, cb_kwargs={"source": source, "depth": depth},
                              meta={"source": source, "dw_url": url, "download_maxsize": maxsize},
                              priority=10, dont_filter=True)

    def parse_sitemap(self, response, source: str, depth: int = 0):
        listing = self.read_listing(response, source)
        if not isinstance(listing, Listing):
            yield from filter(None, [listing])  # a retry, or nothing
            return
        real = self.origins.real_url(response.url)
        self.sitemaps_seen.add(real)
        if listing.kind != "sitemapindex":
            self.from_entries(listing.entries, source, real)
            yield from self.released()
            return
        for entry in listing.entries.drain():
            child = entry.loc
            if child in self.sitemaps_seen:
                # An index naming a sitemap twice, or one an earlier index named: normal, read once.
                self.count("skipped/sitemap_seen")
                logger.debug("Sitemap %s, listed in %s, is read already: not read again", child, real)
                continue
            if not dw.is_dw_host(child):
                self.count("skipped/sitemap_refused")
                logger.warning("Not following sitemap %s listed in %s: not on DW", child, real)
                continue
            if depth + 1 > self.sitemap_depth:
                # Its own count: a run that read nothing else says this was why (crawler/outcome.py)
                self.count("skipped/sitemap_too_deep")
                logger.warning("Not following sitemap %s listed in %s: deeper than DW_SITEMAP_DEPTH=%d",
                               child, real, self.sitemap_depth)
                continue
            self.sitemaps_seen.add(child)
            self.listings.append(self.discovery_request(child, source, depth=depth + 1))
        yield from self.released()

    def parse_feed(self, response, source: str = "feeds", depth: int = 0):
        # Relative locations in a feed are on www.dw.com, not on the feed's own host.
        listing = self.read_listing(response, source, base=f"{dw.WWW}/")
        if isinstance(listing, scrapy.Request):  # a retry
            yield listing
        elif listing is not None:
            self.from_entries(listing.entries, source, self.origins.real_url(response.url))
            yield from self.released()

    def released(self) -> Iterator[scrapy.Request]:
        """With `DW_REQUESTS_AHEAD = 0`, what a listing admitted, requested at once; else nothing
        (`request_pending` requests it when the scheduler runs low)."""
        if self.crawler.settings.getint("DW_REQUESTS_AHEAD") > 0:
            return
        yield from self.admit_waiting(float("inf"))
        while self.listings:
            yield self.listings.popleft()
        while self.pending:
            yield self.article_request(*self.pending.popleft())

    def read_listing(self, response, source: str, base: str | None = None) -> Listing | scrapy.Request | None:
        """The response's sitemap or feed entries; None (counted, logged) when it is neither, or
        a gzip that inflates past `DW_LISTING_MAXSIZE`; a gzip that fails its check (`.xml.gz`
        with a CRC-32 or length that fails, cut short, junk after it): a retry of the request,
        as a damaged transfer of a `Content-Encoding` is retried (`crawler.middlewares`), then
        None, counted `dw/failed/<source>/damaged_gzip` and logged once. A listing cut short
        or not well-formed is read (see `crawler.discovery.listings`), counted and logged once.
        Relative locations are read against `base`, by default the listing's own (real) URL."""
        where = self.origins.real_url(response.url)
        # The second transfer of such a listing is compared with the first whatever its coding:
        # with none it carries no check either, and a gzip one that differs says the listing
        # changed between the two (the README's "only when both transfers decode to the same
        # bytes"; until 2026-12 a second transfer in gzip or none was read alone: tester try28).
        second = response.request is not None and _FIRST_DIGEST in response.request.meta
        if ((UNVERIFIED_CODING in response.flags or second)
                and (confirming := self.confirm(response, source, where))):
            return confirming.request
        try:
            listing = read_listing(response.body, self.crawler.settings.getint("DW_LISTING_MAXSIZE"),
                                   base_url=base or where, entries=PackedEntries())
        except TooLarge as exc:  # a gzip bomb: counted as a download over the limit is
            self.count(f"failed/{source}/too_large")
            logger.warning("Cannot read the %s listing %s: it %s (DW_LISTING_MAXSIZE)", source,
                           where, exc)
            return None
        except DamagedGzip as exc:
            return self.damaged(response, source, where, exc)
        except NotReadable as exc:
            self.count("failed/bad_xml")
            logger.warning("Cannot read XML from %s: %s", response.url, exc)
            return None
        self.count_damage(listing, source, where)
        if listing.without_location:
            self.count("discovery/entry_without_link", listing.without_location)
            logger.warning("%d entries of the %s %s at %s have no usable link (loc, link, rdf:about,"
                           " permalink guid): not followed", listing.without_location, source,
                           listing.kind, where)
        if not listing.entries:
            self.count("discovery/empty")
            self.count(f"discovery/empty/{source}")
            logger.warning("The %s %s at %s lists no entry", source, listing.kind, where)
        return listing

    def confirm(self, response, source: str, where: str) -> _Confirming | None:
        """A listing whose content coding carries no check (br, raw deflate, zstd without its
        checksum: `crawler.middlewares.ContentCodingMiddleware` flags it): a changed bit would
        read as another id, and nothing in it says so. So it is fetched a second time, and read
        only when both transfers decode to the same bytes (two transfers changed alike: not to
        be met), whatever coding the second came in; None then (read it). Else `_Confirming`:
        the second request (counted `dw/discovery/refetched_unverified`), or, the two
        differing, no request: counted
        `dw/failed/<source>/unverified_coding_differs` and logged once, no entry taken."""
        digest = hashlib.sha256(response.body).hexdigest()
        first = response.meta.get(_FIRST_DIGEST)
        if first == digest:
            return None
        if first is None:
            self.count("discovery/refetched_unverified")
            logger.info("The %s listing %s came in a content coding without a check: fetching it"
                        " again, to read it only if both agree", source, where)
            meta = {key: value for key, value in response.meta.items() if key not in _DOWNLOADER_KEYS}
            return _Confirming(response.request.replace(meta={**meta, _FIRST_DIGEST: digest},
                                                        dont_filter=True))
        self.count(f"failed/{source}/unverified_coding_differs")
        logger.warning("Cannot read the %s listing %s: it came in a content coding without a check,"
                       " was fetched again, and the two differ (a transfer changed it, or the listing"
                       " changed between them); no entry taken from it", source, where)
        return _Confirming(None)

    def damaged(self, response, source: str, where: str, damage: DamagedGzip) -> scrapy.Request | None:
        """A `.xml.gz` listing that fails its gzip check: retried (Scrapy's `RETRY_TIMES`), then
        counted as a listing that could not be read, `dw/failed/<source>/damaged_gzip`."""
        self.count("damaged_transfer/gzip")
        settings = self.crawler.settings
        tries = response.meta.get(_LISTING_RETRIES, 0) + 1
        if settings.getbool("RETRY_ENABLED") and not response.meta.get("dont_retry", False):
            retry = _listing_retry(response.request, self)
            if retry is not None:
                logger.info("The gzipped %s listing %s fails its check (%s): retrying", source,
                            where, damage)
                return retry
        self.count(f"failed/{source}/damaged_gzip")
        logger.warning("Cannot read the gzipped %s listing %s: %s; no entry taken from it (tried %d"
                       " times)", source, where, damage, tries)
        return None

    def count_damage(self, listing: Listing, source: str, where: str) -> None:
        """A listing cut short (`dw/discovery/truncated`, `…/<source>`) or not well-formed
        (`dw/discovery/not_well_formed`, `…/<source>`), and the entries it seems to hold that
        could not be read (`dw/discovery/entries_not_read`, `…/<source>`): counted, and said in
        one warning. Only its whole entries are read (see `crawler.discovery.listings`)."""
        kept = len(listing.entries) + listing.without_location
        unread = f"; entries not read: {listing.not_read}" if listing.not_read else ""
        broken = listing.not_well_formed
        if listing.not_well_formed:
            self.count("discovery/not_well_formed")
            self.count(f"discovery/not_well_formed/{source}")
        if listing.not_read:
            self.count("discovery/entries_not_read", listing.not_read)
            self.count(f"discovery/entries_not_read/{source}", listing.not_read)
        if listing.truncated:
            self.count("discovery/truncated")
            self.count(f"discovery/truncated/{source}")
            either = f"; it is not well-formed XML either ({broken})" if listing.not_well_formed else ""
            logger.warning("The %s %s at %s is cut short (it ends before its root element closes):"
                           " entries kept whole: %d; the entry cut at its end, and what followed, lost%s%s",
                           source, listing.kind, where, kept, unread, either)
        elif listing.not_read:
            logger.warning("The %s %s at %s is not well-formed XML (%s): entries kept whole before"
                           " the error: %d%s, the rest not guessed", source, listing.kind, where,
                           broken, kept, unread)
        elif listing.not_well_formed:
            logger.warning("The %s %s at %s is not well-formed XML (%s): entries kept: %d", source,
                           listing.kind, where, broken, kept)

    def from_entries(self, entries: PackedEntries, source: str, where: str) -> None:
        """A listing's article entries, counted, set to wait for admission (see the module doc)."""
        self.count("discovery/entries", len(entries))
        if len(entries):
            self.unadmitted += len(entries)
            self.waiting.append((entries.drain(), source, where))

    def admit_waiting(self, most_pending: float) -> Iterator[scrapy.Request]:
        """Admit entries of the listings read, in the order read, into `pending` until
        `most_pending` articles wait there; the requests for the short links of entries on old
        hosts (`dw.fetched_by_short_link`), as their entries come."""
        while self.waiting and len(self.pending) < most_pending:
            entries, source, where = self.waiting[0]
            entry = next(entries, None)
            if entry is None:
                self.waiting.popleft()
                continue
            self.unadmitted -= 1
            # Each entry on its own: one that cannot be used never costs the rest of the listing.
            try:
                admitted = self.from_entry(entry, source, where)
            except (ValueError, OverflowError) as exc:
                self.count("discovery/bad_entry")
                logger.warning("Skipping the entry %.200r in %s: %s", entry.loc, where, exc)
                continue
            if isinstance(admitted, tuple):
                self.pending.append(admitted)
            elif admitted is not None:
                yield from admitted

    def from_entry(self, entry: Entry, source: str, where: str):
        """One listing entry admitted (see `admit`), its dates read (unusable ones counted); or,
        for an old host's URL, the requests for its short link."""
        dates = newest(value for _, value in entry.dates)
        for zone in dates.unknown_zones:
            self.count("dates/unknown_zone")
            logger.warning("Unknown time zone %r in a date of %s in %s: date not used", zone,
                           entry.loc, where)
        for value in dates.unreadable:
            self.count("dates/unreadable")
            logger.warning("Cannot read the date %r of %s in %s", value, entry.loc, where)
        if dates.no_zone:
            self.count("dates/no_zone_taken_as_utc", dates.no_zone)
        changed_at = self.changed_at(entry, dates.stamp, where)
        target = dw.parse_url(entry.loc)
        if entry.content_id and target is not None:
            if entry.content_id.isdigit() and target.id != int(entry.content_id):
                logger.warning("Feed item %s says content id %s; using the URL's", entry.loc,
                               entry.content_id)
        code = dw.fetched_by_short_link(target) if target is not None else None
        if code is not None:
            self.count("discovery/via_short_link")
            logger.info("%s in %s is fetched through its short link %s", entry.loc, where, code)
            return list(self.from_short_link(code, target.id, source, dates.first, changed_at))
        published = None
        if dates.first and (self.since or self.until):  # which kind of date since/until read
            published = next((name for name, value in entry.dates if to_utc(value)), "") in PUBLICATION_DATES
        return self.admit(entry.loc, source, dates.first, changed_at=changed_at, published=published)

    def changed_at(self, entry: Entry, stamp: str | None, where: str) -> str | None:
        """When the entry says its article last changed: the latest of its dates (`stamp`), but
        not one in the future, more than `FUTURE_SLACK` after this run started (a `lastmod` of
        2027): compared with the archive, it would have the article fetched again on every run
        until then. Such a date is counted (`dw/dates/in_future`), said once per listing, and
        left out: the latest of the entry's other dates is used, or "" (none: an archived
        article is then up to date). Once the date has passed it counts again, and the article
        is re-checked once, conditionally, if it was not fetched since. A date less far ahead (a
        clock a little fast, a local time written as UTC) is taken as it is: it passes soon."""
        if not stamp or stamp <= self.started_at or stamp <= _later(self.started_at, FUTURE_SLACK):
            return stamp
        self.count("dates/in_future")
        if where not in self.future_dated:
            self.future_dated.add(where)
            logger.warning("%s gives dates in the future (%s for %s; the run started %s): not taken"
                           " as a change (dw/dates/in_future counts the entries)", where, stamp,
                           entry.loc, self.started_at)
        latest = _later(self.started_at, FUTURE_SLACK)
        return newest(value for _, value in entry.dates if (to_utc(value) or "9") <= latest).stamp or ""


def _later(stamp: str, delta: timedelta) -> str:
    """A `…T…Z` UTC stamp `delta` later, in the same form."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + delta
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
