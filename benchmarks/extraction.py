"""Section 1 of `make bench`: extraction against lxml's parse, fundus and trafilatura."""

from __future__ import annotations

import json
import subprocess
from functools import partial
from pathlib import Path

import lxml.html

from benchmarks.common import ROOT, each, median_times
from crawler.dates import to_utc
from crawler.dw.urls import canonical_url, parse_url
from crawler.extract import extract
from crawler.text import forget_cleaned
from devtools.sitegen import path_of

PEERS_PYTHON = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
REAL_PAGES = ROOT.parent / "shared" / "dw" / "pages"
SAMPLE = ROOT / "data" / "sample-site"
SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
FIELDS = ("title", "teaser", "authors", "published_at", "topics", "body", "subheads", "lead_caption")


# -- 1. extraction ----------------------------------------------------------------------------


def known_answers() -> list[tuple[Path, dict]]:
    """Pages with known fields: the real pages (when present) and the sample articles."""
    cases = []
    expected = REAL_PAGES / "expected.json"
    if expected.exists():
        for name, fields in json.loads(expected.read_text()).items():
            if not name.startswith("_"):
                lead = fields.get("lead_image", {})
                cases.append(
                    (
                        REAL_PAGES / name,
                        {
                            "title": fields["title"],
                            "teaser": fields.get("teaser"),
                            "authors": fields.get("authors"),
                            "published_at": fields.get("published_at"),
                            "topics": fields.get("topics"),
                            "body": fields.get("body_starts_with"),
                            "subheads": fields.get("subheads"),
                            "lead_caption": lead.get("caption"),
                        },
                    )
                )
    for article in SPEC["articles"]:
        images = article.get("images") or []
        cases.append(
            (
                SAMPLE / f"{path_of(article)}.html",
                {
                    "title": article["title"],
                    "teaser": article["teaser"],
                    "authors": article["authors"],
                    # a page without structured data states the day alone
                    "published_at": article["published_at"][:10]
                    if article.get("no_structured_data")
                    else article["published_at"],
                    "topics": article["topics"],
                    "body": article["blocks"][0].removeprefix("## ")[:80],
                    "subheads": [b[3:] for b in article["blocks"] if b.startswith("## ")],
                    "lead_caption": images[0]["caption"] if images else None,
                },
            )
        )
    return cases


def _norm(value):
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def score(got: dict, want: dict) -> tuple[int, int]:
    """(right, total) over the fields with a known answer."""
    right = total = 0
    for field in FIELDS:
        expected = want.get(field)
        if expected is None:
            continue
        total += 1
        value = got.get(field)
        if field == "body":
            right += bool(value) and _norm(value).startswith(_norm(expected))
        elif field == "published_at":
            day = len(expected) == 10
            right += bool(value) and (str(value)[:10] == expected[:10] if day else dw_utc(value) == expected)
        else:
            right += _norm(value) == _norm(expected)
    return right, total


def dw_utc(value) -> str | None:
    return to_utc(str(value)) if value else None


def ours(html: bytes) -> dict:
    article = extract(html)
    return {
        "title": article.title,
        "teaser": article.teaser,
        "authors": article.authors,
        "published_at": article.published_at,
        "topics": article.topics,
        "body": article.body,
        "subheads": article.subheads,
        "lead_caption": article.images[0]["caption"] if article.images else None,
    }


def forget_caches() -> None:
    """The extractor's memories of URLs and texts emptied: each repeat meets its pages afresh, as
    a crawl meets new pages (warm, a repeat would time look-ups of the same pages' strings)."""
    parse_url.cache_clear()
    canonical_url.cache_clear()
    forget_cleaned()


def bench_extraction(repeats: int) -> dict:
    cases = known_answers()
    groups = {
        "real pages": [c for c in cases if c[0].parent == REAL_PAGES],
        "sample pages": [c for c in cases if c[0].parent != REAL_PAGES],
    }
    results = {}
    peers = _peer_results([str(p) for p, _ in cases], repeats)
    for group, members in groups.items():
        if not members:
            continue
        pages = [p.read_bytes() for p, _ in members]
        n = len(pages)
        # interleaved, each repeat of both after the caches are emptied (lxml has none to empty)
        timed = median_times({"lxml parse ms": partial(each, lxml.html.document_fromstring, pages),
                              "dw-archive ms": partial(each, extract, pages)}, repeats, forget_caches)
        row = {"pages": n, **{name: 1000 * seconds / n for name, seconds in timed.items()}}
        right = total = 0
        for (_, want), html in zip(members, pages, strict=True):
            r, t = score(ours(html), want)
            right, total = right + r, total + t
        row["dw-archive fields right"] = right / total
        for name, peer in peers.items():
            if "error" in peer:
                row[f"{name} error"] = peer["error"]
                continue
            index = [i for i, (p, _) in enumerate(cases) if (p, _) in members]
            row[f"{name} ms"] = 1000 * peer["seconds"][group] / n
            right = total = 0
            for i in index:
                r, t = score(peer["fields"][i], cases[i][1])
                right, total = right + r, total + t
            row[f"{name} fields right"] = right / total
        results[group] = row
    return results


def _peer_results(paths: list[str], repeats: int) -> dict:
    """fundus and trafilatura, timed per group of pages, in their own environment."""
    if not PEERS_PYTHON.exists():
        return {
            "fundus": {"error": "peer environment missing (make bench installs it)"},
            "trafilatura": {"error": "peer environment missing"},
        }
    real = [p for p in paths if Path(p).parent == REAL_PAGES]
    sample = [p for p in paths if Path(p).parent != REAL_PAGES]
    out: dict = {}
    for group, members in (("real pages", real), ("sample pages", sample)):
        if not members:
            continue
        run = subprocess.run(
            [str(PEERS_PYTHON), str(ROOT / "benchmarks" / "peers.py"), str(repeats), *members],
            capture_output=True,
            text=True,
            timeout=900,
        )
        data = json.loads(run.stdout or "{}")
        for name, result in data.items():
            peer = out.setdefault(name, {"seconds": {}, "fields": []})
            if "error" in result:
                out[name] = {"error": result["error"]}
                continue
            if "error" not in peer:
                peer["seconds"][group] = result["seconds"]
                peer["fields"] += result["fields"]
    return out


