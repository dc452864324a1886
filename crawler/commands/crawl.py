"""`scrapy crawl`, exiting non-zero when the run failed, so that cron and timers notice."""

from __future__ import annotations

import sys

from scrapy.commands import crawl


class Command(crawl.Command):
    """Scrapy's crawl command; exit status 3 when the run's outcome is a failure."""

    def _create_crawler(self, spname):
        self.last_crawler = super()._create_crawler(spname)
        return self.last_crawler

    def run(self, args, opts):
        super().run(args, opts)
        crawler = getattr(self, "last_crawler", None)
        outcome = getattr(crawler, "dw_outcome", None)
        if self.exitcode == 0 and outcome and outcome != "ok":
            print(f"dw crawl failed: {outcome}", file=sys.stderr)
            self.exitcode = 3
