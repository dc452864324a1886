"""`make demo`: crawl the bundled sample site through a local mirror into the archive.

Starts the mirror on loopback, runs the real `scrapy crawl dw` against it, stops the mirror
and prints what the archive holds. Running it again leaves the same archive.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path

from crawler import settings as defaults
from crawler.archive import Archive
from devtools.mirror import origin_settings, running_mirror

SAMPLE_LANGUAGES = "en,de,ar,pt-br,es"


def crawl_command(origin: str, archive: Path, *extra: str) -> list[str]:
    """The `scrapy crawl dw` command line for a crawl of a local mirror, throttling off."""
    return [sys.executable, "-m", "scrapy", "crawl", "dw", *origin_settings(origin),
            "-s", f"ARCHIVE_PATH={archive}", "-s", "AUTOTHROTTLE_ENABLED=False",
            "-s", "LOG_LEVEL=INFO", *extra]


def not_the_demos(archive: Path, site: Path) -> str | None:
    """Why the demo must not crawl into `archive`, in one line; None when it may: the archive is
    absent or empty, or holds only the sample site's articles (ids of its `a-ID.html` pages), as
    the demo's own archive does. An operator's archive at the default path (data/dw.db) holds
    others: the demo would add the sample site's made-up articles to it."""
    from crawler.archive import integrity

    if not archive.is_file() or archive.stat().st_size == 0 or integrity.not_an_archive(archive):
        return None  # a new archive; or no archive at all, which the crawl refuses and says why
    ids = {int(page.stem[2:]) for page in site.rglob("a-*.html") if page.stem[2:].isdigit()}
    mode = "mode=ro" if Path(f"{archive}-wal").exists() else "immutable=1"
    try:
        conn = sqlite3.connect(f"{archive.resolve().as_uri()}?{mode}", uri=True)
        try:
            others = [row[0] for row in conn.execute("SELECT id FROM articles") if row[0] not in ids]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{archive} cannot be read ({exc}); the demo writes only into an archive of its own"
    if not others:
        return None
    return (f"{archive} holds {len(others)} article{'s' if len(others) != 1 else ''} not from the"
            f" sample site (e.g. {others[0]}): the demo never writes into an archive it did not make;"
            " give it its own: make demo ARCHIVE=data/demo.db")


def summary(path: Path) -> str:
    """Articles per language and agency, and short links, as a few lines of text."""
    archive = Archive(path)
    db = archive.db
    lines = [f"{archive.count('articles')} articles, {archive.count('short_links')} short links,"
             f" {archive.count('revisions')} revisions in {path}"]
    per_language = db.execute(
        "SELECT language, count(*) FROM articles GROUP BY language ORDER BY 2 DESC")
    lines.append("by language: " + ", ".join(f"{lang} {n}" for lang, n in per_language))
    per_agency = db.execute("SELECT agency, count(*) FROM article_agencies WHERE role = 'text'"
                            " GROUP BY agency ORDER BY 2 DESC, 1")
    lines.append("by agency:   " + ", ".join(f"{name} {n}" for name, n in per_agency))
    archive.close()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the demo crawl; exit with the crawl's status."""
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=Path("data/sample-site"))
    parser.add_argument("--archive", type=Path, default=Path(defaults.ARCHIVE_PATH))
    parser.add_argument("--access-log", type=Path, default=Path("data/mirror-access.log"))
    parser.add_argument("--refresh", action="store_true",
                        help="fetch every article again (-a refresh=all): edits become revisions")
    args = parser.parse_args(argv)
    refresh = ["-a", "refresh=all"] if args.refresh else []
    refused = not_the_demos(args.archive, args.site)
    if refused:
        print(f"demo: {refused}", file=sys.stderr)
        return 2
    with running_mirror(args.site, args.access_log) as origin:
        print(f"Mirror of {args.site} on {origin}; crawling it into {args.archive} ...", flush=True)
        crawl = subprocess.run(crawl_command(origin, args.archive, "-a", f"lang={SAMPLE_LANGUAGES}",
                                             *refresh, "-s", "LOG_LEVEL=WARNING"))
    if crawl.returncode != 0:
        print(f"The crawl failed (exit status {crawl.returncode}).", file=sys.stderr)
        return crawl.returncode
    print(summary(args.archive))
    print("\nBrowse it:  make serve   (datasette with data/metadata.yml, on http://127.0.0.1:8001)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
