"""Crawl health: which share of a run's articles has each field, and whether that fell far below
its level over recent runs (the sign of a new DW layout the extractor does not read yet).

Counting is Spidermon's (`SPIDERMON_ADD_FIELD_COVERAGE`: every scraped item's non-empty fields,
in stats `spidermon_item_scraped_count/Article/<field>`). Spidermon's own coverage monitor
checks fixed thresholds; the comparison with earlier runs is made here, against the coverage
each run records in `crawl_runs.coverage`; the verdict is one rule of the run's outcome
(`crawler.outcome.coverage_fell`).

Settings (defaults in crawler/settings.py): `HEALTH_RECENT_RUNS` (runs compared),
`HEALTH_MIN_ARTICLES` (a run with fewer articles is neither judged nor used as a baseline),
`HEALTH_DROP` (a field is degraded below this fraction of its median share over the recent
runs), `HEALTH_MIN_BASELINE` (fields usually rarer than this are not judged).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from statistics import median

from crawler import settings as defaults

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


@dataclass(frozen=True)
class Thresholds:
    """When a run counts as degraded (see the settings above; their defaults are these)."""

    min_articles: int = defaults.HEALTH_MIN_ARTICLES
    drop: float = defaults.HEALTH_DROP
    min_baseline: float = defaults.HEALTH_MIN_BASELINE

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(settings.getint("HEALTH_MIN_ARTICLES"), settings.getfloat("HEALTH_DROP"),
                   settings.getfloat("HEALTH_MIN_BASELINE"))


def degraded(current: dict, history: list[dict], thresholds: Thresholds = Thresholds()) -> str | None:
    """Why the run is degraded (each field far below its median share in `history`), or None."""
    min_articles, drop = thresholds.min_articles, thresholds.drop
    if current.get("articles", 0) < min_articles:
        return None
    judged = [run for run in history if run.get("articles", 0) >= min_articles]
    reasons = []
    for name in FIELDS:
        past = [run[name] for run in judged if name in run]
        if not past:
            continue
        baseline = median(past)
        if baseline >= thresholds.min_baseline and current.get(name, 0.0) < baseline * drop:
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
