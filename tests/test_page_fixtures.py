"""Saved pages, one folder per DW layout: `tests/pages/<layout>/<name>.html` and, beside it,
`<name>.json` with the fields a reader finds on that page (written by hand from the page)."""

from __future__ import annotations

import json

import pytest

from crawler.extract import extract
from tests.conftest import PAGES

FIXTURES = sorted(PAGES.glob("*/*.html"))
LAYOUTS = ("old-layout", "mid-2023", "current", "no-scripts")


def _id(path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("page", FIXTURES, ids=_id)
def test_fixture_fields(page):
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    got = extract(page.read_bytes()).to_dict()
    wrong = {name: (got[name], want) for name, want in expected.items() if got[name] != want}
    assert wrong == {}


def test_every_layout_has_a_fixture_and_every_page_its_fields():
    assert {page.parent.name for page in FIXTURES} >= set(LAYOUTS)
    assert [page for page in FIXTURES if not page.with_suffix(".json").exists()] == []
