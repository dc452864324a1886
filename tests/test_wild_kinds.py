"""What the wild serves, round 3 (issue 22), each kind through the real path: `scrapy crawl dw`
against a loopback server that behaves exactly so (`tests/wire.py`, or the mirror),
`python -m crawler.reextract`, datasette's agency page; the many variants of each kind as tests
of the pure functions that read them.

Kinds: `Retry-After` as an HTTP-date; `xml:base` in feeds and sitemaps; WARC payload digests
in both the standard's form and the older one, and other tools' encodings; response heads
captured byte for byte; the old layout's "Read more:" cross-links; photo credits in every
form; and a run that loses more than half of what it found is not "ok", at any size.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import sys
import time
import uuid
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

from crawler.archive.paths import capture_files
from tests import forkserver
from tests.conftest import ROOT, SHARED, needs_shared
from tests.crawling import archived_ids, crawl, last_run, query
from tests.wire import http_date as format_http_date
from tests.wire import response, serving

BUGS = SHARED / "bugs"
RETRY = BUGS / "19-retry-after-date"


def last_line(run) -> str:
    lines = run.stderr.strip().splitlines()
    return lines[-1] if lines else ""


# -- Retry-After: seconds or an HTTP-date (RFC 9110 §10.2.3) --------------------------------------

NOW = datetime(2026, 12, 5, 15, 58, 0, tzinfo=UTC)


@pytest.mark.parametrize("value, seconds", [
    ("Sat, 05 Dec 2026 15:58:40 GMT", 40),  # IMF-fixdate
    ("Saturday, 05-Dec-26 15:58:40 GMT", 40),  # RFC 850, obsolete but to be accepted
    ("Sat Dec  5 15:58:40 2026", 40),  # asctime: no zone, GMT
    ("sat, 05 dec 2026 15:58:40 gmt", 40),  # case
    ("Sat, 5 Dec 2026 15:58:40 GMT", 40),  # one-digit day
    ("Sat, 05 Dec 2026 16:58:40 +0100", 40),  # an offset instead of GMT (lenient)
    ("Sat, 05 Dec 2026 16:58:40 CET", 40),
    ("Sat, 05 Dec 2026 10:58:40 EST", 40),
    ("Sat, 05 Dec 2026 15:58:40 UTC", 40),
    ("Sat, 05 Dec 2026 15:57:00 GMT", 0),  # already past: no wait
    ("  Sat, 05 Dec 2026 15:59:00 GMT ", 60),
    ("120", 120), ("0", 0), (" 7 ", 7),
])
def test_retry_after_reads_both_forms(value, seconds):
    from crawler.middlewares import retry_after

    asked = retry_after(value.encode("latin-1"), now=NOW)
    assert asked is not None and asked.seconds == seconds


@pytest.mark.parametrize("value", ["soon", "Sat, 05 Dec 2026 15:58:40 XYZ", "-", "nan", "inf",
                                   "Sat, 45 Dec 2026 15:58:40 GMT"])
def test_retry_after_that_is_neither_form_is_unreadable(value):
    from crawler.middlewares import retry_after

    asked = retry_after(value, now=NOW)
    assert asked is not None and asked.seconds is None and asked.asked == value


def test_no_retry_after_asks_nothing():
    from crawler.middlewares import retry_after

    assert retry_after(None) is None and retry_after(b"") is None


def test_a_retry_after_date_is_measured_from_the_response_date():
    from crawler.middlewares import retry_after

    # The server's clock says 15:58:30: 10 s to wait, whatever this machine's clock says.
    asked = retry_after(b"Sat, 05 Dec 2026 15:58:40 GMT", b"Sat, 05 Dec 2026 15:58:30 GMT", now=NOW)
    assert asked.seconds == 10
    unreadable_date = retry_after(b"Sat, 05 Dec 2026 15:58:40 GMT", b"yesterday", now=NOW)
    assert unreadable_date.seconds == 40


@pytest.mark.parametrize("value, expected", [
    ("Sun, 06 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37"),
    ("Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37"),
    ("Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37"),
    # A two-digit year more than 50 years ahead is the last such year past (2080 -> 1980).
    ("Monday, 01-Jan-80 00:00:00 GMT", "1980-01-01T00:00:00"),
    ("Tuesday, 01-Jan-30 00:00:00 GMT", "2030-01-01T00:00:00"),
])
def test_http_date_reads_the_three_forms_of_rfc_9110(value, expected):
    from crawler.dates import http_date

    assert http_date(value) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "2026-12-05", "120", "Sun, 06 Nov 1994 08:49:37 QQT", "never"])
def test_http_date_refuses_what_is_no_instant(value):
    from crawler.dates import http_date

    assert http_date(value) is None


def _retry_page(content_id: int) -> bytes:
    return (RETRY / f"a-{content_id}.html").read_bytes()


WINDOW = 3.0  # seconds each path answers 503 after its first request


@pytest.fixture(scope="module")
def retried(tmp_path_factory):
    """One crawl of four articles, each first answered 503 with a `Retry-After` of one form:
    an HTTP-date just after the path's 503 window ends (79100191), seconds (79100192), a date an
    hour ahead, over the cap (79100193), and text that is neither (79100194).

    Scrapy's own schedule here (0.2 s, 0.4 s, 0.8 s) would give up inside the window: only a
    wait as long as the header asks gets the first two."""
    work = tmp_path_factory.mktemp("retry")
    pages = {79100191: _retry_page(79100191), 79100192: _retry_page(79100192),
             79100193: _retry_page(79100191).replace(b"79100191", b"79100193"),
             79100194: _retry_page(79100191).replace(b"79100191", b"79100194")}

    def respond(hit):
        content_id = int(hit.path.rsplit("-", 1)[1]) if "/a-" in hit.path else None
        if content_id not in pages:
            return None
        until = hit.first_at + WINDOW
        ok = response("200 OK", [("Content-Type", "text/html; charset=utf-8")], pages[content_id])
        busy = {79100191: format_http_date(until + 1), 79100192: str(int(WINDOW) + 1),
                79100193: format_http_date(hit.at + 3600), 79100194: "whenever you like"}[content_id]
        if content_id in (79100193, 79100194):
            until = hit.first_at  # one 503, then served
        if hit.number > 1 and hit.at >= until:
            return ok
        return response("503 Service Unavailable", [("Date", format_http_date(hit.at)),
                                                    ("Retry-After", busy)], b"busy")

    urls = ",".join(f"https://www.dw.com/en/storm-warning/a-{i}" for i in pages)
    with serving(respond) as wire:
        started = time.monotonic()
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}", "-s", "RETRY_BACKOFF_BASE=0.2",
                    "-s", "RETRY_BACKOFF_MAX=5")
        took = time.monotonic() - started
    return run, work / "dw.db", wire, took


@needs_shared(RETRY)
def test_a_retry_after_date_is_waited_out_and_the_article_archived(retried):
    run, db, wire, _ = retried
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == {79100191, 79100192, 79100193, 79100194}
    for content_id in (79100191, 79100192):  # asked to wait past the window: one retry, in time
        hits = [h for h in wire.hits if h.path.endswith(f"a-{content_id}")]
        assert len(hits) == 2, [(h.path, h.at - hits[0].at) for h in hits]
        assert hits[1].at >= hits[0].at + WINDOW


@needs_shared(RETRY)
def test_retry_after_stats_count_only_what_was_done(retried):
    run, db, wire, _ = retried
    stats = last_run(db)["stats"]
    assert stats["dw/retry/retry_after_honoured"] == 2  # the date and the seconds: waited as asked
    assert stats["dw/retry/retry_after_capped"] == 1  # an hour asked, the 5 s cap waited
    assert stats["dw/retry/retry_after_unreadable"] == 1
    assert "Unreadable Retry-After 'whenever you like'" in run.stderr
    capped = [h for h in wire.hits if h.path.endswith("a-79100193")]
    assert len(capped) == 2 and capped[1].at - capped[0].at >= 5


# -- a run that loses more than half of what it found fails, at any size ----------------------------

def _counts(found=0, fetched=0, failed=0, not_modified=0) -> dict[str, int]:
    return {"found": found, "fetched": fetched, "not_modified": not_modified, "skipped": 0,
            "new": 0, "updated": 0, "unchanged": 0, "failed": failed, "gone": 0, "not_stored": 0}


@pytest.mark.parametrize("found, fetched, failed, verdict", [
    (1, 1, 1, "most article requests failed (1 of 1)"),  # one page, a soft 404
    (3, 1, 2, "most article requests failed (2 of 3)"),
    (3, 3, 2, "most article requests failed (2 of 3)"),  # two soft 404s among three
    (1000, 1000, 501, "most article requests failed (501 of 1000)"),
    (2, 2, 1, "ok"),  # half is not more than half
    (3, 3, 1, "ok"),
    (0, 0, 0, "ok"),
])
def test_the_share_lost_decides_not_a_count(found, fetched, failed, verdict):
    from crawler.outcome import Run, judge

    stats = {"dw/found": found, "dw/fetched": fetched, "dw/failed": failed}
    run = Run("finished", stats)
    assert run.counts == _counts(found, fetched, failed)
    assert judge(run).text == verdict


def test_a_run_cut_short_is_judged_on_what_it_tried():
    from crawler.outcome import Run, judge

    # 100 found, a limit stopped it after 4 tries of which 3 failed: most of what it tried.
    stats = {"dw/found": 100, "dw/fetched": 1, "dw/failed": 3}
    assert judge(Run("closespider_pagecount", stats)).text == "most article requests failed (3 of 4)"
    stats = {"dw/found": 100, "dw/fetched": 3, "dw/failed": 1}
    assert judge(Run("closespider_pagecount", stats)).text.startswith("stopped: ")


SOFT_404 = b"<!DOCTYPE html><html lang='en'><head><title>Page not found | DW</title></head>" \
           b"<body><main><h1>Sorry, this page does not exist</h1></main></body></html>"


@needs_shared(RETRY)
@pytest.mark.parametrize("ids, status, lost", [
    ([79100199], 3, "1 of 1"),  # the one page asked for is a soft 404
    ([79100191, 79100199, 79100198], 3, "2 of 3"),  # a soft 404 and a hard one
    ([79100191, 79100192, 79100199], 0, None),  # one of three: the run did its job
])
def test_losing_most_of_what_was_found_is_exit_3_at_any_size(ids, status, lost, tmp_path):
    def respond(hit):
        if hit.path.endswith("a-79100199"):
            return response("200 OK", [("Content-Type", "text/html; charset=utf-8")], SOFT_404)
        for content_id in (79100191, 79100192):
            if hit.path.endswith(f"a-{content_id}"):
                return response("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                _retry_page(content_id))
        return None  # 404

    urls = ",".join(f"https://www.dw.com/en/x/a-{i}" for i in ids)
    with serving(respond) as wire:
        run = crawl(wire, tmp_path / "dw.db", "-a", f"urls={urls}")
    assert run.returncode == status, run.stderr[-2000:]
    if lost:
        assert last_line(run) == f"dw crawl failed: most article requests failed ({lost})"
        assert last_run(tmp_path / "dw.db")["outcome"] == f"most article requests failed ({lost})"
    else:
        assert last_run(tmp_path / "dw.db")["outcome"] == "ok"


# -- xml:base: relative locations in feeds and sitemaps (XML Base, RFC 3986 §5) ---------------------

ATOM = '<feed xmlns="http://www.w3.org/2005/Atom"{base}>{entries}</feed>'
W = "https://www.dw.com"


def _locs(xml: str, base_url: str | None = f"{W}/") -> list[str]:
    from crawler.discovery import read_listing

    return [entry.loc for entry in read_listing(xml.encode("utf-8"), base_url=base_url).entries]


@pytest.mark.parametrize("feed_base, entry, expected", [
    # feed-level base, relative href
    (f"{W}/de/", '<entry><link href="inflation-sinkt/a-79100201"/></entry>',
     f"{W}/de/inflation-sinkt/a-79100201"),
    # an entry's own base overrides the feed's
    (f"{W}/de/", f'<entry xml:base="{W}/de/streik/"><link href="a-79100202"/></entry>',
     f"{W}/de/streik/a-79100202"),
    # a relative entry base is resolved against the feed's
    (f"{W}/de/", '<entry xml:base="streik/"><link href="a-79100202"/></entry>', f"{W}/de/streik/a-79100202"),
    (f"{W}/de/politik/", '<entry xml:base="../wirtschaft/"><link href="./x/a-1"/></entry>',
     f"{W}/de/wirtschaft/x/a-1"),
    # on the link element itself
    (f"{W}/de/", '<entry><link xml:base="/pt-br/" href="x/a-2"/></entry>', f"{W}/pt-br/x/a-2"),
    # an absolute-path reference keeps only the base's host
    (f"{W}/de/", '<entry><link href="/en/x/a-3"/></entry>', f"{W}/en/x/a-3"),
    # scheme-relative base
    (f"{W}/de/", '<entry xml:base="//m.dw.com/fr/"><link href="x/a-4"/></entry>', "https://m.dw.com/fr/x/a-4"),
    # base without a trailing slash: its last segment is replaced (RFC 3986 §5.2.3)
    (f"{W}/de/inflation", '<entry><link href="a-5"/></entry>', f"{W}/de/a-5"),
    # dot segments above the root are dropped (§5.2.4)
    (f"{W}/de/a/b/c", '<entry><link href="../../../../x/a-6"/></entry>', f"{W}/x/a-6"),
    # an empty xml:base is the parent's
    (f"{W}/de/", '<entry xml:base=""><link href="x/a-7"/></entry>', f"{W}/de/x/a-7"),
    # an IRI base: DW's slugs are Unicode (lxml's element.base gives up on these)
    (f"{W}/de/", f'<entry xml:base="{W}/de/putin-ära/"><link href="a-8"/></entry>', f"{W}/de/putin-ära/a-8"),
    # an absolute href ignores every base
    (f"{W}/de/", f'<entry><link href="{W}/de/wahl/a-9"/></entry>', f"{W}/de/wahl/a-9"),
    # whitespace around the reference and the base
    (f" {W}/de/ ", '<entry><link href="  x/a-10 "/></entry>', f"{W}/de/x/a-10"),
])
def test_atom_links_resolve_against_xml_base(feed_base, entry, expected):
    assert _locs(ATOM.format(base=f' xml:base="{feed_base}"', entries=entry)) == [expected]


def test_a_relative_feed_base_resolves_against_the_document():
    xml = ATOM.format(base=' xml:base="/de/"', entries='<entry><link href="x/a-1"/></entry>')
    assert _locs(xml) == [f"{W}/de/x/a-1"]
    assert _locs(xml, base_url=None) == ["/de/x/a-1"]  # nothing to resolve it against: as written


@pytest.mark.parametrize("xml, expected", [
    # RSS 2.0: the channel's base, an item's own, a link element's own, a permalink guid
    (f'<rss version="2.0"><channel xml:base="{W}/en/"><item><link>x/a-11</link></item>'
     '<item xml:base="/de/"><link>y/a-12</link></item>'
     '<item><link xml:base="/fr/">z/a-13</link></item>'
     '<item><guid>g/a-14</guid></item></channel></rss>',
     [f"{W}/en/x/a-11", f"{W}/de/y/a-12", f"{W}/fr/z/a-13", f"{W}/en/g/a-14"]),
    # RSS 1.0 (RDF): rdf:about under the document's base
    (f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
     f' xml:base="{W}/es/"><item rdf:about="x/a-15"><title>t</title></item></rdf:RDF>', [f"{W}/es/x/a-15"]),
    # sitemaps: on the urlset, on a url, on a loc; and a sitemap index
    (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xml:base="{W}/en/">'
     '<url><loc>x/a-16</loc></url><url xml:base="/ar/"><loc>y/a-17</loc></url>'
     '<url><loc xml:base="../tr/">z/a-18</loc></url></urlset>',
     [f"{W}/en/x/a-16", f"{W}/ar/y/a-17", f"{W}/tr/z/a-18"]),
    (f'<sitemapindex xml:base="{W}/de/"><sitemap><loc>news-sitemap.xml</loc></sitemap></sitemapindex>',
     [f"{W}/de/news-sitemap.xml"]),
])
def test_rss_and_sitemap_locations_resolve_against_xml_base(xml, expected):
    assert _locs(xml) == expected


XML_BASE_SITE = BUGS / "20-atom-xml-base" / "site"
XML_BASE_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9" xml:base="https://www.dw.com/de/">
  <url><loc>konjunktur-erholt-sich/a-79100204</loc>
    <news:news><news:publication_date>2026-12-05T09:00:00Z</news:publication_date></news:news></url>
  <url xml:base="https://www.dw.com/de/k%C3%A4lte-welle/"><loc>a-79100205</loc>
    <news:news><news:publication_date>2026-12-05T09:10:00Z</news:publication_date></news:news></url>
</urlset>"""


