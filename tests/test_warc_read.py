"""Reading other tools' WARC header forms (saved inputs, expected outputs)."""

from __future__ import annotations

import pytest

from crawler.warc.read import archive_date, target_uri


@pytest.mark.parametrize("value, expected", [
    ("<http://127.0.0.1:8765/en/x/a-1>", "http://127.0.0.1:8765/en/x/a-1"),  # wget, WARC/1.0
    ("https://www.dw.com/en/x/a-1", "https://www.dw.com/en/x/a-1"),  # WARC/1.1
    (" <https://www.dw.com/de/y/a-2> ", "https://www.dw.com/de/y/a-2"),
    ("", ""),
    (None, ""),
])
def test_target_uri(value, expected):
    assert target_uri(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2026-11-29T14:45:47.123456Z", "2026-11-29T14:45:47Z"),  # WARC/1.1, microseconds
    ("2026-11-29T14:45:47Z", "2026-11-29T14:45:47Z"),  # WARC/1.0 (wget, Common Crawl)
    ("2026-11-29T15:45:47+01:00", "2026-11-29T14:45:47Z"),
    ("not a date", ""),
    (None, ""),
])
def test_archive_date(value, expected):
    assert archive_date(value) == expected
