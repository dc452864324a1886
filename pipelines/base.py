"""What the article pipelines share: the crawl's stats and an adapter over the item."""

from __future__ import annotations

from itemadapter import ItemAdapter


class ArticlePipeline:
    """A step applied to every article item (the crawl's only items)."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        self.process_article(ItemAdapter(item))
        return item

    def process_article(self, adapter: ItemAdapter) -> None:
        """Change the article in place, or raise DropItem."""
        raise NotImplementedError