@pytest.fixture(scope="module")
def xml_base_crawl(tmp_path_factory):
    """The Atom feed of bug 20 and a news sitemap with `xml:base`, served by a strict server
    (each page at its one path only, as dw.com serves it), crawled once."""
    work = tmp_path_factory.mktemp("xmlbase")
    page = (XML_BASE_SITE / "de/inflation-sinkt/a-79100201.html").read_bytes()
    files = {f"/{p.relative_to(XML_BASE_SITE).as_posix().removesuffix('.html')}": p.read_bytes()
             for p in XML_BASE_SITE.rglob("*.html")}
    files["/de/konjunktur-erholt-sich/a-79100204"] = page.replace(b"79100201", b"79100204")
    files["/de/k%C3%A4lte-welle/a-79100205"] = page.replace(b"79100201", b"79100205").replace(
        b"/de/inflation-sinkt/", b"/de/k%C3%A4lte-welle/")
    files["/rdf/rss-de-all"] = (XML_BASE_SITE / "rdf/rss-de-all.xml").read_bytes()
    files["/de/news-sitemap.xml"] = XML_BASE_SITEMAP.encode()

    def respond(hit):
        data = files.get(hit.path)
        if data is None:
            return None
        kind = "application/xml" if data.startswith(b"<?xml") else "text/html; charset=utf-8"
        return response("200 OK", [("Content-Type", kind)], data)

    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", "lang=de", "-a", "sources=feeds,news")
    return run, work / "dw.db", wire


