"""The framework's floor: a Scrapy spider that downloads the given URLs and does nothing."""

import scrapy


class BareSpider(scrapy.Spider):
    """Fetch every URL in the file `-a urls=FILE`; parse nothing, store nothing."""

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
        return None
