"""The real DW pages in ../shared/dw/pages/, checked field by field against expected.json."""

from __future__ import annotations

import json

import pytest

from crawler.extract import extract
from tests.conftest import REAL_PAGES

EXPECTED = REAL_PAGES / "expected.json"
CASES = (
    {k: v for k, v in json.loads(EXPECTED.read_text()).items() if not k.startswith("_")}
    if EXPECTED.exists() else {}
)
pytestmark = pytest.mark.skipif(not CASES, reason="../shared/dw/pages/ is not here")

EXACT = ("id", "url", "short_url", "language", "title", "teaser", "credit_line", "agencies",
         "authors", "topics", "tags", "subheads", "modified_at")


def _check(article, expected: dict) -> list[str]:
    got = article.to_dict()
    wrong = []
    for field in EXACT:
        if field in expected and got[field] != expected[field]:
            wrong.append(f"{field}: {got[field]!r} != {expected[field]!r}")
    if "published_at" in expected:
        want = expected["published_at"]
        # A bare day in expected.json means only the day is known and checked.
        value = (got["published_at"] or "")[: len(want)] if len(want) == 10 else got["published_at"]
        if value != want:
            wrong.append(f"published_at: {got['published_at']!r} != {want!r}")
    body = got["body"]
    if "body_starts_with" in expected and not body.startswith(expected["body_starts_with"]):
        wrong.append(f"body starts {body[:80]!r}")
    for text in expected.get("body_contains", []):
        if text not in body:
            wrong.append(f"body lacks {text!r}")
    for text in expected.get("body_not_contains", []):
        if text in body:
            wrong.append(f"body has {text!r}")
    images = got["images"]
    if "lead_image" in expected:
        lead = images[0] if images else {}
        for key, value in expected["lead_image"].items():
            if lead.get(key) != value:
                wrong.append(f"lead_image.{key}: {lead.get(key)!r} != {value!r}")
    if "inline_images" in expected:
        inline = [{k: i[k] for k in ("caption", "credit")} for i in images[1:]]
        if inline != expected["inline_images"]:
            wrong.append(f"inline_images: {inline!r}")
    return wrong


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_page_fields(name):
    article = extract((REAL_PAGES / name).read_bytes())
    assert _check(article, CASES[name]) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_page_credit_line_never_in_body(name):
    article = extract((REAL_PAGES / name).read_bytes())
    if article.credit_line:
        assert article.credit_line not in article.body