@needs_shared(XML_BASE_SITE)
def test_feed_and_sitemap_links_under_xml_base_are_requested_where_they_are(xml_base_crawl):
    run, db, wire = xml_base_crawl
    assert run.returncode == 0, run.stderr[-3000:]
    articles = sorted(p for p in wire.paths() if "/a-" in p)
    assert articles == ["/de/inflation-sinkt/a-79100201", "/de/k%C3%A4lte-welle/a-79100205",
                        "/de/konjunktur-erholt-sich/a-79100204", "/de/streik-bei-der-bahn/a-79100202",
                        "/de/wahl-in-sachsen/a-79100203"]
    assert archived_ids(db) == {79100201, 79100202, 79100203, 79100204, 79100205}
    assert last_run(db)["outcome"] == "ok"


# -- WARC digests and encodings as other tools write them (WARC 1.1 §5.9, §6.3.2) -------------------

WARC_BUG = BUGS / "23-warc-payload-digest" / "three-records.warc.gz"


def _b32(algorithm: str, data: bytes) -> str:
    return base64.b32encode(hashlib.new(algorithm, data).digest()).decode()


def _chunked(data: bytes, size: int = 97) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _warc_record(uri: str, head: bytes, body: bytes, block: str | None = "sha1",
                 payload: str | None = "sha1", payload_over: bytes | None = None,
                 spell=lambda algorithm, digest: f"{algorithm}:{base64.b32encode(digest).decode()}") -> bytes:
    """A WARC/1.0 response record, its digests over exactly what the test says."""
    block_bytes = head + body
    fields = [("WARC-Type", "response"), ("WARC-Target-URI", uri),
              ("WARC-Date", "2026-12-04T10:00:00Z"),
              ("WARC-Record-ID", f"<urn:uuid:{uuid.uuid4()}>"),
              ("Content-Type", "application/http;msgtype=response")]
    def digest(algorithm: str, data: bytes) -> str:
        return spell(algorithm, hashlib.new(algorithm.replace("-", ""), data).digest())

    if block:
        fields.append(("WARC-Block-Digest", digest(block, block_bytes)))
    if payload:
        over = body if payload_over is None else payload_over
        fields.append(("WARC-Payload-Digest", digest(payload, over)))
    fields.append(("Content-Length", str(len(block_bytes))))
    text = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return text.encode() + block_bytes + b"\r\n\r\n"


