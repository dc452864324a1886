"""Shared fixtures: paths to the project's saved pages and to `../shared/` when present."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis's clocks off for every property test (most already said so one by one): its 200 ms
# deadline per example and its "data generation is too slow" check fail a test for the machine's
# load, and CI's machine is busy. What a property costs is asserted by the tests that mean to.
settings.register_profile("no-clock", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("no-clock")
# A suite started in the background by a shell without job control (`make test &` in a script, a
# CI runner's `cmd &`) inherits SIGINT ignored, and every process it starts would too: Python
# leaves an ignored SIGINT ignored, so the tests' Ctrl-C to a crawl or a re-extraction would be
# lost, and they fail or wait (test_reextract_resume's run went on to its end). The runs get
# Ctrl-C as a terminal gives it: a handler set here is reset to the default by exec and fork+exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
PAGES = ROOT / "tests" / "pages"
SHARED = ROOT.parent / "shared"
REAL_PAGES = SHARED / "dw" / "pages"
SEED_TEXT = SHARED / "seed" / "dw-article-a-16825046.txt"


def project_crawler(**settings):
    """A Scrapy crawler with the project's settings (crawler/settings.py, as `scrapy crawl` has
    them) and `settings` over them."""
    from scrapy.utils.test import get_crawler

    from crawler import settings as project

    defaults = {name: value for name, value in vars(project).items() if name.isupper()}
    return get_crawler(settings_dict={**defaults, **settings})


def needs_shared(path: Path):
    """Skip a test cleanly where `../shared/` (or the part it needs) is absent."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is not here")


@pytest.fixture(scope="module")
def _sample_site_mirror(tmp_path_factory):
    from tests.crawling import Mirror, running_mirror

    log = tmp_path_factory.mktemp("mirror") / "access.log"
    with running_mirror(ROOT / "data" / "sample-site", log) as origin:
        yield Mirror(origin, log)


@pytest.fixture
def mirror(_sample_site_mirror):
    """The bundled sample site (read-only), served on loopback with an access log that holds
    this test's requests only. One server per module: starting one costs a Python process."""
    _sample_site_mirror.clear()
    yield _sample_site_mirror
    _sample_site_mirror.clear()


# The modules whose tests take longest, longest first (the seconds their tests took in one
# `make test` on the 2-core machine with the crawls forked (tests/forkserver.py), setup included:
# 131 for test_datasette down to 24): `make test` hands whole modules to its workers in
# collection order, so these go first and the run does not end waiting for one of them.
LONGEST_MODULES = [
    "test_datasette", "test_reliability", "test_backfill", "test_distributed",
    "test_hostile_property", "test_wild_input", "test_operator_slips", "test_discovery_crawl",
    "test_jobdir_kill", "test_hostile_pages", "test_text_fidelity", "test_outcomes", "test_warc",
    "test_readme", "test_archive_runs", "test_wild_kinds", "test_capture_limits", "test_forkserver",
    "test_input_limits", "test_kill", "test_damage", "test_backup", "test_distributed_faults",
    "test_reextract_resume",
]


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two workers per core. Much of the suite waits (on crawls in other processes,
    mirrors, sockets, timeouts that must expire): with one worker per core the 2-core machine
    used 1.5 of its cores; with two, 1.9 (pytest 320 -> 267 s on a clean clone, 2026-12-06)."""
    return 2 * (os.cpu_count() or 1)


def pytest_collection_modifyitems(items):
    """The longest modules first (`LONGEST_MODULES`), the others after in their usual order;
    tests within a module keep theirs."""
    rank = {name: n for n, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


# The reliability table's rows (mode, expected, observed), as the tests that observed them
# reported them. With pytest-xdist those tests run in worker processes: each row travels to the
# process that prints the summary in its test's report (`user_properties`), as without xdist.
RELIABILITY_ROWS: list[tuple[str, str, str]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    module = sys.modules.get("tests.test_reliability")
    rows = getattr(module, "REPORT", None)
    if rows:  # rows reported since the last report (a module fixture's in its first test's setup)
        report.user_properties.append(("reliability", list(rows)))
        rows.clear()
    return report


def pytest_runtest_logreport(report):
    for name, value in report.user_properties:
        if name == "reliability":
            RELIABILITY_ROWS.extend(tuple(row) for row in value)


def pytest_terminal_summary(terminalreporter):
    """Print the reliability table (mode, expected, observed) when those tests ran."""
    if not RELIABILITY_ROWS:
        return
    terminalreporter.section("reliability: fault modes")
    terminalreporter.write_line("| mode | expected outcome | observed |")
    terminalreporter.write_line("|---|---|---|")
    for mode, expected, observed in RELIABILITY_ROWS:
        terminalreporter.write_line(f"| {mode} | {expected} | {observed} |")
