"""Bad input gives a clear error per page, never a traceback; the CLI exits non-zero."""

from __future__ import annotations

import json
import sys

import pytest

from crawler.extract import NotAnArticle, extract
from tests import forkserver
from tests.conftest import ROOT

SEED_PAGE = ROOT / "data/sample-site/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046.html"

BAD = {
    "empty": (b"", "empty page"),
    "whitespace": (b"  \n\t ", "empty page"),
    "binary": (bytes(range(256)) * 20, "not HTML"),
    "dw 404": (b"<!DOCTYPE html><html lang='en'><head><title>Page not found | DW</title></head>"
               b"<body><h1>Sorry, page not found</h1></body></html>", "no canonical URL"),
    "other site": (b"<html><head><link rel='canonical' href='https://example.com/news/a-123'>"
                   b"</head><body><article><h1>Hi</h1><p>x</p></article></body></html>",
                   "not a DW content page"),
    "plain text": (b"just some words, no markup at all", "not HTML"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_a_clear_error(name):
    data, reason = BAD[name]
    with pytest.raises(NotAnArticle) as caught:
        extract(data)
    assert reason in caught.value.reason


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_page_is_refused(cut):
    data = SEED_PAGE.read_bytes()
    with pytest.raises(NotAnArticle, match="truncated"):
        extract(data[: int(len(data) * cut)])


def test_malformed_markup_still_extracts():
    # Unclosed tags and stray end tags, as broken CMS output has them.
    html = SEED_PAGE.read_text().replace("</p>", "", 5).replace("<h2>", "<h2><b>", 1)
    got = extract(html + "</div></span>")
    assert got.id == 16825046 and "Diplomats plan week of Syria talks" in got.body


def test_given_url_for_a_page_saved_without_canonical_link():
    html = SEED_PAGE.read_text()
    html = html.replace('<link rel="canonical"', '<link rel="x"').replace('property="og:url"', 'property="x"')
    with pytest.raises(NotAnArticle, match="no canonical URL"):
        extract(html)
    url = "https://www.dw.com/en/some-slug/a-16825046?maca=en-rss-en-all-1573-rdf"
    got = extract(html, url=url)
    assert got.url == "https://www.dw.com/en/some-slug/a-16825046"


def test_cli_prints_one_json_object_per_page_and_fails_when_one_fails(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    run = forkserver.run([sys.executable, "-m", "crawler.extract", str(SEED_PAGE), str(empty),
                          str(tmp_path / "missing.html")], cwd=ROOT)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line.get("id") for line in lines] == [16825046, None, None]
    assert lines[0]["agencies"] == ["AP", "AFP", "Reuters", "dpa"]
    assert lines[1]["error"] == "empty page"
    assert "cannot read" in lines[2]["error"]


def test_cli_exits_zero_when_every_page_is_an_article():
    run = forkserver.run([sys.executable, "-m", "crawler.extract", str(SEED_PAGE)], cwd=ROOT)
    assert run.returncode == 0, run.stderr