def _page(content_id: int) -> bytes:
    return _retry_page(79100191).replace(b"79100191", str(content_id).encode()).replace(
        b"Storm warning", f"Story {content_id}".encode())


def _head(*lines: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n" + b"".join(
        line + b"\r\n" for line in lines) + b"\r\n"


def _brotli(data: bytes) -> bytes:
    import brotli

    return brotli.compress(data)


def _variants() -> list[tuple[str, int, bytes, str]]:
    """(name, content id, record, the form its payload digest should read as), one article each."""
    out = []
    ids = iter(range(79100240, 79100300))
    gz = gzip.compress

    def add(name, form, head_lines, encode, over=None, **kw):
        cid = next(ids)
        body = encode(_page(cid))
        record = _warc_record(f"https://www.dw.com/en/variant/a-{cid}", _head(*head_lines), body,
                              payload_over=over(_page(cid)) if over else None, **kw)
        out.append((name, cid, record, form))

    # the standard's form: the entity body, chunk framing undone (wget-lua, Heritrix 3.5+)
    add("chunked gzip, entity body", "entity_body",
        [b"Content-Encoding: gzip", b"Transfer-Encoding: chunked"], lambda p: _chunked(gz(p)), over=gz)
    # as sent, chunk framing and all (warcio, wpull, older Heritrix)
    add("chunked, as sent", "as_sent", [b"Transfer-Encoding: chunked"], _chunked)
    # a transfer coding besides chunked, undone too for the entity body
    add("gzip, chunked transfer, entity body", "entity_body", [b"Transfer-Encoding: gzip, chunked"],
        lambda p: _chunked(gz(p)), over=lambda p: p)
    # other algorithms and encodings of the digests
    add("sha256 hex", "both", [], bytes, block="sha256", payload="sha256",
        spell=lambda a, d: f"{a}:{d.hex()}")
    add("SHA-256 base64", "both", [], bytes, block="sha-256", payload="sha-256",
        spell=lambda a, d: f"{a.upper()}:{base64.b64encode(d).decode()}")
    add("sha512 base64url, md5 HEX", "both", [], bytes, block="sha512", payload="md5",
        spell=lambda a, d: a + ":" + (base64.urlsafe_b64encode(d).decode() if a == "sha512"
                                      else d.hex().upper()))
    add("sha1 base32 lower case, unpadded", "both", [], bytes,
        spell=lambda a, d: f"{a}:{base64.b32encode(d).decode().lower().rstrip('=')}")
    add("no digests at all", "", [], bytes, block=None, payload=None)
    add("block digest only", "", [], bytes, payload=None)
    add("unknown digest algorithm", "unverifiable", [], bytes, payload="sha1",
        spell=lambda a, d: f"{'sha3-999' if len(d) == 20 else a}:{base64.b32encode(d).decode()}",
        block="sha256")
    # content codings
    add("x-gzip", "both", [b"Content-Encoding: x-gzip"], gz)
    add("deflate (zlib)", "both", [b"Content-Encoding: deflate"], zlib.compress)
    add("deflate (raw)", "both", [b"Content-Encoding: deflate"], _raw_deflate)
    add("br", "both", [b"Content-Encoding: br"], _brotli)
    add("gzip then br", "both", [b"Content-Encoding: gzip, br"], lambda p: _brotli(gz(p)))
    add("GZIP upper case", "both", [b"Content-Encoding: GZIP"], gz)
    add("identity", "both", [b"Content-Encoding: identity"], bytes)
    # raw non-ASCII bytes in the HTTP head, as servers send them (latin-1, UTF-8)
    add("non-ASCII header bytes", "both", ["X-Titel: Schneefälle in München".encode("latin-1"),
                                           "X-Ort: Köln, Straße".encode()], bytes)
    # a payload digest in neither form, vouched for by the block digest
    add("payload digest of neither form", "unmatched", [], bytes, over=lambda p: b"something else")
    return out


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


