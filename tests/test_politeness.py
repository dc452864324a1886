"""Politeness as servers ask for it, through the real `scrapy crawl dw` against a loopback server
that answers exactly so (`tests/wire.py`): robots.txt obeyed for every request, also those
made while it is still being fetched; `Retry-After` read as RFC 9110 writes it (delay-seconds
or a full HTTP-date; anything else is our own backoff, counted apart), huge values capped, a
wait counted only once the retry went out after it; a 429 slowing the whole host; a stop
(SIGTERM) during a wait taking effect at once. The forms of the header are tested on the pure
function that reads them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest

from devtools.demo import crawl_command
from devtools.sitegen import render_article
from tests.conftest import ROOT
from tests.crawling import archived_ids, crawl, last_run
from tests.wire import http_date as format_http_date
from tests.wire import response, serving


def article_page(content_id: int, lang: str = "en", slug: str = "story", **fields) -> bytes:
    """A page in DW's current markup for one article."""
    article = {"id": content_id, "language": lang, "slug": slug, "title": f"Story {content_id}",
               "teaser": f"What story {content_id} is about.", "published_at": "2026-11-05T08:00:00Z",
               "authors": ["Jane Example"], "blocks": [f"First paragraph of story {content_id}.",
                                                      "Second paragraph of the story."]} | fields
    return render_article(article).encode()


def ok(content_id: int, **fields) -> bytes:
    return response("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                    article_page(content_id, **fields))


def content_id_of(path: str) -> int | None:
    tail = path.split("?")[0].rsplit("/a-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


# -- robots.txt, for every request --------------------------------------------------------------

FORBIDDEN = range(79900010, 79900020)


@pytest.fixture(scope="module")
def robots_crawl(tmp_path_factory):
    """Ten articles under `/en/`, which robots.txt disallows; robots.txt comes a second late,
    so that every article request is made while it is still being fetched."""
    work = tmp_path_factory.mktemp("robots")
    urls = ",".join(f"https://www.dw.com/en/story/a-{i}" for i in FORBIDDEN)
    with serving(lambda hit: ok(content_id_of(hit.path)) if content_id_of(hit.path) else None,
                 robots=b"User-agent: *\nDisallow: /en/\n", robots_after=1.0) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}")
    return run, work / "dw.db", wire


def test_no_request_robots_txt_forbids_is_made_while_it_is_fetched(robots_crawl):
    run, db, wire = robots_crawl
    assert [p for p in wire.paths() if p.startswith("/en/")] == []
    assert wire.paths() == ["/robots.txt"]
    assert last_run(db)["stats"]["robotstxt/forbidden"] == len(FORBIDDEN)
    assert archived_ids(db) == set()
