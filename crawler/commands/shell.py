"""`scrapy shell`, saying in one line why there is no `response`, and never a traceback for `-c`.

The crawl's downloader middleware refuses every host that is not a configured DW origin, in
the shell too: `scrapy shell http://127.0.0.1:8765/en/x/a-1` gets no response unless the
origins point there. Read a page of a local mirror through its dw.com URL instead:

    scrapy shell -s DW_ORIGIN=http://127.0.0.1:8765 https://www.dw.com/en/x/a-16825046

Exit status with `-c CODE`: 0 when there was a response and the code ran, 1 otherwise, with
one line on stderr.
"""

from __future__ import annotations

import sys

from scrapy.commands import shell


class Command(shell.Command):
    """Scrapy's shell command; a missing response and a failing `-c` are one line each."""

    no_response = False

    def process_options(self, args, opts) -> None:
        super().process_options(args, opts)
        # The shell reads pages; it never opens, creates or writes the archive.
        self.settings.set("ITEM_PIPELINES", {}, priority="cmdline")
        self.settings.set("EXTENSIONS", {"crawler.archive.ArchiveExtension": None,
                                         "crawler.extensions.CrawlSummary": None},
                          priority="cmdline")

    def update_vars(self, vars: dict) -> None:
        request = vars.get("request")
        if vars.get("response") is None and request is not None:
            self.no_response = True
            origin = self.settings.get("DW_ORIGIN")
            print(f"scrapy shell: no response from {request.url}: a host other than the configured"
                  f" DW origins ({origin}) is refused, or the request failed (see the log); for a"
                  " local mirror: scrapy shell -s DW_ORIGIN=http://127.0.0.1:8765"
                  " https://www.dw.com/...", file=sys.stderr)

    def run(self, args, opts) -> None:
        if not opts.code:
            super().run(args, opts)
            return
        try:
            super().run(args, opts)
        except Exception as exc:  # the user's code: its error in one line, as the shell would show it
            print(f"scrapy shell -c: {type(exc).__name__}: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        if self.no_response:
            self.exitcode = 1