VARIANTS = _variants()


@pytest.mark.parametrize("name, cid, record, form", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_warc_variants_are_read_whole_and_decoded(name, cid, record, form, tmp_path):
    from crawler.warc.read import decode, scan

    path = tmp_path / "one.warc.gz"
    path.write_bytes(gzip.compress(record))
    entries = list(scan(path, keep=lambda e: e.kind == "response"))
    assert [(e.kind, e.problem) for e in entries] == [("response", "")]
    assert entries[0].payload_digest == form
    assert decode(entries[0]) == _page(cid)


@pytest.mark.parametrize("damage, problem", [
    ("block", "block digest failed"),
    ("payload without block", "payload digest failed"),
])
def test_a_digest_that_fails_with_nothing_to_vouch_for_it_is_damage(damage, problem, tmp_path):
    from crawler.warc.read import scan

    page = _page(79100299)
    if damage == "block":
        record = _warc_record("https://www.dw.com/en/x/a-79100299", _head(), page)
        record = record.replace(b"First paragraph", b"Forged paragraph")
    else:
        record = _warc_record("https://www.dw.com/en/x/a-79100299", _head(), page, block=None,
                              payload_over=page + b"!")
    path = tmp_path / "bad.warc"
    path.write_bytes(record + _warc_record("https://www.dw.com/en/x/a-79100298", _head(), _page(79100298)))
    entries = list(scan(path))
    assert entries[0].kind == "damaged" and entries[0].problem.startswith(problem)
    assert (entries[1].kind, entries[1].problem) == ("response", "")  # the next one is read


def reextract_counts(db: Path, *warcs: Path) -> dict:
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(db), *map(str, warcs)],
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


@needs_shared(WARC_BUG)
def test_reextract_imports_both_payload_digest_forms_and_counts_them_apart(tmp_path):
    db = tmp_path / "dw.db"
    counts = reextract_counts(db, WARC_BUG)
    assert counts["new"] == 3 and "skipped/damaged" not in counts, counts
    assert archived_ids(db) == {79100231, 79100232, 79100233}
    assert (counts["payload_digest/entity_body"], counts["payload_digest/as_sent"],
            counts["payload_digest/both"]) == (1, 1, 1)


def test_reextract_imports_other_tools_digests_and_encodings(tmp_path):
    warc = tmp_path / "variants.warc.gz"
    warc.write_bytes(b"".join(gzip.compress(record) for _, _, record, _ in VARIANTS))
    db = tmp_path / "dw.db"
    counts = reextract_counts(db, warc)
    assert archived_ids(db) == {cid for _, cid, _, _ in VARIANTS}, counts
    forms = Counter(form for *_, form in VARIANTS if form)
    assert {k.removeprefix("payload_digest/"): v for k, v in counts.items()
            if k.startswith("payload_digest/")} == forms


# -- response heads captured as the server sent them --------------------------------------------

