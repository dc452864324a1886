"""Every exception met while handling a response is a counted failure, never a silent drop.

`CountedFailures` is a spider middleware, the outermost (`SPIDER_MIDDLEWARES` order 10): an
exception raised by a callback (extraction included: a page whose JSON nests past Python's
recursion, a bug met by one odd page) or by a spider middleware closer to the spider reaches it
and is counted, logged in one line (the traceback at DEBUG), and the response's output ends
there. For an article page the stats are `dw/failed/extraction/<Error>` and `dw/failed` (the
run's failed articles, which its outcome judges); for a sitemap, feed or short link,
`dw/failed/<source>/<Error>` (a listing that could not be read). Scrapy's own control-flow
exceptions (`CloseSpider`, `DontCloseSpider`, `IgnoreRequest`) pass untouched.

`count_exception` is the same accounting for the item pipelines (`dw/failed/pipeline/<Error>`).
"""

from __future__ import annotations

import logging

from scrapy.exceptions import CloseSpider, DontCloseSpider, IgnoreRequest

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


class CountedFailures:
    """Spider middleware: an exception from a callback is a counted failure (module doc)."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_spider_exception(self, response, exception):
        if isinstance(exception, _PASSED):
            return None
        request = response.request
        article = request is not None and "content_id" in request.cb_kwargs
        if article:
            stage = "extraction"
        else:
            stage = (request.meta.get("source") if request is not None else None) or "request"
        url = request.meta.get("dw_url") if request is not None else None
        count_exception(self.crawler.stats, stage, exception, url or response.url, article=article)
        return []
