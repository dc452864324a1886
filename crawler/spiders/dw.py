"""`scrapy crawl dw`: find DW articles in sitemaps, feeds, given URLs and short links; extract them.

Arguments (`-a name=value`):
  lang=en,de       languages by DW path prefix; `all` for all 31 (default `en`)
  sources=news,articles,feeds,revisits
                   where to discover articles (default: all four; none but urls= when it is given);
                   revisits re-checks recent archived articles, hourly on day one, daily in week one
  urls=URL,URL     article URLs, old dw.de / dw-world.de URLs, p.dw.com short links, or @FILE
  since=YYYY-MM-DD / until=YYYY-MM-DD
                   keep articles whose sitemap or feed date falls in that range (inclusive)
  refresh=all      fetch again articles the archive already holds
"""

from __future__ import annotations

import fcntl
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import scrapy
from lxml import etree
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.gz import gunzip

from crawler import dw
from crawler.archive import archive_for
from crawler.extract import NotAnArticle, extract
from crawler.items import Fetched, ShortLink
from crawler.middlewares import Origins
from crawler.text import to_utc

logger = logging.getLogger(__name__)

SOURCES = ("news", "articles", "feeds", "revisits")
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True,
                       remove_comments=True, load_dtd=False)
_NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
    "rss": "http://purl.org/rss/1.0/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dwsyn": "http://rss.dw.com/syndication/dwsyn/",
}


class ArgumentError(ValueError):
    """A spider argument the user gave cannot be used."""


def parse_languages(value: str | None) -> list[str]:
    """`en,de` or `all` as a list of DW path prefixes."""
    if not value or value.strip() == "all":
        return list(dw.LANGUAGES) if value else ["en"]
    langs = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [lang for lang in langs if lang not in dw.LANGUAGES]
    if unknown:
        raise ArgumentError(f"unknown language {', '.join(unknown)}; DW has {' '.join(dw.LANGUAGES)}")
    return langs


