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


class StallingPipeline:
    """Holds the process for good (a blocking sleep: the reactor stops, heartbeat and all) on the
    first article of `STALL_IDS` it meets in the whole test, after the page was fetched and
    before the archive's pipeline takes the item: a worker to kill between fetching an article
    and handing it to Redis. `STALL_MARKER` is the file that says it stalled (its pid inside),
    made exclusively, so that the worker that fetches the page again goes on."""

    def __init__(self, ids: set[int], marker: str):
        self.ids = ids
        self.marker = marker

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        return cls({int(i) for i in settings.getlist("STALL_IDS")}, settings.get("STALL_MARKER"))

    def process_item(self, item):
        if ItemAdapter(item).get("id") in self.ids:
            import os
            import time

            try:
                fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return item
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            time.sleep(600)
        return item
