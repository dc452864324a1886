"""The three origins (`DW_ORIGIN`, `DW_SHORTLINK_ORIGIN`, `DW_FEED_ORIGIN`, reextract's `--origin`):
what the setting check refuses and how it says to write it, and that no origin, however written,
makes the origin middleware rewrite a request into a loop (tester-try27 items 1 and 7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scrapy import Request
from scrapy.utils.test import get_crawler

from crawler import setting_checks
from crawler.middlewares import OriginMiddleware, Origins


def _problem(name: str, value: str) -> str | None:
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set(name, value, priority="cmdline")
    return setting_checks.problem(settings)


@pytest.mark.parametrize(("value", "fault", "hint"), [
    # What `http://127.0.0.1:$PORT` gives with PORT unset: Scrapy drops the empty port.
    ("http://127.0.0.1:", "its port is empty", "e.g. http://127.0.0.1:8000, or leave the colon out"),
    ("http://127.0.0.1:18810?", "a query or fragment", "e.g. http://127.0.0.1:18810"),
    ("http://127.0.0.1:18810/?", "a query or fragment", "e.g. http://127.0.0.1:18810"),
    ("http://127.0.0.1:18810#", "a query or fragment", "e.g. http://127.0.0.1:18810"),
    ("http://127.0.0.1%3A18810", "a %-escape in its host", "e.g. http://127.0.0.1:8000"),
    ("http://localhost.:18810", "its host ends in a dot", "e.g. http://localhost:18810"),
    ("http://[::1]:18810", "an IPv6 address", "give an IPv4 address or a host name"),
], ids=repr)
@pytest.mark.parametrize("name", ["DW_ORIGIN", "DW_SHORTLINK_ORIGIN", "DW_FEED_ORIGIN"])
def test_an_origin_that_cannot_work_is_refused_saying_how_to_write_it(name, value, fault, hint):
    said = _problem(name, value) or ""
    assert said.startswith(f"{name}={value!r} is not an origin Scrapy can fetch from: ")
    assert fault in said and hint in said
    refused = setting_checks.origin_problem("--origin", value) or ""  # crawler.reextract's
    assert refused.startswith(f"--origin {value!r} is not an origin") and hint in refused


@pytest.mark.parametrize("value", ["http://LOCALHOST:18810", "HTTP://Localhost:18810/",
                                   "http://127.0.0.1:018810", "https://WWW.DW.COM"])
def test_an_origin_with_capitals_or_a_leading_zero_is_taken_and_read_as_scrapy_writes_it(value):
    assert _problem("DW_ORIGIN", value) is None
    assert Origins(value, value, value).www == Request(value.rstrip("/") + "/").url.rstrip("/")
    assert Origins(value, value, value).www.lower() == Origins(value, value, value).www
    # What a WARC made through it names is read back as dw.com's (crawler.reextract --origin).
    fetched = Request(value.rstrip("/") + "/en/x/a-1").url
    assert Origins(value, value, value).real_url(fetched) == "https://www.dw.com/en/x/a-1"


def test_an_origin_scrapy_cannot_read_is_kept_as_given_for_commands_that_do_not_check():
    assert Origins("", "", "").www == ""


def _middleware(origin: str) -> OriginMiddleware:
    crawler = get_crawler()
    return OriginMiddleware(Origins(origin, origin, origin), crawler.stats)


def _until_still(middleware: OriginMiddleware, request: Request) -> tuple[Request, int]:
    """Pass the request through the middleware as Scrapy does (a returned request is scheduled and
    comes back), at most 5 times; the request it lets through and how many moves it took."""
    for moves in range(5):
        moved = middleware.process_request(request)
        if moved is None:
            return request, moves
        request = moved
    raise AssertionError(f"still rewritten after 5 passes: {request.url}")


@pytest.mark.parametrize("origin", ["http://LOCALHOST:18810", "http://127.0.0.1:",
                                    "http://127.0.0.1:018810", "http://Bücher.example:8000"])
def test_a_request_is_never_rewritten_into_a_loop(origin):
    """On main, `http://LOCALHOST:18810` rewrote Scrapy's lowercased URL back to the capital
    spelling for ever (8,000 INFO lines a second, no request)."""
    middleware = _middleware(origin)
    real = "https://www.dw.com/en/news-sitemap.xml"
    sent, moves = _until_still(middleware, Request(real, meta={"dw_url": real}))
    assert moves == 1
    assert sent.url == Request(origin.rstrip("/") + "/en/news-sitemap.xml").url
    # A request queued in a JOBDIR under another origin moves once, then stays.
    queued = Request("http://127.0.0.1:9999/en/news-sitemap.xml", meta={"dw_url": real})
    resumed, moves = _until_still(middleware, queued)
    assert moves == 1 and resumed.url == sent.url


@given(st.lists(st.booleans(), min_size=9, max_size=9), st.sampled_from(["", ":", ":8000", ":08000"]),
       st.sampled_from(["/", "/en/a-1", "/p/1a2b", "/rdf/rss-en-all"]))
def test_whatever_the_origin_s_spelling_a_request_settles_after_one_move(upper, port, path):
    host = "".join(c.upper() if up else c for c, up in zip("localhost", upper, strict=True))
    middleware = _middleware(f"http://{host}{port}")
    real = "https://www.dw.com" + path
    sent, moves = _until_still(middleware, Request(real, meta={"dw_url": real}))
    assert moves <= 1 and sent.url.startswith("http://localhost")