def parse_day(value: str | None, name: str) -> str | None:
    """A `YYYY-MM-DD` argument, checked."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ArgumentError(f"{name}={value!r} is not a date like 2024-01-30") from None


def parse_sources(value: str | None, has_urls: bool) -> list[str]:
    """`news,articles,feeds` as a list; `urls` alone when URLs were given and no sources."""
    if not value:
        return [] if has_urls else list(SOURCES)
    sources = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ArgumentError(f"unknown source {', '.join(unknown)}; use {','.join(SOURCES)}")
    return sources


def read_urls(value: str | None) -> list[str]:
    """Comma-separated URLs, or `@FILE` with one URL per line (blank lines and # comments skipped)."""
    if not value:
        return []
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as exc:
            raise ArgumentError(f"cannot read the URL file {value[1:]}: {exc.strerror}") from None
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    # Old dw-world.de URLs hold commas (`0,,123,00.html`): split only where a new URL starts.
    return [u.strip() for u in re.split(r",(?=\s*(?:https?://|www\.|p\.dw\.com))", value) if u.strip()]


class DwSpider(scrapy.Spider):
    """Discover DW articles and extract each one once, keyed by its content id."""

    name = "dw"

    def __init__(self, lang: str | None = None, sources: str | None = None,
                 urls: str | None = None, since: str | None = None, until: str | None = None,
                 refresh: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.arguments = {"lang": lang, "sources": sources, "urls": urls, "since": since,
                          "until": until, "refresh": refresh}
        self.argument_error: str | None = None
        try:
            self.languages = parse_languages(lang)
            self.urls = read_urls(urls)
            self.sources = parse_sources(sources, bool(self.urls))
            self.since = parse_day(since, "since")
            self.until = parse_day(until, "until")
            if refresh not in (None, "", "all", "none"):
                raise ArgumentError(f"refresh={refresh!r}: use refresh=all")
        except ArgumentError as exc:
            self.argument_error = str(exc)
        self.refresh = refresh == "all"
        self.scheduled: set[int] = set()
        self.sitemaps_seen: set[str] = set()
        self._lock = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.origins = Origins.from_settings(crawler.settings)
        spider.sitemap_depth = crawler.settings.getint("DW_SITEMAP_DEPTH", 3)
        return spider

    @property
    def archive(self):
        return archive_for(self.crawler)

    def on_origin(self, url: str) -> str:
        """Where to fetch a dw.com URL from. Built here, not rewritten by the middleware: a
        request a downloader middleware replaces goes through the scheduler a second time."""
        return self.origins.fetch_url(url) or url

    def count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"dw/{key}", n)

    async def start(self) -> AsyncIterator[scrapy.Request | ShortLink]:
        if self.argument_error:
            logger.error("Bad argument: %s", self.argument_error)
            self.crawler.stats.set_value("dw/argument_error", self.argument_error)
            raise scrapy.exceptions.CloseSpider("bad_arguments")
        if not self.lock_archive():
            raise scrapy.exceptions.CloseSpider("archive_locked")
        try:
            self.archive.count()
        except sqlite3.Error as exc:
            logger.error("Cannot use the archive: %s", exc)
            raise scrapy.exceptions.CloseSpider("archive_error") from None
        for url in self.urls:
            for result in self.from_given_url(url):
                yield result
        if "revisits" in self.sources:
            for _, url in self.archive.due_for_revisit(datetime.now(UTC), self.languages):
                for request in self.schedule(url, "revisits", None, revisit=True):
                    yield request
        for lang in self.languages:
            if "news" in self.sources:
                yield self.sitemap_request(f"{dw.WWW}/{lang}/news-sitemap.xml", "news")
            if "articles" in self.sources:
                yield self.sitemap_request(f"{dw.WWW}/{lang}/article-sitemap.xml", "articles")
            if "feeds" in self.sources and lang in dw.FEED_CHANNELS:
                yield scrapy.Request(self.on_origin(f"{dw.FEEDS}/rdf/{dw.FEED_CHANNELS[lang]}"),
                                     callback=self.parse_feed, errback=self.on_error,
                                     meta={"source": "feeds"}, priority=10)

    def lock_archive(self) -> bool:
        """Take the archive's run lock, held until the process ends; False if another run has it."""
        path = Path(self.crawler.settings.get("ARCHIVE_PATH", "data/dw.db") + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(path, "a")  # stays open: the lock lasts until the spider closes
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.error("Another crawl is running on this archive (lock %s held); not starting"
                         " a second one", path)
            return False
        return True

    def closed(self, reason: str) -> None:
        """Release the archive's run lock."""
        if self._lock is not None:
            self._lock.close()

    # -- discovery -----------------------------------------------------------------------

    def from_given_url(self, url: str) -> Iterator[scrapy.Request | ShortLink]:
        target = dw.parse_url(url)
        if target is None:
            self.count("skipped/not_dw_url")
            logger.warning("Skipping %r: not a DW article URL or short link", url)
            return
        if target.kind == "shortlink":
            yield from self.from_short_link(target.code, target.id)
        elif target.language is None:
            # dw.de and dw-world.de URLs carry the id but no language: ask the short link.
            yield from self.from_short_link(dw.encode_short_code(target.id), target.id)
        else:
            yield from self.schedule(url, "urls", None)

    def from_short_link(self, code: str, content_id: int) -> Iterator[scrapy.Request | ShortLink]:
        self.count("found/short_links")
        if content_id in self.scheduled:
            self.count("skipped/short_link_already_scheduled")
            yield ShortLink(code=code, article_id=content_id)
            return
        if not self.refresh and self.archive.stored(content_id) is not None:
            self.count("skipped/short_link_already_archived")
            yield ShortLink(code=code, article_id=content_id)
            return
        yield scrapy.Request(self.on_origin(f"{dw.SHORTLINK}/p/{code}"), callback=self.parse_short_link,
                             errback=self.on_error, cb_kwargs={"code": code},
                             meta={"dont_redirect": True, "source": "short_links",
                                   "handle_httpstatus_list": [301, 302, 303, 307, 308]})

    def parse_short_link(self, response, code: str):
        location = response.headers.get(b"Location", b"").decode("utf-8", "replace")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            self.count("failed/short_link_no_redirect")
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
        yield ShortLink(code=code, article_id=target.id)
        yield from self.schedule(target_url, "short_links", None)

    def sitemap_request(self, url: str, source: str, depth: int = 0) -> scrapy.Request:
        return scrapy.Request(self.on_origin(url), callback=self.parse_sitemap, errback=self.on_error,
                              cb_kwargs={"source": source, "depth": depth},
                              meta={"source": source}, priority=10)

    def parse_sitemap(self, response, source: str, depth: int):
        root = self.parse_xml(response)
        if root is None:
            return
        real = self.origins.real_url(response.url)
        self.sitemaps_seen.add(real)
        if etree.QName(root).localname == "sitemapindex":
            for loc in root.iterfind("sm:sitemap/sm:loc", _NS):
                child = (loc.text or "").strip()
                if not child or child in self.sitemaps_seen:
                    self.count("skipped/sitemap_seen")
                    continue
                if depth + 1 > self.sitemap_depth or not dw.is_dw_host(child):
                    self.count("skipped/sitemap_refused")
                    logger.warning("Not following sitemap %s listed in %s", child, real)
                    continue
                self.sitemaps_seen.add(child)
                yield self.sitemap_request(child, source, depth + 1)
            return
        for entry in root.iterfind("sm:url", _NS):
            loc = (entry.findtext("sm:loc", namespaces=_NS) or "").strip()
            stamp = (entry.findtext("news:news/news:publication_date", namespaces=_NS)
                     or entry.findtext("sm:lastmod", namespaces=_NS))
            yield from self.schedule(loc, source, stamp)

    def parse_feed(self, response):
        root = self.parse_xml(response)
        if root is None:
            return
        items = root.findall("rss:item", _NS) or root.findall(".//item")
        for item in items:
            link = (item.findtext("rss:link", namespaces=_NS) or item.findtext("link")
                    or item.get(f"{{{_NS['rdf']}}}about") or "").strip()
            stamp = item.findtext("dc:date", namespaces=_NS) or item.findtext("pubDate")
            content_id = (item.findtext("dwsyn:contentID", namespaces=_NS) or "").strip()
            target = dw.parse_url(link)
            if target is not None and content_id.isdigit() and target.id != int(content_id):
                logger.warning("Feed item %s says content id %s; using the URL's", link, content_id)
            yield from self.schedule(link, "feeds", stamp)

    def parse_xml(self, response):
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
            except (OSError, ValueError) as exc:
                self.count("failed/bad_xml")
                logger.warning("Cannot gunzip %s: %s", response.url, exc)
                return None
        try:
            root = etree.fromstring(body, parser=_XML)
        except etree.XMLSyntaxError as exc:
            root, reason = None, str(exc)
        else:
            reason = "empty document"
        if root is None:
            self.count("failed/bad_xml")
            logger.warning("Cannot read XML from %s: %s", response.url, reason)
        return root

    # -- scheduling ----------------------------------------------------------------------

    def schedule(self, url: str, source: str, stamp: str | None,
                 revisit: bool = False) -> Iterator[scrapy.Request]:
        """One request per article id per run; none for what the archive holds up to date.

        An archived article is fetched again when the sitemap or feed says it changed since
        it was last seen, or on a revisit; the request is then conditional, so that an
        unchanged page costs a 304 and no body.
        """
        target = dw.parse_url(url)
        if target is None:
            self.count("skipped/not_dw_url")
            logger.warning("Skipping %r from %s: not a DW content URL", url[:200], source)
            return
        if target.kind != "article":
            self.count(f"skipped/type/{target.kind}")
            return
        self.count(f"found/{source}")
        stamp = to_utc(stamp) if stamp else None
        day = (stamp or "")[:10]
        if stamp and ((self.since and day < self.since) or (self.until and day > self.until)):
            self.count("skipped/out_of_date_range")
            return
        if target.id in self.scheduled:
            self.count("skipped/already_scheduled")
            return
        headers, meta = {}, {"source": source}
        if not self.refresh:
            stored = self.archive.stored(target.id)
            if stored is not None and not revisit and (not stamp or stored.last_seen_at >= stamp):
                self.count("skipped/archived_up_to_date")
                return
            if stored is not None and (stored.etag or stored.last_modified):
                headers = {k: v for k, v in (("If-None-Match", stored.etag),
                                             ("If-Modified-Since", stored.last_modified)) if v}
                meta["handle_httpstatus_list"] = [304]
        self.scheduled.add(target.id)
        self.count("found")
        # dont_filter: articles are deduplicated here, by id; Scrapy's filter would silently
        # end a redirect loop instead of letting it fail, counted, at REDIRECT_MAX_TIMES.
        yield scrapy.Request(self.on_origin(dw.canonical_url(url)), callback=self.parse_article,
                             errback=self.on_error, cb_kwargs={"content_id": target.id},
                             headers=headers, meta=meta, dont_filter=True)

    # -- pages ---------------------------------------------------------------------------

    def parse_article(self, response, content_id: int):
        if response.status == 304:
            self.count("not_modified")
            yield Fetched(article_id=content_id, not_modified=True)
            return
        self.count("fetched")
        url = self.origins.real_url(response.url)
        try:
            article = extract(response.body, url=url, encoding=_header(response, b"Content-Type"))
        except NotAnArticle as exc:
            self.count("failed/not_an_article")
            logger.warning("No article in %s: %s", url, exc.reason)
            return
        if article.kind != "article":
            self.count(f"skipped/type/{article.kind}")
            return
        if article.id != content_id:
            logger.info("%s serves article %s, not %s", url, article.id, content_id)
            if article.id in self.scheduled:
                self.count("skipped/already_scheduled")
                return
            self.scheduled.add(article.id)
        yield article
        yield Fetched(article_id=article.id, etag=_header(response, b"ETag"),
                      last_modified=_header(response, b"Last-Modified"))

    def on_error(self, failure):
        request = failure.request
        reason = failure_reason(failure)
        source = request.meta.get("source", "")
        kind = "article" if request.callback == self.parse_article else source or "request"
        self.count(f"failed/{kind}/{reason}")
        if kind == "article":
            self.count("failed")
        logger.warning("Failed to fetch %s (%s): %s", request.url, kind, reason)


def _header(response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


_IGNORED = (("max redirections", "too_many_redirects"), ("off the configured DW origins", "off_origin"),
            ("robots.txt", "robots_txt"), ("max size", "too_large"), ("maxsize", "too_large"))


def failure_reason(failure) -> str:
    """A short, stable name for why a request failed: `http_503`, `TimeoutError`, ..."""
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    message = str(failure.value).lower()
    for needle, reason in _IGNORED:
        if needle.lower() in message:
            return reason
    return failure.type.__name__ if failure.type else "error"