def _heads() -> dict[int, tuple[bytes, bytes, bytes]]:
    """content id -> (the head as sent, the body as sent, the head the record must hold)."""
    page = {cid: _page(cid) for cid in (79100251, 79100252, 79100253)}
    odd = (b"HTTP/1.1 200 Alles in Ordnung\r\n"  # a reason phrase of its own
           b"content-type: text/html; charset=utf-8\r\n"  # names in their own case
           + "X-Titel: Schneefälle in München\r\n".encode("latin-1")  # raw latin-1
           + "x-ort: Köln, Straße\r\n".encode()  # raw UTF-8
           + b"Set-Cookie: a=1\r\nVary: Accept-Encoding\r\nset-cookie: b=2\r\n"  # interleaved repeats
           b"X-Folded: first part\r\n  folded part\r\n"  # obsolete line folding
           b"X-Spaced:   wide   value  \r\n"
           b"Content-Length: " + str(len(page[79100251])).encode() + b"\r\nConnection: close\r\n\r\n")
    chunked_head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\n"  # a bare LF
                    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    bare = (b"HTTP/1.1 200\r\nContent-Type: text/html; charset=utf-8\r\n"  # no reason phrase
            b"Content-Length: " + str(len(page[79100253])).encode() + b"\r\nConnection: close\r\n\r\n")
    return {
        79100251: (odd, page[79100251], odd),
        79100252: (chunked_head, _chunked(page[79100252]),
                   chunked_head.replace(b"Transfer-Encoding:", b"X-Crawler-Transfer-Encoding:")),
        79100253: (bare, page[79100253], bare),
    }


HEADS = _heads()


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    work = tmp_path_factory.mktemp("heads")

    def respond(hit):
        for cid, (head, body, _) in HEADS.items():
            if hit.path.endswith(f"a-{cid}"):
                return head + body
        return None

    urls = ",".join(f"https://www.dw.com/en/x/a-{cid}" for cid in HEADS)
    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}")
    return run, work / "dw.db", capture_files(work / "dw.db")


def _blocks(files: list[Path]) -> dict[str, bytes]:
    """WARC-Target-URI -> the block of its response record, read from the raw file."""
    blocks = {}
    for file in files:
        data = gzip.decompress(file.read_bytes())
        for raw in data.split(b"WARC/1.1\r\n")[1:]:
            fields, _, rest = raw.partition(b"\r\n\r\n")
            header = dict(line.split(b": ", 1) for line in fields.split(b"\r\n"))
            if header[b"WARC-Type"] == b"response":
                blocks[header[b"WARC-Target-URI"].decode()] = rest[:int(header[b"Content-Length"])]
    return blocks


@needs_shared(RETRY)
def test_response_heads_are_written_to_warc_as_the_server_sent_them(captured):
    run, db, files = captured
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == set(HEADS)
    blocks = _blocks(files)
    for cid, (_, _, expected) in HEADS.items():
        block = blocks[f"https://www.dw.com/en/x/a-{cid}"]
        assert block.startswith(expected), (cid, block[:600])
        assert block[len(expected):] == _page(cid)  # the body, its chunk framing undone
    assert last_run(db)["stats"].get("dw/warc/head_rebuilt") is None
    assert not any(b"X-Dw-Wire-Head" in block or b"x-dw-wire-head" in block.lower()
                   for block in blocks.values())


@needs_shared(RETRY)
def test_captured_heads_pass_warcio_check_and_reextract(captured, tmp_path):
    _, db, files = captured
    for file in files:
        check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", "-v", str(file)],
                               capture_output=True, text=True)
        assert check.returncode == 0 and "fail" not in check.stdout, check.stdout[-2000:]
    rebuilt = tmp_path / "rebuilt.db"
    counts = reextract_counts(rebuilt, *files)
    assert counts["new"] == 3 and archived_ids(rebuilt) == set(HEADS)


def test_a_head_from_another_download_handler_is_rebuilt_from_what_scrapy_kept():
    from scrapy.http import HtmlResponse, Request

    from crawler.warc.capture import exchange_records

    response = HtmlResponse("https://www.dw.com/en/x/a-1", status=404, body=b"gone", protocol="HTTP/1.1",
                            headers={"X-Titel": "Schneefälle".encode("latin-1")})
    record, _ = exchange_records("https://www.dw.com/en/x/a-1", Request("https://www.dw.com/en/x/a-1"),
                                 response)
    buffer = io.BytesIO()
    WARCWriter(buffer, gzip=False).write_record(record)
    assert b"HTTP/1.1 404 Not Found\r\n" in buffer.getvalue()
    assert "X-Titel: Schneefälle\r\n".encode("latin-1") in buffer.getvalue()  # not %-encoded


# -- the old layout's "Read more:" cross-links are not the article's words ----------------------------

def _paragraph(html: str):
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(html).css_first("p")


@pytest.mark.parametrize("html", [
    '<p><strong>Read more: </strong><a href="/en/x/a-123">Germany votes</a></p>',
    '<p><strong>Read more: <a href="/en/x/a-123">Germany votes</a></strong></p>',
    '<p><b>READ MORE:</b> <a href="/en/x/a-1">A</a> | <a href="https://www.dw.com/en/y/a-2">B</a></p>',
    '<p><a href="/en/x/a-123">Read more: Germany votes</a></p>',
    '<p><strong>Read more</strong> <a href="/en/x/a-123">Germany votes</a></p>',  # no colon
    '<p>Also read: <a href="/en/x/av-123">Video: the vote</a></p>',
    '<p><strong>Lesen Sie auch:</strong> <a href="/de/x/a-1">A</a> und <a href="/de/y/a-2">B</a></p>',
    '<p><strong>Mehr zum Thema:</strong> <a href="/de/x/a-1">A</a></p>',
    '<p><strong>Leia também:</strong> <a href="/pt-br/x/a-1">A</a></p>',
    '<p><strong>Lea también:</strong> <a href="/es/x/a-1">A</a></p>',
    '<p><strong>Lire aussi :</strong> <a href="/fr/x/a-1">A</a></p>',
    '<p><strong>Читайте также:</strong> <a href="/ru/x/a-1">Выборы</a></p>',
    '<p><b>اقرأ أيضا</b> <a href="/ar/x/a-1">عنوان</a></p>',
    '<p><strong>اقرأ أيضاً:</strong> <a href="/ar/x/a-1">عنوان</a></p>',
    '<p><strong>بیشتر بخوانید:</strong> <a href="/fa-ir/x/a-1">عنوان</a></p>',
    '<p><strong>延伸阅读：</strong><a href="/zh/x/a-1">标题</a></p>',
    '<p><strong>Baca juga:</strong> <a href="/id/x/a-1">Judul</a></p>',
    '<p><strong>Czytaj także:</strong> <a href="/pl/x/a-1">Tytuł</a></p>',
    '<p><strong>Okuyun:</strong> <a href="/tr/x/a-1">Başlık</a></p>',  # DW's Turkish label
    '<p><strong>यह भी पढ़ें:</strong> <a href="/hi/x/a-1">शीर्षक</a></p>',
    '<p>Related: <a href="/en/climate/t-17292877">Climate</a></p>',
    '<p><strong>Read more:</strong> <a href="http://www.dw.de/x/a-1">An old link</a></p>',
])
def test_cross_link_paragraphs_in_every_language(html):
    from crawler.extract.old_layout import is_cross_link

    assert is_cross_link(_paragraph(html))


