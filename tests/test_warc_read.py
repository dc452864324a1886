"""Reading other tools' WARC header forms (saved inputs, expected outputs; WARC-Date:
tests/test_dates.py)."""

from __future__ import annotations

import pytest

from crawler.warc.read import target_uri


@pytest.mark.parametrize("value, expected", [
    ("<http://127.0.0.1:8765/en/x/a-1>", "http://127.0.0.1:8765/en/x/a-1"),  # wget, WARC/1.0
    ("https://www.dw.com/en/x/a-1", "https://www.dw.com/en/x/a-1"),  # WARC/1.1
    (" <https://www.dw.com/de/y/a-2> ", "https://www.dw.com/de/y/a-2"),
    ("", ""),
    (None, ""),
])
def test_target_uri(value, expected):
    assert target_uri(value) == expected
