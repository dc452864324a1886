"""Crawl health: which share of a run's articles has each field, and whether that fell far below
its level over recent runs (the sign of a new DW layout the extractor does not read yet).

Counting is Spidermon's (`SPIDERMON_ADD_FIELD_COVERAGE`: every scraped item's non-empty fields,
in stats `spidermon_item_scraped_count/Article/<field>`). Spidermon's own coverage monitor
checks fixed thresholds; the comparison with earlier runs is made here, against the coverage
each run records in `crawl_runs.coverage`, and decided in `CrawlSummary` (crawler/extensions.py).

Settings (defaults in crawler/settings.py): `HEALTH_RECENT_RUNS` (runs compared),
`HEALTH_MIN_ARTICLES` (a run with fewer articles is neither judged nor used as a baseline),
`HEALTH_DROP` (a field is degraded below this fraction of its median share over the recent
runs), `HEALTH_MIN_BASELINE` (fields usually rarer than this are not judged).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from statistics import median

from crawler import settings as defaults

logger = logging.getLogger(__name__)

FIELDS = ("title", "body", "published_at", "authors", "agencies", "images", "credit_line")
_COUNTS = "spidermon_item_scraped_count/Article"


def coverage(stats: dict) -> dict[str, float]:
    """{"articles": N, field: share in [0, 1], ...} for this run; {} when it extracted none.

    Articles the normaliser dropped for a missing title count as extracted without a title.
    """
    dropped = stats.get("dw/dropped/missing_title", 0)
    total = stats.get(_COUNTS, 0) + dropped
    if not total:
        return {}
    return {"articles": total,
            **{name: round(stats.get(f"{_COUNTS}/{name}", 0) / total, 4) for name in FIELDS}}


def without_field_counts(stats: dict) -> dict:
    """The stats without Spidermon's per-field counts, which `coverage` sums up."""
    return {k: v for k, v in stats.items() if not k.startswith("spidermon_")}


def degraded(current: dict, history: list[dict], *, min_articles: int = defaults.HEALTH_MIN_ARTICLES,
             drop: float = defaults.HEALTH_DROP,
             min_baseline: float = defaults.HEALTH_MIN_BASELINE) -> str | None:
    """Why the run is degraded (each field far below its median share in `history`), or None."""
    if current.get("articles", 0) < min_articles:
        return None
    judged = [run for run in history if run.get("articles", 0) >= min_articles]
    reasons = []
    for name in FIELDS:
        past = [run[name] for run in judged if name in run]
        if not past:
            continue
        baseline = median(past)
        if baseline >= min_baseline and current.get(name, 0.0) < baseline * drop:
            reasons.append(f"{name} on {current[name]:.0%} of {current['articles']} articles,"
                           f" {baseline:.0%} over the last {len(past)} run{'s' if len(past) != 1 else ''}")
    return "degraded: " + "; ".join(reasons) if reasons else None


def recent_coverage(db, runs: int, lang: str | None = None) -> list[dict]:
    """The coverage recorded by the last `runs` runs that recorded one, newest first; with
    `lang` (the spider's `lang` argument, "" for the default), only runs over the same
    languages: coverage differs between languages (images, bylines), so a run over other
    languages is no baseline."""
    where, params = "", []
    if lang is not None:
        where, params = " AND coalesce(json_extract(arguments, '$.lang'), '') = ?", [lang]
    rows = db.execute("SELECT coverage FROM crawl_runs WHERE coverage IS NOT NULL"
                      f" AND coverage != '{{}}'{where} ORDER BY id DESC LIMIT ?",
                      [*params, runs]).fetchall()
    return [json.loads(row[0]) for row in rows]


def judge(archive, current: dict, settings, lang: str | None = None) -> str | None:
    """This run's verdict on health against the archive's recent runs over the same languages;
    None when healthy."""
    try:
        history = recent_coverage(archive.db, settings.getint("HEALTH_RECENT_RUNS"), lang)
    except (sqlite3.Error, ValueError) as exc:
        logger.warning("Cannot read earlier runs' coverage: %s", exc)
        return None
    return judge_history(current, history, settings)


def judge_history(current: dict, history: list[dict], settings) -> str | None:
    """This run's verdict on health against `history` (what `recent_coverage` returns), with the
    thresholds of `settings`; None when healthy. A distributed worker, which has no archive to
    read, judges here against the history the archive writer publishes (crawler/distributed)."""
    verdict = degraded(current, history,
                       min_articles=settings.getint("HEALTH_MIN_ARTICLES"),
                       drop=settings.getfloat("HEALTH_DROP"),
                       min_baseline=settings.getfloat("HEALTH_MIN_BASELINE"))
    if verdict:
        logger.error("Field coverage fell (%s): a new page layout? Fix the extractor, then run"
                     " `python -m crawler.reextract` to mend what this run stored.",
                     verdict.removeprefix("degraded: "))
    return verdict