@pytest.mark.parametrize("html", [
    '<p>The vote came after months of <a href="/en/x/a-1">talks with the states</a>.</p>',
    '<p>Critics said the date was too late. Read more in <a href="/en/x/a-1">our analysis</a>.</p>',
    '<p>The minister said: <a href="/en/x/a-1">we will win</a> and more words here.</p>',
    '<p>Read more: <a href="https://www.bundestag.de/law">the law</a></p>',  # not a DW page
    '<p><a href="/en/x/a-123">Germany votes</a></p>',  # a link with no label: left alone
    '<p>Read more:</p>',
    '<p>The reasons, in the words of the commission: <a href="/en/x/a-1">read the report</a> here</p>',
    '<p><a href="/en/x/a-123">Germany votes: what comes next</a></p>',  # a headline with a colon
])
def test_paragraphs_with_links_that_are_the_articles_words(html):
    from crawler.extract.old_layout import is_cross_link

    assert not is_cross_link(_paragraph(html))


READ_MORE_PAGE = ROOT / "tests/pages/old-layout/read-more_a-79100271.html"
LABELS = {"de": "Lesen Sie auch:", "ar": "اقرأ أيضا:", "pt-br": "Leia também:", "ru": "Читайте также:",
          "es": "Lea también:", "sw": "Soma pia:"}


def _read_more_page(lang: str, content_id: int) -> bytes:
    html = READ_MORE_PAGE.read_text(encoding="utf-8").replace('lang="en"', f'lang="{lang}"')
    html = html.replace("/en/", f"/{lang}/").replace("79100271", str(content_id))
    return html.replace("Read more: ", LABELS[lang] + " ").replace("READ MORE: ", LABELS[lang] + " ").encode()


def test_reextract_leaves_cross_links_out_of_old_layout_bodies(tmp_path):
    pages = {79100272 + n: (lang, _read_more_page(lang, 79100272 + n)) for n, lang in enumerate(LABELS)}
    pages[79100271] = ("en", READ_MORE_PAGE.read_bytes())
    warc = tmp_path / "old.warc.gz"
    warc.write_bytes(b"".join(
        gzip.compress(_warc_record(f"https://www.dw.com/{lang}/coal-exit-law-passes/a-{cid}", _head(), page))
        for cid, (lang, page) in pages.items()))
    db = tmp_path / "dw.db"
    counts = reextract_counts(db, warc)
    assert counts["new"] == len(pages), counts
    expected = json.loads(READ_MORE_PAGE.with_suffix(".json").read_text(encoding="utf-8"))["body"]
    for (cid, body) in query(db, "SELECT id, body FROM articles"):
        lang = pages[cid][0]
        label = LABELS.get(lang, "Read more:")
        assert body == expected.replace("Read more:", label), (lang, body)
        assert "coal commission" not in body and "Lignite" not in body and "Lusatia" not in body


# -- photo credits in every form DW prints ---------------------------------------------------------

