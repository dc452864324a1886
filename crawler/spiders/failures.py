"""Every exception met while handling a response or an article is a counted failure, with its
reason, logged in one line; never a silent drop, never a traceback (that is at DEBUG).

`CountedFailures` is a spider middleware, the outermost (`SPIDER_MIDDLEWARES` order 10):

- an exception raised by a callback (extraction included: a bug met by one odd page) or by a
  spider middleware closer to the spider reaches `process_spider_exception`, which counts it
  and ends that response's output;
- one raised by an item pipeline (ours or another's) is counted at Scrapy's `item_error`;
- anything else Scrapy reports as a spider error (an errback that raised) at `spider_error`.

For an article the stats are `dw/failed/extraction/<Error>` (callback) or
`dw/failed/pipeline/<Error>`, and `dw/failed`: the run's failed articles, which its outcome
judges (a run that loses more than half of what it found fails). For a sitemap, feed or short
link: `dw/failed/<source>/<Error>` (a listing that could not be read). Scrapy's own control-flow
exceptions (`CloseSpider`, `DontCloseSpider`, `IgnoreRequest`) pass untouched.
"""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import CloseSpider, DontCloseSpider, IgnoreRequest
from scrapy.logformatter import ITEMERRORMSG, SPIDERERRORMSG

logger = logging.getLogger(__name__)

_PASSED = (CloseSpider, DontCloseSpider, IgnoreRequest)


def count_exception(stats, stage: str, exc: BaseException, what: str, *, article: bool = True) -> str:
    """Count `exc`, met at `stage` (`extraction`, `pipeline`, or a listing's source) while
    handling `what` (a URL): `dw/failed/<stage>/<Error>`, and `dw/failed` when it cost an
    article. Logs one line, the traceback at DEBUG only. Returns the stat's name."""
    key = f"dw/failed/{stage}/{type(exc).__name__}"
    stats.inc_value(key)
    if article:
        stats.inc_value("dw/failed")
    logger.error("%s while handling %s (%s): %s: %s", "Article lost" if article else "Failed",
                 what, stage, type(exc).__name__, str(exc)[:300] or "(no message)")
    logger.debug("Traceback of the %s failure", stage, exc_info=(type(exc), exc, exc.__traceback__))
    return key


def _where(request, fallback: str) -> tuple[bool, str, str]:
    """(is it an article, the stage to count under, the URL to name) for a request."""
    if request is None:
        return False, "request", fallback
    article = "content_id" in request.cb_kwargs
    stage = "extraction" if article else (request.meta.get("source") or "request")
    return article, stage, request.meta.get("dw_url") or request.url or fallback


class _Counted(logging.Filter):
    """Scrapy's own report of an exception it met (`Error processing`, `Spider error
    processing`) without its traceback and the whole item: `CountedFailures` logs what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == ITEMERRORMSG and isinstance(record.args, dict):
            item = record.args.get("item")
            url = ItemAdapter(item).get("url") if ItemAdapter.is_item(item) else None
            record.args = {"item": url or type(item).__name__}
        elif record.msg != SPIDERERRORMSG:
            return True
        record.exc_info, record.exc_text = None, None
        return True


class CountedFailures:
    """Spider middleware: every exception while handling a response or item is counted (module doc)."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        middleware = cls(crawler)
        crawler.signals.connect(middleware.item_error, signal=signals.item_error)
        crawler.signals.connect(middleware.spider_error, signal=signals.spider_error)
        scraper = logging.getLogger("scrapy.core.scraper")
        if not any(isinstance(f, _Counted) for f in scraper.filters):
            scraper.addFilter(_Counted())
        return middleware

    def process_spider_exception(self, response, exception):
        if isinstance(exception, _PASSED):
            return None
        article, stage, url = _where(response.request, response.url)
        count_exception(self.crawler.stats, stage, exception, url, article=article)
        return []

    def item_error(self, item, response, spider, failure) -> None:
        """An item pipeline raised: the article is lost, counted."""
        url = ItemAdapter(item).get("url") if ItemAdapter.is_item(item) else None
        count_exception(self.crawler.stats, "pipeline", failure.value, url or type(item).__name__)

    def spider_error(self, failure, response, spider) -> None:
        """What Scrapy still reports as a spider error (an errback that raised), counted."""
        if failure.check(*_PASSED):
            return
        request = getattr(response, "request", None)
        article, stage, url = _where(request, getattr(response, "url", "?"))
        count_exception(self.crawler.stats, stage, failure.value, url, article=article)
