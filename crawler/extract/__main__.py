"""`python -m crawler.extract PAGE.html [...] [--url URL] [--encoding CHARSET]` (or `dw-extract`):
print each page's article as one JSON object a line, normalised as the crawl stores it; what
reading a page noticed goes to stderr. Exit 1 if any page is not an article (a file larger than
a crawl would fetch, 16 MiB, is not read)."""

from __future__ import annotations

import argparse
import json
import sys

from crawler.extract import NotAnArticle, extract
from crawler.settings import DOWNLOAD_MAXSIZE as MAX_PAGE  # no page a crawl fetches is larger


def main(argv: list[str] | None = None) -> int:
    """Print one JSON object per page; exit 1 if any page is not an article."""
    parser = argparse.ArgumentParser(prog="python -m crawler.extract", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="saved DW pages")
    parser.add_argument("--url", help="the page's URL, for a page saved without its canonical link")
    parser.add_argument("--encoding", help="the charset the page was served with (HTTP Content-Type)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.paths:
        try:
            with open(path, "rb") as handle:
                page = handle.read(MAX_PAGE + 1)  # /dev/zero, a huge file: refused, not read whole
            if len(page) > MAX_PAGE:
                raise NotAnArticle(f"larger than {MAX_PAGE} bytes (DOWNLOAD_MAXSIZE): not read")
            article = extract(page, url=args.url, encoding=args.encoding)
        except NotAnArticle as exc:
            result = exc.to_dict()
        except OSError as exc:
            result = {"id": None, "url": None, "error": f"cannot read {path}: {exc.strerror}"}
        else:
            result = article.to_dict()
            for kind, detail in article.warnings:
                print(f"{path}: {kind}: {detail}", file=sys.stderr)
        if "error" in result:
            failed += 1
            result["path"] = path
        print(json.dumps(result, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
