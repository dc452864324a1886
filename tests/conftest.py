"""Shared fixtures: paths to the project's saved pages and to `../shared/` when present."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.fixture
def mirror(tmp_path):
    """The bundled sample site, served on loopback with an access log."""
    from devtools.mirror import running_mirror
    from tests.crawling import Mirror

    log = tmp_path / "access.log"
    with running_mirror(ROOT / "data" / "sample-site", log) as origin:
        yield Mirror(origin, log)


def pytest_terminal_summary(terminalreporter):
    """Print the reliability table (mode, expected, observed) when those tests ran."""
    try:
        from tests.test_reliability import REPORT
    except ImportError:
        return
    if not REPORT:
        return
    terminalreporter.section("reliability: fault modes")
    terminalreporter.write_line("| mode | expected outcome | observed |")
    terminalreporter.write_line("|---|---|---|")
    for mode, expected, observed in REPORT:
        terminalreporter.write_line(f"| {mode} | {expected} | {observed} |")