@pytest.mark.parametrize("credit, agencies, unknown", [
    # the forms of bug 26, and its two controls
    ("Jim Watson/AFP via Getty Images", ["AFP"], []),
    ("EPA-EFE/Filip Singer", ["EFE"], []),
    ("© Reuters", ["Reuters"], []),
    ("Jens Büttner/dpa-Zentralbild/picture alliance", ["dpa"], []),
    ("Kay Nietfeld/dpa/picture alliance", ["dpa"], []),
    ("REUTERS/Fabrizio Bensch", ["Reuters"], []),
    # other agencies and other forms, as DW's pages print them
    ("Joseph Eid/AFP/Getty Images", ["AFP"], []),
    ("Brendan Smialowski/AFP via Getty Images", ["AFP"], []),
    ("Handout via REUTERS", ["Reuters"], []),
    ("Anadolu Agency via Getty Images", ["AA"], []),
    ("©picture-alliance/dpa", ["dpa"], []),
    ("(c) dpa", ["dpa"], []),
    ("© 2023 AFP", ["AFP"], []),
    ("Copyright: AP", ["AP"], []),
    ("picture-alliance/AP Photo/M. Schrader", ["AP"], []),
    ("Alexander Zemlianichenko/AP Photo/picture alliance", ["AP"], []),
    ("AFP/Getty Images/AFP PHOTO/JOHN MACDOUGALL", ["AFP"], []),
    ("Li Xin/XinHua/dpa/picture alliance", ["Xinhua", "dpa"], []),
    ("Mikhail Sinitsyn/TASS/dpa/picture alliance", ["TASS", "dpa"], []),
    ("Sergei Ilnitsky/ITAR-TASS/Imago", ["TASS"], []),
    ("Heike Lyding/epd-bild", ["epd"], []),
    ("KNA-Bild", ["KNA"], []),
    ("Ralf Hirschberger/dpa-Bildfunk", ["dpa"], []),
    ("Kyodo/MAXPPP/dpa/picture alliance", ["Kyodo", "dpa"], []),
    ("Yonhap/AP/picture alliance", ["Yonhap", "AP"], []),
    ("Ahn Young-joon/AP Photo/picture alliance", ["AP"], []),
    ("Fabrizio Zani/ANSA/picture alliance", ["ANSA"], []),
    ("Europa Press/dpa/picture alliance", ["Europa Press", "dpa"], []),
    ("EFE/EPA/Juan Carlos Hidalgo", ["EFE"], []),
    ("Khaled Elfiqi/EPA/dpa/picture alliance", ["EFE", "dpa"], []),  # EPA is EFE's (EPA-EFE)
    ("Evaristo Sa (AFP)", ["AFP"], []),
    ("Photo: AFP", ["AFP"], []),
    ("picture alliance / dpa", ["dpa"], []),
    ("Atta Kenare/AFP/Getty Images | IRNA", ["AFP", "IRNA"], []),
    ("Manish Swarup/AP/picture alliance; PTI", ["AP", "PTI"], []),
    ("Phil Noble/REUTERS", ["Reuters"], []),
    ("Sid Meier/dpa", ["dpa"], []),  # a first name is no agency (SID is printed SID)
    # no agency at all
    ("Jonas Fischer/DW", [], []),
    ("privat", [], []),
    ("CC BY-SA 4.0", [], []),
    ("SOPA Images/ZUMA/picture alliance", [], []),
    ("STR/AFP", ["AFP"], []),
    ("Stringer/REUTERS", ["Reuters"], []),
    ("HO/AFP/Getty Images", ["AFP"], []),
    ("Pool Photo via AP", ["AP"], []),
    ("خالد الفقي/رويترز", ["Reuters"], []),
    # unknown tokens: counted, so that a new form shows up
    ("Geomar/dpa/picture alliance", ["dpa"], ["Geomar"]),
    ("Sputnik/Reuters", ["Reuters"], ["Sputnik"]),
    ("Ukrainian Presidential Press Service/Handout via REUTERS", ["Reuters"],
     ["Ukrainian Presidential Press Service"]),
    ("Bundesregierung/Steffen Kugler", [], ["Bundesregierung"]),
])
def test_photo_credits_in_every_form(credit, agencies, unknown):
    from crawler import dw

    assert dw.read_photo_credit(credit) == (agencies, unknown)
    assert dw.photo_agencies(credit) == agencies


CREDITS_SITE = BUGS / "26-photo-credit-forms" / "site"
CREDIT_VARIANTS = {79100267: ("Brendan Smialowski/AFP via Getty Images", ["AFP"]),
                   79100268: ("Li Xin/XinHua/dpa/picture alliance", ["Xinhua", "dpa"]),
                   79100269: ("© 2023 AP", ["AP"]),
                   79100270: ("Sputnik/Reuters", ["Reuters"])}  # Sputnik: counted as unknown
BUG_26 = {79100261: ["AFP"], 79100262: ["EFE"], 79100263: ["Reuters"], 79100264: ["dpa"],
          79100265: ["dpa"], 79100266: ["Reuters"]}


@pytest.fixture(scope="module")
def credited(tmp_path_factory):
    """Bug 26's six pages and four more credit forms, crawled once through the mirror."""
    from tests.crawling import copy_site, served

    work = tmp_path_factory.mktemp("credits")
    site = copy_site(CREDITS_SITE, work / "site")
    template = (site / "en" / "a-79100261.html").read_text(encoding="utf-8")
    for cid, (credit, _) in CREDIT_VARIANTS.items():
        (site / "en" / f"a-{cid}.html").write_text(template.replace("79100261", str(cid)).replace(
            "Jim Watson/AFP via Getty Images", credit), encoding="utf-8")
    urls = ",".join(f"https://www.dw.com/en/x/a-{cid}" for cid in [*BUG_26, *CREDIT_VARIANTS])
    with served(site, work / "access.log") as mirror:
        run = crawl(mirror, work / "dw.db", "-a", f"urls={urls}")
    return run, work / "dw.db"


@needs_shared(CREDITS_SITE)
def test_each_credit_form_tags_its_agency(credited):
    run, db = credited
    assert run.returncode == 0, run.stderr[-3000:]
    tags = {}
    for cid, agency in query(db, "SELECT article_id, agency FROM article_agencies WHERE role = 'photo'"
                                 " ORDER BY article_id, rowid"):
        tags.setdefault(cid, []).append(agency)
    assert tags == BUG_26 | {cid: agencies for cid, (_, agencies) in CREDIT_VARIANTS.items()}


@needs_shared(CREDITS_SITE)
def test_an_unknown_credit_token_is_counted_and_logged(credited):
    run, db = credited
    assert last_run(db)["stats"]["dw/extract/unknown_photo_credit"] == 1
    assert "'Sputnik' in the image credit 'Sputnik/Reuters' (unknown_photo_credit)" in run.stderr


@needs_shared(CREDITS_SITE)
@pytest.mark.parametrize("agency, pictures", [("AFP", 2), ("EFE", 1), ("Reuters", 3), ("dpa", 3),
                                              ("AP", 1), ("Xinhua", 1)])
def test_the_agency_page_counts_each_forms_pictures(credited, agency, pictures):
    from tests.datasette_archive import get, get_json

    _, db = credited
    rows = get_json(db, f"/dw/agency.json?agency={agency}&_shape=array")
    assert (rows[0]["agency"], rows[0]["photo_articles"]) == (agency, pictures)
    assert get(db, f"/dw/agency?agency={agency}").status_code == 200
