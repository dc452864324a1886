"""`scrapy archive-writer`: write a distributed crawl's items from Redis into the SQLite archive.

The command's name is this module's name, hence the hyphen; the work is in crawler/distributed/writer.py.
"""

from __future__ import annotations

import argparse

from scrapy.commands import ScrapyCommand
from scrapy.utils.log import configure_logging


class Command(ScrapyCommand):
    """Run the one archive writer of a distributed crawl (see README, "Distributed crawls")."""

    requires_project = True

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Write the items of a distributed crawl (REDIS_URL) into the archive (ARCHIVE_PATH)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--until-idle", type=float, metavar="SECONDS", default=None,
                            help="stop once no item came for SECONDS and no worker runs")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        from crawler.commands.crawl import check_settings

        # As `scrapy crawl` does: exit 3 and one line, `dw archive-writer failed: bad setting: …`.
        check_settings(self.settings, opts, command="archive-writer")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from crawler.distributed.writer import main

        configure_logging(self.settings)
        self.exitcode = main(self.settings, until_idle=opts.until_idle)
