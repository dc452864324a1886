"""The framework's floor: a bare Scrapy spider that downloads the given URLs, one item per page.

Run by `benchmarks/crawl.py` with `scrapy runspider` in a directory outside the project, so
that no project settings, middlewares or pipelines apply; it imports nothing of dw-archive.
"""

import scrapy
from scrapy.settings import default_settings

# What the crawl leaves out of Scrapy's own lists (off in both, so never imported: a quarter of
# a second of each start), left out here too, so that the floor starts as fast as the crawl.
NEVER_LOADED = {"scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl",
                "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"}


class BareSpider(scrapy.Spider):
    """Fetch every URL in the file `-a urls=FILE`; yield one small item per page, store nothing."""

    name = "bare"
    custom_settings = {
        "EXTENSIONS_BASE": {k: v for k, v in default_settings.EXTENSIONS_BASE.items()
                            if k not in NEVER_LOADED},
        "DOWNLOADER_MIDDLEWARES_BASE": {k: v for k, v in default_settings.DOWNLOADER_MIDDLEWARES_BASE.items()
                                        if k not in NEVER_LOADED},
    }

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
