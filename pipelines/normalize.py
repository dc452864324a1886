"""The normalise pipeline: counts, per field, what the one normaliser
(`crawler.extract.normalize`) changed, and drops, with a counted reason, an article without an
id, URL or title."""

from __future__ import annotations

import logging

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.extract.normalize import NORMALIZED_FIELDS, missing_required, normalize
from crawler.items import Article
from pipelines.base import ArticlePipeline

logger = logging.getLogger(__name__)


class NormalizePipeline(ArticlePipeline):
    """Clean every article; drop, with a counted reason, those missing an id, URL or title.

    Stats: `dw/normalize/<field>` (articles whose field a rule changed, in the extractor or
    here), `dw/extract/<kind>` (what reading a page noticed: `ld_mismatch`, `ld_unreadable`,
    `state_unreadable`, `replacement_characters`), `agencies/unknown`.
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
        earlier = item.normalized if isinstance(item, Article) else {}
        if earlier and not item.changed_since_normalized:  # by the extractor: not again
            changed, unknown = dict.fromkeys(NORMALIZED_FIELDS, 0), item.unknown_agencies
        else:
            changed, unknown = normalize(adapter)
        for name in NORMALIZED_FIELDS:
            count = changed[name] + earlier.get(name, 0)
            if count:
                self.stats.inc_value(f"dw/normalize/{name}", count)
        for kind, detail in item.warnings if isinstance(item, Article) else ():
            self.stats.inc_value(f"dw/extract/{kind}")
            logger.warning("%s: %s (%s)", adapter["url"], detail, kind)
        for token in unknown:
            self.stats.inc_value("agencies/unknown")
            logger.info("Unknown agency %r in the credit line of %s", token, adapter["url"])
