"""The crawl's stats collector: Scrapy's `MemoryStatsCollector`, without its per-access cost.

Scrapy 2.19's `StatsCollector.__getattribute__` (which wraps the stats methods to warn of a
deprecated `spider` argument) runs for every attribute read on the collector, its own
`self._stats` included, and each such read first fails to find a cached name (an
AttributeError raised and caught). The crawl makes some thirty stats calls per article
(spidermon's field coverage alone one per field): about 2% of the crawl's CPU went there. Here
attributes are read as on any object, and the same methods are wrapped once, with the same
warning, when the collector is made. What is counted, and how, is Scrapy's.
"""

from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector

try:  # Scrapy's warning for a `spider` argument to the stats methods (2.13+)
    from scrapy.utils.decorators import _warn_spider_arg
except ImportError:  # pragma: no cover - a Scrapy without it: no warning to keep
    def _warn_spider_arg(method):
        return method

# The methods Scrapy's StatsCollector.__getattribute__ wraps.
_WRAPPED = ("get_value", "get_stats", "set_value", "set_stats", "inc_value", "max_value",
            "min_value", "clear_stats", "open_spider", "close_spider")


class StatsCollector(MemoryStatsCollector):
    """`MemoryStatsCollector` (`STATS_CLASS`) whose attributes are plain attributes (module doc)."""

    __getattribute__ = object.__getattribute__

    def __init__(self, crawler):
        super().__init__(crawler)
        for name in _WRAPPED:
            method = getattr(self, name, None)
            if callable(method):
                setattr(self, name, _warn_spider_arg(method))
