"""`scrapy crawl`, exiting non-zero when the run failed, so that cron and timers notice."""

from __future__ import annotations

import sys

from scrapy.commands import crawl
from scrapy.exceptions import UsageError


class Command(crawl.Command):
    """Scrapy's crawl command; exit status 3 when the run's outcome (stat `dw/outcome`) is not ok."""

    def run(self, args, opts):
        if len(args) != 1:
            raise UsageError("give exactly one spider: scrapy crawl dw")
        assert self.crawler_process
        crawler = self.crawler_process.create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        outcome = crawler.stats.get_value("dw/outcome")
        if self.exitcode == 0 and outcome and outcome != "ok":
            print(f"dw crawl failed: {outcome}", file=sys.stderr)
            self.exitcode = 3
