"""`scrapy archive-writer`: write a distributed crawl's items from Redis into the SQLite archive.

The command's name is this module's name, hence the hyphen; the work is in crawler/distributed/writer.py.
"""

from __future__ import annotations

import argparse

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.utils.log import configure_logging

from crawler.setting_checks import Number, read_number

# At least 0 (0: stop as soon as nothing is left), at most the longest wait Python's timers take.
UNTIL_IDLE = Number(0, "the seconds without an item after which the writer stops",
                    noun="a number of seconds", default="none: run until stopped")


class Command(ScrapyCommand):
    """Run the one archive writer of a distributed crawl (see README, "Distributed crawls")."""

    requires_project = True

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Write the items of a distributed crawl (REDIS_URL) into the archive (ARCHIVE_PATH)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        # Read as text, then by the settings' strict reading (float() takes `nan`, `1e400`, `-5`).
        parser.add_argument("--until-idle", metavar="SECONDS", default=None,
                            help="stop once no item came for SECONDS and no worker runs")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        from crawler.commands.crawl import check_settings, fail, unknown_option

        # Scrapy's parser (parse_known_args) hands on what it does not know: an unknown option or
        # a stray argument is a usage error (exit 2), as `scrapy crawl`'s are, not ignored.
        if args:
            raise UsageError(unknown_option(args[0], "archive-writer") if args[0].startswith("-")
                             else f"unexpected argument {args[0]!r}: archive-writer takes options only")
        # As `scrapy crawl` does: exit 3 and one line, `dw archive-writer failed: bad setting: …`.
        check_settings(self.settings, opts, command="archive-writer")
        if opts.until_idle is not None:
            refused = UNTIL_IDLE.problem("--until-idle", opts.until_idle, True)
            if refused:  # a bad argument's value, as a crawl's `-a`: exit 3
                fail(f"bad argument: {refused}", "archive-writer")
            opts.until_idle = read_number(opts.until_idle)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        from crawler.distributed.writer import main

        configure_logging(self.settings)
        self.exitcode = main(self.settings, until_idle=opts.until_idle)
