"""Run in the bench-only peer environment: time fundus and trafilatura on saved DW pages.

    python benchmarks/peers.py REPEATS PAGE.html [...]   -> JSON on stdout

For each tool: the median seconds per pass over all pages, and per page the fields it
extracted, mapped to dw-archive's names so that the caller can score them.
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def run_fundus(pages):
    from fundus.publishers.de.dw import DWParser

    parser = DWParser()(datetime.date.today())

    def one(html):
        article = parser.parse(html, error_handling="suppress")
        body = article.get("body")
        date = article.get("publishing_date")
        images = article.get("images") or []
        return {
            "title": article.get("title"),
            "teaser": str(body.summary).strip() if body is not None and body.summary else None,
            "authors": list(article.get("authors") or []),
            "published_at": date.isoformat() if date else None,
            "topics": list(article.get("topics") or []),
            "body": "\n\n".join(str(p) for s in body.sections for p in s.paragraphs) if body else "",
            "subheads": [str(s.headline) for s in body.sections if s.headline] if body else [],
            "lead_caption": getattr(images[0], "caption", None) if images else None,
        }

    return one


def run_trafilatura(pages):
    import trafilatura

    def one(html):
        doc = trafilatura.bare_extraction(html, with_metadata=True)
        doc = doc if isinstance(doc, dict) else (doc.as_dict() if doc is not None else {})
        authors = doc.get("author")
        return {
            "title": doc.get("title"),
            "teaser": doc.get("description"),
            "authors": [a.strip() for a in authors.split(";")] if authors else [],
            "published_at": doc.get("date"),
            "topics": [t for t in (doc.get("categories") or []) + (doc.get("tags") or []) if t],
            "body": doc.get("text") or "",
            "subheads": [],
            "lead_caption": None,
        }

    return one


def main() -> int:
    repeats, paths = int(sys.argv[1]), sys.argv[2:]
    pages = [open(p, encoding="utf-8", errors="replace").read() for p in paths]
    result = {}
    for name, factory in (("fundus", run_fundus), ("trafilatura", run_trafilatura)):
        try:
            one = factory(pages)
            fields = [one(html) for html in pages]
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                for html in pages:
                    one(html)
                times.append(time.perf_counter() - start)
            result[name] = {"seconds": statistics.median(times), "fields": fields}
        except Exception as exc:  # a peer that cannot run is reported, not fatal
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    json.dump(result, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
