"""The crawl's stats collector (crawler/extensions.py) counts exactly as Scrapy's own; the garbage
collector's tuning while a crawl runs is undone when it ends."""

from __future__ import annotations

import gc
import warnings

from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy.statscollectors import MemoryStatsCollector

from crawler.extensions import GC_YOUNG_THRESHOLD, CollectorTuning, StatsCollector
from tests.conftest import project_crawler

KEYS = st.sampled_from(["a", "dw/found", "dw/failed/x", "spidermon_item_scraped_count/Article/title"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("inc_value"), KEYS, st.integers(-5, 5), st.integers(-3, 3)),
    st.tuples(st.just("set_value"), KEYS, st.integers(-100, 100)),
    st.tuples(st.just("max_value"), KEYS, st.integers(-100, 100)),
    st.tuples(st.just("min_value"), KEYS, st.integers(-100, 100)),
    st.tuples(st.just("get_value"), KEYS, st.integers(-1, 1)),
    st.tuples(st.just("clear_stats")),
), max_size=40)


def _run(collector, ops) -> list:
    seen = []
    for op in ops:
        seen.append(getattr(collector, op[0])(*op[1:]))
        seen.append(dict(collector.get_stats()))
    return seen


def test_the_crawl_uses_it():
    crawler = project_crawler()
    crawler._apply_settings()
    assert type(crawler.stats) is StatsCollector


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_it_counts_as_scrapys_own(ops):
    crawler = project_crawler()
    assert _run(StatsCollector(crawler), ops) == _run(MemoryStatsCollector(crawler), ops)


def test_it_reads_its_stats_without_scrapys_per_access_hook():
    collector = StatsCollector(project_crawler())
    # Scrapy's collector looks up `_cached_<name>` on every attribute read, its own dict's too.
    assert type(collector).__getattribute__ is object.__getattribute__
    collector.inc_value("x")
    collector.inc_value("x", 2)
    assert collector.get_value("x") == 3


def test_a_spider_argument_is_still_warned_of_as_scrapy_warns():
    crawler = project_crawler()
    ours, scrapys = StatsCollector(crawler), MemoryStatsCollector(crawler)
    caught = []
    for collector in (ours, scrapys):
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            collector.inc_value("x", spider=object())
        caught.append([(w.category, str(w.message)) for w in found])
    assert caught[0] == caught[1] and caught[0], caught
    assert ours.get_value("x") == scrapys.get_value("x") == 1


def test_the_collector_is_tuned_while_the_crawl_runs_and_restored_after():
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    crawler = project_crawler()
    crawler._apply_settings()
    tuning = crawler.get_extension(CollectorTuning)
    assert tuning is not None  # enabled in EXTENSIONS
    try:
        tuning.tune()
        alive = [object()]  # noqa: F841 - something alive when frozen
        assert gc.get_freeze_count() > 1000  # the process's objects, never traversed again
        assert gc.get_threshold() == (max(GC_YOUNG_THRESHOLD, before[0]), *before[1:])
        tuning.tune()  # a second spider_opened changes nothing
        assert gc.get_threshold()[0] == max(GC_YOUNG_THRESHOLD, before[0])
    finally:
        tuning.restore()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    tuning.restore()  # twice: still as before
    assert gc.get_threshold() == before
