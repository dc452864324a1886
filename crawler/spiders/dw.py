"""`scrapy crawl dw`: find DW articles in sitemaps, feeds, given URLs and short links; extract them.

Arguments (`-a name=value`) are read by `crawler.arguments`; sitemaps and feeds by
`crawler.discovery`, through the callbacks of `crawler.spiders.listings`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import cached_property

import scrapy
from pyroaring import BitMap64
from scrapy.spidermiddlewares.httperror import HttpError

from crawler import dw
from crawler.archive import ArchiveExtension, gone, utc_now
from crawler.arguments import PASSED_BY_TOOLS, ArgumentError, Arguments, check_names, parse_arguments
from crawler.discovery import failure_detail, failure_reason
from crawler.extract import NotAnArticle, extract
from crawler.items import Article
from crawler.middlewares import Origins
from crawler.spiders.listings import _FEED_POLL_SECONDS, ListingCallbacks
from crawler.warc.capture import warc_dir
from crawler.warc.reextract import recover

logger = logging.getLogger(__name__)
_BREATHE_EVERY = 100  # given or due URLs read between two turns of the reactor


class DwSpider(ListingCallbacks, scrapy.Spider):
    """Discover DW articles and extract each one once, keyed by its content id."""

    name = "dw"

    def __init__(self, lang: str | None = None, sources: str | None = None,
                 urls: str | None = None, since: str | None = None, until: str | None = None,
                 refresh: str | None = None, **kwargs):
        unknown = {name: kwargs.pop(name) for name in list(kwargs) if name not in PASSED_BY_TOOLS}
        super().__init__(**kwargs)
        self.arguments = {"lang": lang, "sources": sources, "urls": urls, "since": since,
                          "until": until, "refresh": refresh}
        self.argument_error: str | None = None
        try:
            check_names(unknown)
            args = parse_arguments(lang, sources, urls, since, until, refresh)
        except ArgumentError as exc:
            self.argument_error = str(exc)
            args = Arguments(languages=[], sources=[])
        self.languages, self.given, self.sources = args.languages, args, args.sources
        self.since, self.until, self.refresh = args.since, args.until, args.refresh
        # The article ids this run scheduled, as a compressed bitmap: a few bytes per id where a
        # set of ints takes 70 (14 MB at 200,000 articles; DW's ids are dense ranges of ints).
        self.scheduled = BitMap64()
        # Ids whose article request ended this run (answered, refused or failed): in no queue.
        self.ended = BitMap64()
        self.from_job: set[int] = set()  # ids a stopped run left queued in JOBDIR
        self.sitemaps_seen: set[str] = set()
        # With since/until: ids an entry dated out of the range, by a publication date or by a
        # modification date only. Another listing's entry of the id without a date (or, against
        # a publication date, with only a modification date) does not let it in.
        self.out_of_range_published = BitMap64()
        self.out_of_range_modified = BitMap64()

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.origins = Origins.from_settings(crawler.settings)
        spider.sitemap_depth = crawler.settings.getint("DW_SITEMAP_DEPTH")
        # Articles found gone before this are asked for again (crawler/archive/gone.py).
        spider.gone_recheck_before = gone.recheck_cutoff(
            datetime.now(UTC), crawler.settings.getfloat("DW_GONE_RECHECK_DAYS"))
        # Connected before Scrapy's SpiderState extension, so that it saves what this sets.
        crawler.signals.connect(spider.remember_scheduled, signal=scrapy.signals.spider_closed)
        crawler.signals.connect(spider.count_not_fetched, signal=scrapy.signals.spider_closed)
        return spider

    def count_not_fetched(self, spider, reason: str) -> None:
        """`dw/not_fetched`: the articles this run found (`dw/found`) whose request never ended,
        answered or failed: queued ahead or admitted and waiting when the run stopped. Every id
        counted found is counted once, and every request that ends marks its id `ended`, so the
        difference is exact. Before the closing line (crawler/extensions.py, whose handler is
        connected after this one)."""
        left = self.crawler.stats.get_value("dw/found", 0) - len(self.ended)
        if left > 0:
            self.crawler.stats.set_value("dw/not_fetched", left)

    def remember_scheduled(self, spider, reason: str) -> None:
        """In a JOBDIR's spider state: the article ids scheduled by a run that did not finish
        whose requests wait in the job's queue; a finished run leaves nothing pending."""
        if hasattr(self, "state"):  # set by SpiderState when there is a JOBDIR
            # Admitted articles still waiting in `pending` are in no queue, and neither is an
            # article whose request ended (Scrapy lets the requests in progress end before it
            # closes): left out, the next run finds them again in the listings, and fetches
            # those the archive lacks (one that failed, or was fetched but not stored when the
            # archive or the WARC folder filled), instead of taking them as done.
            waiting = BitMap64(entry[0] for entry in self.pending)
            self.state["scheduled"] = ([] if reason == "finished"
                                       else list(self.scheduled - waiting - self.ended))  # in order

    @cached_property
    def archive(self) -> ArchiveExtension:
        return self.crawler.get_extension(ArchiveExtension)

    def on_origin(self, url: str) -> str:
        """Where to fetch a dw.com URL from. Built here, not rewritten by the middleware: a
        request a downloader middleware replaces goes through the scheduler a second time."""
        return self.origins.fetch_url(url) or url

    def count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"dw/{key}", n)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.argument_error:
            logger.error("Bad argument: %s", self.argument_error)
            self.crawler.stats.set_value("dw/argument_error", self.argument_error)
            raise scrapy.exceptions.CloseSpider("bad_arguments")
        # The run lock, the archive checked for damage and opened (by the archive pipeline
        # already, when it is enabled), read, and this run's crawl_runs row written.
        stop = self.archive.begin_run(self.arguments) or self.archive.recover_killed(
            lambda archive, since: recover(archive, warc_dir(self.settings), since))
        if stop:
            raise scrapy.exceptions.CloseSpider(stop)
        # Resumed from a JOBDIR: those articles' requests are in its queue already.
        self.from_job = set(getattr(self, "state", {}).get("scheduled", ()))
        self.scheduled.update(self.from_job)
        for n, url in enumerate(self.given.given_urls(), 1):
            for result in self.from_given_url(url):
                yield result
            if n % _BREATHE_EVERY == 0 and not await self.breathe():
                return
        if "revisits" in self.sources:
            for n, (_, url) in enumerate(self.archive.due_for_revisit(datetime.now(UTC), self.languages), 1):
                for request in self.schedule(url, "revisits", None, revisit=True):
                    yield request
                if n % _BREATHE_EVERY == 0 and not await self.breathe():
                    return
        for lang in self.languages:
            if "news" in self.sources:
                yield self.discovery_request(f"{dw.WWW}/{lang}/news-sitemap.xml", "news")
            if "articles" in self.sources:
                yield self.discovery_request(f"{dw.WWW}/{lang}/article-sitemap.xml", "articles")
            if "feeds" in self.sources and lang in dw.FEED_CHANNELS:
                yield self.discovery_request(f"{dw.FEEDS}/rdf/{dw.FEED_CHANNELS[lang]}", "feeds",
                                             self.parse_feed)
        async for request in self.request_pending():
            yield request

    async def breathe(self) -> bool:
        """Between the requests of a long list given (a URL file of a million lines): let the
        reactor run (Scrapy pulls from `start()` without pausing while its downloader is full,
        so no request went out and no time limit fired until the whole list was read), and
        wait while the scheduler holds `DW_REQUESTS_AHEAD` requests; False once the engine
        stops (CLOSESPIDER_TIMEOUT, a signal): the rest of the list is not read."""
        engine = self.crawler.engine
        ahead = self.crawler.settings.getint("DW_REQUESTS_AHEAD") or float("inf")
        await asyncio.sleep(0)
        while engine.running and engine.spider is not None and len(engine.scheduler) >= ahead:
            await asyncio.sleep(_FEED_POLL_SECONDS)
        return engine.running and engine.spider is not None

    # -- discovery -----------------------------------------------------------------------

    def from_given_url(self, url: str) -> Iterator[scrapy.Request]:
        target = dw.parse_url(url)
        if target is None:
            self.count("skipped/not_dw_url")
            logger.warning("Skipping %r: not a DW article URL or short link", url)
            return
        code = dw.fetched_by_short_link(target)
        if code is not None:  # a short link, or an old host's URL: asked where it is now
            yield from self.from_short_link(code, target.id)
        else:
            yield from self.schedule(url, "urls", None)

    def from_short_link(self, code: str, content_id: int, source: str = "short_links",
                        stamp: str | None = None, changed_at: str | None = None) -> Iterator[scrapy.Request]:
        """The request for a short link (given, or standing for an old host's URL that a listing
        named, with that entry's `source` and dates): none when the id is scheduled already, or
        archived and not changed since (`changed_at`), or dated out of the range asked for."""
        self.count("found/short_links")
        if content_id in self.scheduled:
            self.count("skipped/short_link_already_scheduled")
            self.archive.record_short_link(code, content_id)
            return
        stored = None if self.refresh else self.archive.stored(content_id)
        if stored is not None and not stored.body_truncated and (
                not changed_at or stored.last_seen_at >= changed_at):
            self.count("skipped/short_link_already_archived")
            self.archive.record_short_link(code, content_id)
            return
        day = (stamp or "")[:10]
        if stamp and ((self.since and day < self.since) or (self.until and day > self.until)):
            self.count("skipped/out_of_date_range")
            return
        url = f"{dw.SHORTLINK}/p/{code}"
        yield scrapy.Request(self.on_origin(url), callback=self.parse_short_link,
                             errback=self.on_error, dont_filter=True,
                             cb_kwargs={"code": code, "source": source, "stamp": stamp,
                                        "changed_at": changed_at},
                             meta={"dont_redirect": True, "source": "short_links", "dw_url": url,
                                   "content_id": content_id,
                                   "handle_httpstatus_list": [301, 302, 303, 307, 308]})

    def parse_short_link(self, response, code: str, source: str = "short_links",
                         stamp: str | None = None, changed_at: str | None = None):
        location = response.headers.get(b"Location", b"").decode("utf-8", "replace")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            self.count("failed/short_link_no_redirect")
            self.short_link_failed(response.meta.get("content_id"))
            logger.warning("Short link %s did not redirect (HTTP %s)", code, response.status)
            return
        target_url = self.origins.real_url(response.urljoin(location))
        if not dw.is_dw_host(target_url):
            self.count("skipped/short_link_off_dw")
            logger.warning("Short link %s redirects off DW to %s: not followed", code, target_url)
            return
        target = dw.parse_url(target_url)
        if target is None or target.kind != "article":
            kind = target.kind if target else "unknown"
            self.count(f"skipped/type/{kind}")
            logger.info("Short link %s leads to a %s, not an article: %s", code, kind, target_url)
            return
        self.archive.record_short_link(code, target.id)
        yield from self.schedule(target_url, source, stamp, changed_at=changed_at)

    # -- scheduling ----------------------------------------------------------------------

    def schedule(self, url: str, source: str, stamp: str | None, revisit: bool = False,
                 changed_at: str | None = None) -> Iterator[scrapy.Request]:
        """One request per article id per run; none for what the archive holds up to date.

        `stamp` (UTC, the entry's publication date first) is checked against since/until;
        `changed_at` (the latest of the entry's dates) against the archive: an archived article
        is fetched again when it changed since it was last seen, or on a revisit; the request
        is then conditional, so that an unchanged page costs a 304 and no body.
        """
        admitted = self.admit(url, source, stamp, revisit, changed_at)
        if admitted is not None:
            yield self.article_request(*admitted)

    def admit(self, url: str, source: str, stamp: str | None, revisit: bool = False,
              changed_at: str | None = None, published: bool | None = None) -> tuple | None:
        """The decision of `schedule`, counted: (id, canonical URL, source, ETag,
        Last-Modified) of an article to fetch, or None. The tuple is what waits in
        `pending` until `article_request` makes it a request. `published`: whether `stamp` is
        a publication date (a listing entry's), not a modification date (None: not known)."""
        target = dw.parse_url(url)
        if target is None:
            self.count("skipped/not_dw_url")
            logger.warning("Skipping %r from %s: not a DW content URL", url[:200], source)
            return None
        if target.kind != "article":
            self.count(f"skipped/type/{target.kind}")
            return None
        self.count(f"found/{source}")
        if changed_at is None:  # "" is an entry whose dates say no change (see `changed_at`)
            changed_at = stamp
        if (self.since or self.until) and self.out_of_range(target.id, stamp, published):
            self.count("skipped/out_of_date_range")
            return None
        if target.id in self.scheduled:
            self.count("skipped/already_scheduled")
            return None
        if source in gone.GONE_SOURCES and not self.refresh:
            checked_at = self.archive.gone_checked_at(target.id)
            if checked_at is not None and not gone.asked_again(checked_at, changed_at,
                                                               self.gone_recheck_before):
                self.count("skipped/gone")  # answered 404/410 before, and not listed as changed since
                return None
        etag = last_modified = None
        if not self.refresh:
            stored = self.archive.stored(target.id)
            if stored is not None and stored.body_truncated:
                # Archived cut at the safety limit: fetched again in full, not conditionally,
                # so that the run reads (and reports) the whole page again.
                self.count("refetched/body_truncated")
            elif stored is not None and not revisit and (not changed_at or stored.last_seen_at >= changed_at):
                self.count("skipped/archived_up_to_date")
                return None
            elif stored is not None:
                etag, last_modified = stored.etag, stored.last_modified
        self.scheduled.add(target.id)
        self.count("found")
        return target.id, dw.canonical_url(url), source, etag, last_modified

    def out_of_range(self, content_id: int, stamp: str | None, published: bool | None) -> bool:
        """Whether an article is out of the since/until range: by this entry's date (remembered,
        by kind), or, for an entry without a date or with only a modification date, by the
        date another listing gave it (README: since/until read the publication date first)."""
        day = (stamp or "")[:10]
        if stamp and ((self.since and day < self.since) or (self.until and day > self.until)):
            (self.out_of_range_published if published else self.out_of_range_modified).add(content_id)
            return True
        if stamp and published:
            return False  # a publication date in the range: this one decides
        dated_out = content_id in self.out_of_range_published or (
            not stamp and content_id in self.out_of_range_modified)
        if dated_out:
            logger.debug("Article %s: another listing dates it out of the range asked for", content_id)
        return dated_out

    def article_request(self, content_id: int, canonical: str, source: str, etag: str | None,
                        last_modified: str | None) -> scrapy.Request:
        """The request for an admitted article: conditional when the archive has validators."""
        headers = {k: v for k, v in (("If-None-Match", etag),
                                     ("If-Modified-Since", last_modified)) if v}
        meta = {"source": source}
        if headers:
            meta["handle_httpstatus_list"] = [304]
        meta["dw_url"] = canonical  # a request resumed from a JOBDIR goes to the origin of now
        # dont_filter: articles are deduplicated here, by id; Scrapy's filter would silently
        # end a redirect loop instead of letting it fail, counted, at REDIRECT_MAX_TIMES.
        return scrapy.Request(self.on_origin(canonical), callback=self.parse_article,
                              errback=self.on_error, cb_kwargs={"content_id": content_id},
                              headers=headers, meta=meta, dont_filter=True)

    # -- pages ---------------------------------------------------------------------------

    def resumed(self, content_id: int) -> None:
        """An article request ended (answered or failed): count it as found when a stopped run
        left it in JOBDIR."""
        self.ended.add(content_id)
        if content_id in self.from_job or content_id not in self.scheduled:
            self.from_job.discard(content_id)
            self.scheduled.add(content_id)
            self.count("found")
            self.count("found/resumed")

    def parse_article(self, response, content_id: int) -> Article | None:
        # Returns, not yields: Scrapy parses the source of a generator callback on every
        # response (WARN_ON_GENERATOR_RETURN_VALUE; its cache misses bound methods).
        self.resumed(content_id)
        self.archive.record_answered(content_id)
        if response.status == 304:
            self.count("not_modified")
            # A 304 carries the current representation's validators (RFC 9110 §15.4.5): the
            # next conditional request sends those, not the ones of the last 200.
            self.archive.record_not_modified(content_id, _fetched_at(response),
                                             _header(response, b"ETag"),
                                             _header(response, b"Last-Modified"))
            return None
        self.count("fetched")
        url = self.origins.real_url(response.url)
        try:
            article = extract(response.body, url=url, encoding=_header(response, b"Content-Type"))
        except NotAnArticle as exc:
            if exc.kind == "ids_disagree":  # another article's page, or a forged one: lost
                self.count("failed/article/ids_disagree")
                self.count("failed")
                logger.warning("Article %s is not archived: %s", content_id, exc.reason)
                return None
            self.count("failed/not_an_article")
            if exc.kind:  # refused for a reason counted apart: `too_deep`, `too_costly`
                self.count(f"failed/not_an_article/{exc.kind}")
            logger.warning("No article in %s: %s", url, exc.reason)
            return None
        if article.kind != "article":
            self.count(f"skipped/type/{article.kind}")
            return None
        if article.id != content_id:
            if article.id in self.scheduled:
                # The article asked for is gone (merged into, or replaced by, one this run has
                # anyway): lost, so that the run's outcome sees it.
                self.count("failed/article/serves_another_article")
                self.count("failed")
                logger.warning("%s serves article %s, not %s, and %s is this run's already: article"
                               " %s is not archived", url, article.id, content_id, article.id, content_id)
                return None
            logger.info("%s serves article %s, not %s", url, article.id, content_id)
            self.scheduled.add(article.id)
        article.fetched_at = _fetched_at(response)
        # Bookkeeping goes to the archive directly; the article is the page's one item.
        self.archive.record_fetched(article.id, _header(response, b"ETag"),
                                    _header(response, b"Last-Modified"))
        self.archive.record_short_link(dw.encode_short_code(article.id), article.id)
        return article

    def on_error(self, failure):
        request = failure.request
        reason = failure_reason(failure)
        source = request.meta.get("source", "")
        kind = "article" if request.callback == self.parse_article else source or "request"
        if kind == "article" and source in gone.GONE_SOURCES and failure.check(HttpError):
            response = failure.value.response
            if response.status in gone.GONE_STATUSES:
                self.on_gone(request, response)
                return
        self.count(f"failed/{kind}/{reason}")
        if kind == "article":
            self.resumed(request.cb_kwargs["content_id"])
            self.count("failed")
        elif kind == "short_links":
            self.short_link_failed(request.meta.get("content_id"))
        logger.warning("Failed to fetch %s (%s): %s", request.url, kind, failure_detail(failure))

    def short_link_failed(self, content_id: int | None) -> None:
        """A short link that did not lead to its article (a 404, an error, no redirect): the
        article it names was asked for and failed, as an article URL's 404 is (README: "a
        failure, as any other"), so it is counted `found` and `failed` and the closing line's
        equation holds. Taken as this run's one request for that id (a listing naming it later
        in the run does not ask again), so that `dw/not_fetched` stays exact. Until 2026-12 it
        was only a reason, `failed/short_links/http_404`, and a run of broken short links ended
        `ok` (tester try28, item 1)."""
        if content_id is None or content_id in self.scheduled:
            return
        self.scheduled.add(content_id)
        self.ended.add(content_id)
        self.count("found")
        self.count("failed")

    def on_gone(self, request, response) -> None:
        """A listed article's page answered 404 or 410: gone from DW, not a failure of the run;
        counted (`dw/gone`, `dw/gone/http_404`), logged once with its URL, and remembered by the
        archive when the run ends (crawler/archive/gone.py)."""
        content_id = request.cb_kwargs["content_id"]
        self.resumed(content_id)
        self.count("gone")
        self.count(f"gone/http_{response.status}")
        url = request.meta.get("dw_url") or self.origins.real_url(request.url)
        self.archive.record_gone(gone.Gone(content_id, url, response.status, _fetched_at(response)))
        logger.warning("Article %s is gone (HTTP %s, from %s): %s", content_id, response.status,
                       request.meta.get("source"), url)


def _fetched_at(response) -> str:
    """When the response came: its WARC record's date (set by the capture), else now."""
    return response.meta.get("fetched_at") or utc_now()


def _header(response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
