"""Backfill: DW's history from the web archives into the archive, without a request to dw.com.

    python -m crawler.backfill SOURCE [--lang en,de|all] [--since YYYY-MM-DD] [--until YYYY-MM-DD]
                               [--month YYYY-MM] [--crawl CC-MAIN-2024-10,...|all]
                               [--archive PATH] [-s NAME=VALUE ...]

SOURCE is `commoncrawl` (the CDX index of the crawls named with `--crawl`, or all), `cc-news`
(the monthly CC-NEWS WARCs, streamed and filtered by host) or `wayback` (the Wayback Machine's
CDX API and raw `id_` captures). Only article URLs (`www.dw.com/{lang}/.../a-{id}`) in the
languages asked (default `en`) and captured in the date range are used; every capture goes
through the crawl's extractor, normaliser and archive, with its capture's date, so that an
older capture becomes an earlier revision (`cause` the source) and never replaces a newer one.
`--month 2024-01` is `--since 2024-01-01 --until 2024-01-31`; `cc-news` needs a range.

Requests go only to the archives' origins (settings `BACKFILL_*`, overridable with `-s`), one at
a time, at each origin's pace, waiting out `Retry-After`; an archive that keeps failing stops the
run (`BACKFILL_BREAKER`). Stopped (Ctrl-C, SIGTERM, a kill), it resumes where it was: the units
of work done (CDX pages and queries, CC-NEWS listings and files, for the languages and range
read, and the position reached in a WARC) are kept in the archive with the articles they
account for; a capture that failed is fetched again by the next run. A second run of the same
settled range requests nothing.

Exit status, as `scrapy crawl`'s: 0 done (the outcome `ok`), 2 argparse's usage errors (an
unknown option, no source, `-s NAME` without `=`), 3 a bad argument or setting (`dw backfill
failed: bad argument: …` / `bad setting: …`; nothing opened or requested) or the run did not do
its job (a listing or WARC file could not be read, the archive
could not be written, most captures failed, an archive kept failing; the reason on the last
line), 130 stopped. Each run adds a `crawl_runs` row; the last line of stdout is its counts as
JSON.
"""

from crawler.backfill.cli import main

__all__ = ["main"]
