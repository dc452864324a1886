"""The framework's floor: a bare Scrapy spider that downloads the given URLs, one item per page.

Run by `benchmarks/crawl.py` with `scrapy runspider` in a directory outside the project, so
that no project settings, middlewares or pipelines apply; it imports nothing of dw-archive.
"""

import scrapy


class BareSpider(scrapy.Spider):
    """Fetch every URL in the file `-a urls=FILE`; yield one small item per page, store nothing."""

    name = "bare"

    def __init__(self, urls: str, **kwargs):
        super().__init__(**kwargs)
        self.url_file = urls

    async def start(self):
        with open(self.url_file, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield scrapy.Request(line.strip(), callback=self.parse, dont_filter=True)

    def parse(self, response):
        yield {"url": response.url, "status": response.status, "bytes": len(response.body)}
