"""The normalise pipeline: counts what the extractor's one normaliser (`crawler.extract.normalize`)
changed and what reading the page noticed, and drops, with a counted reason, an article without
an id, URL or title. It changes no field: `extract()` hands over articles normalised."""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.extract.normalize import NORMALIZED_FIELDS
from crawler.items import Article, missing_required
from pipelines.base import ArticlePipeline

logger = logging.getLogger(__name__)


class NormalizePipeline(ArticlePipeline):
    """Count every article's extraction report; drop, counted, those missing an id, URL or title.

    Stats: `dw/normalize/<field>` (articles whose field a rule of the normaliser changed),
    `dw/extract/<kind>` (what reading a page noticed: `ld_mismatch`, `ld_unreadable`,
    `state_unreadable`, `replacement_characters`, ...), `agencies/unknown`,
    `dw/dropped/missing_<field>`.
    """

    def open_spider(self) -> None:
        for name in NORMALIZED_FIELDS:
            self.stats.set_value(f"dw/normalize/{name}", 0)

    def process_article(self, adapter: ItemAdapter) -> None:
        missing = missing_required(adapter)
        if missing:
            for name in missing:
                self.stats.inc_value(f"dw/dropped/missing_{name}")
            raise DropItem(f"article without {', '.join(missing)}: {adapter.get('url')}")
        item = adapter.item
        if not isinstance(item, Article):
            return  # no extraction report to count
        for name, count in item.normalized.items():
            if count:
                self.stats.inc_value(f"dw/normalize/{name}", count)
        for kind, detail in item.warnings:
            self.stats.inc_value(f"dw/extract/{kind}")
            logger.warning("%s: %s (%s)", adapter["url"], detail, kind)
        for token in item.unknown_agencies:
            self.stats.inc_value("agencies/unknown")
            logger.info("Unknown agency %r in the credit line of %s", token, adapter["url"])
