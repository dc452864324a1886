"""At the end of a crawl, say in one log line what it found, fetched, skipped, stored and lost."""

from __future__ import annotations

import logging

from scrapy import signals

logger = logging.getLogger(__name__)


def summarize(stats: dict) -> dict[str, int]:
    """The crawl's headline counts from its `dw/*` stats."""
    def total(prefix: str) -> int:
        return sum(v for k, v in stats.items() if k.startswith(prefix) and isinstance(v, int))

    return {
        "found": stats.get("dw/found", 0),
        "fetched": stats.get("dw/fetched", 0),
        "skipped": total("dw/skipped/"),
        "new": stats.get("dw/articles/new", 0),
        "updated": stats.get("dw/articles/updated", 0),
        "unchanged": stats.get("dw/articles/unchanged", 0),
        "failed": stats.get("dw/failed", 0) + stats.get("dw/failed/not_an_article", 0),
    }


class CrawlSummary:
    """Log the crawl's headline counts and the reasons for every skip and failure."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        extension = cls(crawler.stats)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_closed(self, spider, reason):
        stats = self.stats.get_stats()
        counts = summarize(stats)
        for key, value in counts.items():
            self.stats.set_value(f"dw/summary/{key}", value)
        reasons = {k[3:]: v for k, v in sorted(stats.items())
                   if k.startswith(("dw/skipped/", "dw/failed/", "dw/blocked/"))}
        logger.info("Crawl %s: %s; reasons: %s", reason,
                    ", ".join(f"{k} {v}" for k, v in counts.items()), reasons or "none")
