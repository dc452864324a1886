"""Drop an article already passed on in this run with the same content; hash the rest."""

from __future__ import annotations

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.archive import content_hash
from pipelines.base import ArticlePipeline


class DeduplicatePipeline(ArticlePipeline):
    """Deduplicate by content id within the run.

    Against the archive, the decision (new, updated with a revision, or unchanged) is taken
    by the archive when it writes, inside the batch's transaction, so that two runs at once
    can never both insert the same article or lose a revision.
    """

    def __init__(self, stats):
        super().__init__(stats)
        self.seen: dict[int, str] = {}

    def process_article(self, adapter: ItemAdapter) -> None:
        digest = content_hash(adapter.asdict())
        if self.seen.get(adapter["id"]) == digest:
            self.stats.inc_value("dw/dropped/duplicate_in_run")
            raise DropItem(f"article {adapter['id']} already archived in this run", log_level="DEBUG")
        self.seen[adapter["id"]] = digest
