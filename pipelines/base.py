"""What the article pipelines share: the crawl's stats and an adapter over the item."""

from __future__ import annotations

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.spiders.failures import count_exception


def dropped_on_error(stats, exc: Exception, item) -> DropItem:
    """An unexpected exception in a pipeline, counted as a lost article
    (`dw/failed/pipeline/<Error>`, `dw/failed`), as the DropItem to raise instead."""
    url = ItemAdapter(item).get("url") if ItemAdapter.is_item(item) else None
    count_exception(stats, "pipeline", exc, url or repr(item)[:200])
    return DropItem(f"{type(exc).__name__} in a pipeline: {str(exc)[:200]}")


class ArticlePipeline:
    """A step applied to every article item (the crawl's only items). An exception it raises
    other than DropItem is a counted failure (`dw/failed/pipeline/<Error>`), the item dropped."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item):
        try:
            self.process_article(ItemAdapter(item))
        except DropItem:
            raise
        except Exception as exc:  # noqa: BLE001 - one odd article must not go uncounted
            raise dropped_on_error(self.stats, exc, item) from None
        return item

    def process_article(self, adapter: ItemAdapter) -> None:
        """Change the article in place, or raise DropItem."""
        raise NotImplementedError
