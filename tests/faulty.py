"""Faults put into a real crawl through Scrapy's own settings, for the tests of what an exception
while handling an article costs: a spider middleware and an item pipeline that raise for the
article ids in the setting `FAULTY_IDS` (`-s FAULTY_IDS=80000003,80000004`), as a bug met by one
odd page would. Not part of the crawler: only tests name them (`-s SPIDER_MIDDLEWARES=...`)."""

from __future__ import annotations

from itemadapter import ItemAdapter


def _ids(crawler) -> set[int]:
    return {int(i) for i in crawler.settings.getlist("FAULTY_IDS")}


class RaisingSpiderMiddleware:
    """Raises KeyError in the callback's output for an article of `FAULTY_IDS`."""

    def __init__(self, ids: set[int]):
        self.ids = ids

    @classmethod
    def from_crawler(cls, crawler):
        return cls(_ids(crawler))

    async def process_spider_output(self, response, result):
        async for item in result:
            if ItemAdapter.is_item(item) and ItemAdapter(item).get("id") in self.ids:
                raise KeyError(f"injected fault for article {ItemAdapter(item)['id']}")
            yield item


class RaisingPipeline:
    """Raises ZeroDivisionError for an article of `FAULTY_PIPELINE_IDS`."""

    def __init__(self, ids: set[int]):
        self.ids = ids

    @classmethod
    def from_crawler(cls, crawler):
        return cls({int(i) for i in crawler.settings.getlist("FAULTY_PIPELINE_IDS")})

    def process_item(self, item):
        if ItemAdapter(item).get("id") in self.ids:
            return 1 / 0
        return item
