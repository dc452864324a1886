"""What the article pipelines share: the crawl's stats, and passing other items through."""

from __future__ import annotations

from itemadapter import ItemAdapter

from crawler.items import Fetched, ShortLink


class ArticlePipeline:
    """A step applied to articles only; short links and fetch records pass through untouched."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        if isinstance(item, (ShortLink, Fetched)):
            return item
        self.process_article(ItemAdapter(item))
        return item

    def process_article(self, adapter: ItemAdapter) -> None:
        """Change the article in place, or raise DropItem."""
        raise NotImplementedError
