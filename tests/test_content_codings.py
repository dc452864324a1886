"""Compressed responses are read only as far as they verify (tester-try26 item 1).

A gzip whose CRC-32 or length fails, cut short (no trailer) or with bytes after it, a zlib
stream whose Adler-32 fails, brotli or zstd cut or with bytes after them: never read, whether a
`Content-Encoding` of a page or a listing, or a `.xml.gz` sitemap. Multi-member gzip and zero
padding after the last member are read, as gzip and browsers read them; raw deflate too. Each
variant as a pure function; generated listings gzipped and damaged anywhere never give an entry
the original did not hold; then one crawl through the mirror: a sitemap served with
`Content-Encoding: gzip` whose CRC fails (an id changed), `.xml.gz` sitemaps whose CRC fails or
that are cut, an article page whose gzip always fails its check and one damaged only on its
first tries: retried, then counted, nothing read from them, the WARC keeping what came. And one
small crawl for `DW_SITEMAP_DEPTH=0` under an index (tester-try26 item 10).
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import codings
from crawler.discovery import DamagedGzip, NotReadable, read_listing
from tests.test_listing_damage import listings

try:
    from compression import zstd  # Python 3.14
except ImportError:
    from backports import zstd

BODY = b"<urlset>" + b"<url><loc>https://www.dw.com/en/x/a-80000195</loc></url>" * 40 + b"</urlset>"


def _stored(data: bytes) -> bytes:
    """A gzip member storing `data` as it is, so that a byte of it is a byte of `data`."""
    return gzip.compress(data, compresslevel=0, mtime=0)


def _changed(packed: bytes, old: bytes, new: bytes) -> bytes:
    """The stored gzip (or zlib) stream with `old` changed to `new` inside its data, its checks
    left as they were (tester-try26: `80000195` -> `80090195`)."""
    assert len(old) == len(new) and old in packed
    return packed.replace(old, new, 1)


def _header_crc(data: bytes) -> bytes:
    """A gzip member with the FHCRC flag: a CRC-16 of its header (RFC 1952 §2.3.1)."""
    header = b"\x1f\x8b\x08\x02" + b"\0\0\0\0" + b"\0\xff"
    crc16 = zlib.crc32(header) & 0xFFFF
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = raw.compress(data) + raw.flush()
    return (header + crc16.to_bytes(2, "little") + deflated + zlib.crc32(data).to_bytes(4, "little")
            + (len(data) & 0xFFFFFFFF).to_bytes(4, "little"))


def _zlib_stored(data: bytes) -> bytes:
    return zlib.compress(data, 0)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _zstd_checked(data: bytes) -> bytes:
    return zstd.compress(data, options={zstd.CompressionParameter.checksum_flag: 1})


def _isize_wrong(packed: bytes) -> bytes:
    return packed[:-4] + ((len(BODY) + 1) & 0xFFFFFFFF).to_bytes(4, "little")


# (coding, encoded body, what is read: BODY, or the words of the error)
READ = {
    "gzip": ("gzip", gzip.compress(BODY), BODY),
    "x-gzip": ("x-gzip", gzip.compress(BODY), BODY),
    "gzip, two members": ("gzip", gzip.compress(BODY[:100]) + gzip.compress(BODY[100:]), BODY),
    "gzip, zero padding after it": ("gzip", gzip.compress(BODY) + b"\0" * 512, BODY),
    "gzip with a header CRC-16": ("gzip", _header_crc(BODY), BODY),
    "deflate, zlib's format": ("deflate", zlib.compress(BODY), BODY),
    "deflate, raw": ("deflate", _raw_deflate(BODY), BODY),
    "br": ("br", brotli.compress(BODY), BODY),
    "zstd": ("zstd", zstd.compress(BODY), BODY),
    "zstd with its checksum": ("zstd", _zstd_checked(BODY), BODY),
    "gzip, a byte changed (CRC-32 fails)": (
        "gzip", _changed(_stored(BODY), b"80000195", b"80090195"), "its CRC-32 check failed"),
    "gzip, its length wrong (ISIZE fails)": (
        "gzip", _isize_wrong(gzip.compress(BODY)), "its length check (ISIZE) failed"),
    "gzip without its trailer (a cut transfer)": ("gzip", gzip.compress(BODY)[:-8], "cut short"),
    "gzip cut in its deflate data": ("gzip", gzip.compress(BODY)[:30], "cut short"),
    "gzip, junk after it": ("gzip", gzip.compress(BODY) + b"<html>junk</html>", "not another gzip member"),
    "gzip, zero padding then junk": ("gzip", gzip.compress(BODY) + b"\0\0junk", "not another gzip member"),
    "gzip, a second member cut": ("gzip", gzip.compress(BODY) + gzip.compress(BODY)[:-3], "cut short"),
    "gzip, its header CRC-16 wrong": ("gzip", _header_crc(BODY)[:10] + b"\0\0" + _header_crc(BODY)[12:],
                                      "header crc mismatch"),
    "not gzip at all": ("gzip", BODY, "incorrect header check"),
    "empty": ("gzip", b"", "cut short"),
    "deflate, a byte changed (Adler-32 fails)": (
        "deflate", _changed(_zlib_stored(BODY), b"80000195", b"80090195"), "its Adler-32 check failed"),
    "deflate cut": ("deflate", zlib.compress(BODY)[:-4], "cut short"),
    "deflate, junk after it": ("deflate", zlib.compress(BODY) + b"junk", "4 bytes after the end"),
    "raw deflate, junk after it": ("deflate", _raw_deflate(BODY) + b"junk", "4 bytes after the end"),
    "br cut": ("br", brotli.compress(BODY)[:-3], "cut short"),
    "br, junk after it": ("br", brotli.compress(BODY) + b"junk", "brotli"),
    "zstd, a byte changed (its checksum fails)": (
        "zstd", _changed(_zstd_checked(b"80000195" * 3), b"80000195", b"80090195"), "checksum"),
    "zstd cut": ("zstd", zstd.compress(BODY)[:-3], "ended before"),
    "zstd, junk after it": ("zstd", zstd.compress(BODY) + b"junk", "Unknown frame descriptor"),
}


@pytest.mark.parametrize(("coding", "data", "read"), READ.values(), ids=READ.keys())
def test_a_coding_is_undone_only_as_far_as_it_verifies(coding, data, read):
    if isinstance(read, bytes):
        assert codings.decode(data, coding) == read
        return
    with pytest.raises(codings.Damaged) as raised:
        codings.decode(data, coding)
    assert read in str(raised.value)
    assert raised.value.coding == ("gzip" if coding == "x-gzip" else coding)


def test_the_tester_s_sitemap_whose_crc_fails_gives_no_entry():
    # tester-try26 item 1: gzipped stored, one byte of an id changed, the CRC left as it was
    damaged = _changed(_stored(BODY), b"80000195", b"80090195")
    with pytest.raises(zlib.error, match="incorrect data check"):
        zlib.decompress(damaged, 16 + zlib.MAX_WBITS)
    with pytest.raises(DamagedGzip, match="CRC-32 check failed"):
        read_listing(damaged)
    assert {e.loc for e in read_listing(_stored(BODY)).entries} == {"https://www.dw.com/en/x/a-80000195"}


# -- generated listings gzipped, damaged anywhere -----------------------------------------------

def _entries(body: bytes) -> list[str] | None:
    """The listing's locations, or None when it is refused (counted by the spider)."""
    try:
        return [entry.loc for entry in read_listing(body).entries]
    except NotReadable:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listing=listings(), level=st.sampled_from([0, 6]), data=st.data())
def test_a_gzipped_listing_damaged_anywhere_gives_no_entry_it_did_not_hold(listing, level, data):
    document, _, locs, _, _ = listing
    packed = gzip.compress(document, compresslevel=level)
    damage = data.draw(st.sampled_from(["flip", "cut", "junk"]))
    if damage == "flip":
        at = data.draw(st.integers(0, len(packed) - 1))
        bit = data.draw(st.integers(0, 7))
        damaged = packed[:at] + bytes([packed[at] ^ (1 << bit)]) + packed[at + 1:]
    elif damage == "cut":
        damaged = packed[:data.draw(st.integers(0, len(packed) - 1))]
    else:
        junk = data.draw(st.binary(min_size=1, max_size=40).filter(
            lambda b: b.strip(b"\0") and not b.startswith(b"\x1f\x8b")))
        damaged = packed + junk
    found = _entries(damaged)
    if damage in ("cut", "junk"):
        assert found is None  # always refused: nothing is read from a gzip that does not verify
        return
    # A changed byte is refused, or it was one gzip does not check (the header's time, extra
    # flags, OS) and what was read is exactly what the listing held.
    assert found is None or found == locs
    if found is not None:
        assert at in range(4, 10) or gzip.decompress(damaged) == document, at


# -- which codings carry a check (tester-try27 item 2) ------------------------------------------

CHECKED = {"gzip": gzip.compress(BODY), "x-gzip": gzip.compress(BODY),
           "deflate, zlib's format": zlib.compress(BODY), "zstd with its checksum": _zstd_checked(BODY),
           "zstd, two frames with their checksum": _zstd_checked(BODY[:99]) + _zstd_checked(BODY[99:]),
           "zstd, a skippable frame then one with its checksum":
               b"\x50\x2a\x4d\x18\x03\0\0\0abc" + _zstd_checked(BODY)}
UNCHECKED = {"br": brotli.compress(BODY), "deflate, raw": _raw_deflate(BODY), "zstd": zstd.compress(BODY),
             "zstd, a second frame without its checksum": _zstd_checked(BODY[:99]) + zstd.compress(BODY[99:])}


def _coding(name: str) -> str:
    return name.split(",")[0].split(" ")[0]


@pytest.mark.parametrize(("name", "data"), [*CHECKED.items(), *UNCHECKED.items()],
                         ids=[*CHECKED, *UNCHECKED])
def test_a_coding_is_verifiable_only_when_it_carries_a_check(name, data):
    assert codings.decode(data, _coding(name)) == BODY
    assert codings.verifiable(data, _coding(name)) == (name in CHECKED)


@pytest.mark.parametrize("name", [*CHECKED, *UNCHECKED])
def test_no_one_bit_change_of_a_verifiable_body_is_read_as_other_bytes(name):
    # tester-try27 item 2, every one-bit change: a coding said to verify never decodes one into
    # other bytes; one that does not verify is told so (`verifiable` false) whenever it could.
    data, coding = {**CHECKED, **UNCHECKED}[name], _coding(name)
    other = 0
    for at in range(len(data)):
        for bit in range(8):
            changed = bytearray(data)
            changed[at] ^= 1 << bit
            try:
                read = codings.decode(bytes(changed), coding)
            except codings.Damaged:
                continue
            if read != BODY:
                other += 1
                assert not codings.verifiable(bytes(changed), coding), (at, bit)
    assert (other == 0) == (name in CHECKED) or name.startswith("zstd, a second")


LAYERS = {  # Content-Encoding as sent -> (body, whether one layer carries a check)
    "br": (brotli.compress(BODY), False),
    "gzip": (gzip.compress(BODY), True),
    "gzip, br": (brotli.compress(gzip.compress(BODY)), True),  # the gzip inside checks the br's output
    "br, gzip": (gzip.compress(brotli.compress(BODY)), True),
    "deflate, br": (brotli.compress(_raw_deflate(BODY)), False),
}


@pytest.mark.parametrize(("header", "body", "checked"), [(h, *v) for h, v in LAYERS.items()], ids=LAYERS)
def test_one_checked_layer_verifies_the_body(header, body, checked):
    undo, kept = codings.content_codings([header])
    assert not kept
    assert codings.decode_all(body, undo) == (BODY, checked)


def _middleware():
    from scrapy.utils.test import get_crawler

    from crawler.middlewares import ContentCodingMiddleware

    crawler = get_crawler(settings_dict={"COMPRESSION_ENABLED": True})
    return ContentCodingMiddleware(crawler), crawler.stats


def _response(url: str, header: str, body: bytes, status: int = 200):
    from scrapy.http import Request, Response

    request = Request(url)
    return request, Response(url, status=status, headers={"Content-Encoding": header}, body=body,
                             request=request)


def test_the_crawl_asks_only_for_codings_that_carry_a_check():
    from scrapy.http import Request

    middleware, _ = _middleware()
    request = Request("http://127.0.0.1/en/news-sitemap.xml")
    middleware.process_request(request)
    assert request.headers[b"Accept-Encoding"] == b"gzip, deflate"


def test_a_body_without_a_check_is_read_counted_and_warned_once(caplog):
    middleware, stats = _middleware()
    sent = [("http://127.0.0.1/a-1", "br", brotli.compress(BODY), 200),
            ("http://127.0.0.1/a-2", "br", brotli.compress(BODY), 200),
            ("http://127.0.0.1/a-3", "deflate", _raw_deflate(BODY), 200),
            ("http://127.0.0.1/a-4", "zstd", _zstd_checked(BODY), 200),  # checked, not asked for
            ("http://127.0.0.1/a-5", "gzip", gzip.compress(BODY), 200),
            ("http://127.0.0.1/a-6", "br", brotli.compress(BODY), 404)]  # not read
    with caplog.at_level("WARNING"):
        for url, header, body, status in sent:
            request, response = _response(url, header, body, status)
            assert middleware.process_response(request, response).body == BODY
    counts = {key: value for key, value in stats.get_stats().items() if "coding/" in key}
    assert counts == {"dw/unverified_coding/br": 2, "dw/unverified_coding/deflate": 1,
                      "dw/unasked_coding/br": 2, "dw/unasked_coding/zstd": 1}
    [warning] = [r.getMessage() for r in caplog.records if "carries no check" in r.getMessage()]
    assert warning.startswith("http://127.0.0.1/a-1 came in the content coding 'br', which carries no"
                              " check (the crawl asks for gzip, deflate)")


class _Spider:
    def __init__(self):
        self.counts: dict[str, int] = {}

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def test_a_listing_without_a_check_is_read_only_when_two_transfers_agree(caplog):
    from scrapy.http import Request, Response

    from crawler.spiders.listings import ListingCallbacks

    spider, url = _Spider(), "http://127.0.0.1/en/news-sitemap.xml"

    def transfer(body: bytes, meta: dict) -> Response:
        request = Request(url, meta=meta)
        return Response(url, body=body, request=request, flags=["unverified_coding"])

    first = ListingCallbacks.confirm(spider, transfer(BODY, {"retry_times": 1, "download_latency": 0.1}),
                                     "news", url)
    again = first.request
    assert again.url == url and again.dont_filter  # fetched again, whatever the dupefilter saw
    assert "retry_times" not in again.meta and "download_latency" not in again.meta
    assert ListingCallbacks.confirm(spider, transfer(BODY, again.meta), "news", url) is None  # read
    changed = BODY.replace(b"80000195", b"80090195", 1)  # what a changed bit in br decodes to
    with caplog.at_level("WARNING"):
        assert ListingCallbacks.confirm(spider, transfer(changed, again.meta), "news", url).request is None
    assert spider.counts == {"discovery/refetched_unverified": 1, "failed/news/unverified_coding_differs": 1}
    assert ("the two differ (a transfer changed it, or the listing changed between them); no entry"
            in caplog.text)


def test_a_damaged_transfer_s_failure_says_which_damage():
    from twisted.python.failure import Failure

    from crawler.discovery import failure_detail, failure_reason
    from crawler.middlewares import DamagedResponse

    for data, words in ((_changed(_stored(BODY), b"80000195", b"80090195"), "its CRC-32 check failed"),
                        (gzip.compress(BODY)[:-8], "cut short"),
                        (gzip.compress(BODY) + b"junk", "not another gzip member")):
        with pytest.raises(codings.Damaged) as raised:
            codings.decode(data, "gzip")
        failure = Failure(DamagedResponse("http://127.0.0.1/a-1", raised.value, 4))
        assert failure_reason(failure) == "damaged_gzip"
        detail = failure_detail(failure)
        assert detail.startswith("damaged_gzip: ") and words in detail and detail.endswith("(tried 4 times)")


# -- through the crawl --------------------------------------------------------------------------

NEWS_ID, NEWS_CHANGED = b"79010003", b"79090003"  # the news sitemap's id, changed in transfer
PART_ID, PART_CHANGED = b"79010006", b"79090006"  # a `.xml.gz` sitemap's id, changed
ALWAYS_DAMAGED = 79010004  # its page's gzip fails its check on every try
ONCE_DAMAGED = 79010005  # its page's gzip is cut on the first try, whole on the second
TWICE_DAMAGED = 16825046  # junk after its page's gzip on the first two tries
UNVERIFIED = 79010001  # its page comes in br, not asked for, no check: read, counted, warned
GONE_DAMAGED = 79010099  # listed, not on the site: its 404 page's gzip fails its check (not read)


def _part(*ids: str) -> bytes:
    return ('<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>https://www.dw.com/en/story/a-{i}</loc></url>" for i in ids)
            + "</urlset>").encode()


def _site(site: Path) -> dict[str, str]:
    """The sample site made to damage its transfers; the mirror's faults."""
    en = site / "en"
    news = (en / "news-sitemap.xml").read_bytes()
    (en / "news-sitemap.xml").write_bytes(_changed(_stored(news), NEWS_ID, NEWS_CHANGED))
    articles = (en / "article-sitemap.xml").read_text()  # less the ids the damaged parts list
    articles = re.sub(r"<url><loc>[^<]*a-7901000[67]</loc>.*?</url>", "", articles)
    (en / "part-pages.xml").write_text(articles.replace(
        "</urlset>", f"<url><loc>https://www.dw.com/en/story/a-{GONE_DAMAGED}</loc></url></urlset>"))
    (en / "article-sitemap.xml").write_text(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<sitemap><loc>https://www.dw.com/en/{name}</loc></sitemap>"
                  for name in ("part-pages.xml", "part-members.xml.gz", "part-crc.xml.gz", "part-cut.xml.gz",
                               "part-br.xml", "part-br-once.xml"))
        + "</sitemapindex>")
    # Two members and zero padding: read whole (79010001 and 79010002 are the news sitemap's,
    # so listed here only).
    members = _part("79010001", "79010002")
    (en / "part-members.xml.gz").write_bytes(
        gzip.compress(members[:90]) + gzip.compress(members[90:]) + b"\0" * 64)
    (en / "part-crc.xml.gz").write_bytes(_changed(_stored(_part("79010006")), PART_ID, PART_CHANGED))
    (en / "part-cut.xml.gz").write_bytes(gzip.compress(_part("79010007"))[:-8])
    (en / "part-br.xml").write_bytes(brotli.compress(_part("79010002")))  # no check: fetched twice
    # In br once, then with no coding (the br bytes as they are): the second transfer is
    # compared with the first, not read alone (tester try28, item 6: it was, as bad XML).
    (en / "part-br-once.xml").write_bytes(brotli.compress(_part("79010001")))
    pages = {i: next(site.rglob(f"*-{i}.html")).relative_to(site).with_suffix("") for i in
             (ALWAYS_DAMAGED, ONCE_DAMAGED, TWICE_DAMAGED, UNVERIFIED)}
    page = site / f"{pages[UNVERIFIED]}.html"  # served in br, which carries no check
    page.write_bytes(brotli.compress(page.read_bytes()))
    # robots.txt damaged once: read on its retry (damaged on every try, it would disallow the
    # whole crawl, RFC 9309: tests/test_politeness.py).
    return {f"/{pages[UNVERIFIED]}": "encoding=br", f"/en/story/a-{UNVERIFIED}": "encoding=br",
            "/en/part-br.xml": "encoding=br", "/en/part-br-once.xml": "encoding=br times=1",
            "/robots.txt": "gzip=crc times=1", f"/en/story/a-{GONE_DAMAGED}": "gzip=crc",
            "/en/news-sitemap.xml": "encoding=gzip", f"/{pages[ALWAYS_DAMAGED]}": "gzip=crc:smelting",
            f"/{pages[ONCE_DAMAGED]}": "gzip=cut times=1", f"/{pages[TWICE_DAMAGED]}": "gzip=junk times=2"}


@dataclass
class Crawled:
    returncode: int
    stderr: str
    stats: dict
    outcome: str
    requested: list[str]
    archive: Path
    site: Path


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Crawled:
    import json

    from tests.conftest import ROOT
    from tests.crawling import Mirror, copy_site, crawl, last_run, running_mirror

    base = tmp_path_factory.mktemp("codings")
    site = copy_site(ROOT / "data" / "sample-site", base / "site")
    faults = base / "faults.json"
    faults.write_text(json.dumps(_site(site)))
    log = base / "access.log"
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)
        run = crawl(mirror, base / "dw.db", "-a", "lang=en", "-a", "sources=news,articles")
        row = last_run(base / "dw.db")
    return Crawled(run.returncode, run.stderr, row["stats"], row["outcome"], mirror.paths(),
                   base / "dw.db", site)


def test_a_listing_whose_gzip_fails_its_check_is_retried_counted_and_gives_no_entry(damaged):
    stats, stderr = damaged.stats, damaged.stderr
    assert damaged.returncode == 0, stderr[-3000:]
    assert damaged.outcome == "ok"  # the other listings gave the run its work
    # Never an id the listing did not name (the tester's 404, remembered gone), nor any of theirs.
    assert not [p for p in damaged.requested if NEWS_CHANGED.decode() in p or PART_CHANGED.decode() in p]
    assert not [p for p in damaged.requested if re.search(r"a-(79010003|79010006|79010007)$", p)]
    # A 404's page is not read: its gzip failing its check changes nothing (gone, remembered).
    assert (stats["dw/gone"], stats["dw/gone/http_404"]) == (1, 1)
    assert damaged.requested.count(f"/en/story/a-{GONE_DAMAGED}") == 1
    # Retried as a damaged transfer is (Scrapy's RETRY_TIMES, 3: four tries), then counted.
    assert damaged.requested.count("/en/news-sitemap.xml") == 4
    assert damaged.requested.count("/en/part-crc.xml.gz") == 4
    assert stats["dw/failed/news/damaged_gzip"] == 1
    assert stats["dw/failed/articles/damaged_gzip"] == 2
    assert ("Cannot read the gzipped articles listing https://www.dw.com/en/part-crc.xml.gz: its"
            " CRC-32 check failed: the data was changed in transfer; no entry taken from it (tried 4"
            " times)") in stderr
    # One line for the damage, saying which (tester-try27 item 9): Scrapy's "Gave up retrying"
    # ERROR, which said only `damaged_gzip`, at DEBUG.
    assert re.search(r"Failed to fetch \S+/en/news-sitemap.xml \(news\): damaged_gzip: its CRC-32"
                     r" check failed: the data was changed in transfer \(tried 4 times\)", stderr)
    assert "Gave up retrying" not in stderr
    # The spider's retries of `.xml.gz` listings carry none of Scrapy's internal meta keys.
    assert "internal meta keys" not in stderr
    closing = next(line for line in stderr.splitlines() if "Crawl finished" in line)
    assert "'failed/news/damaged_gzip': 1" in closing and "'failed/articles/damaged_gzip': 2" in closing
    # Two members and zero padding: read whole.
    assert "/en/story/a-79010002" in damaged.requested


def test_an_article_whose_gzip_fails_its_check_is_retried_then_a_counted_failure(damaged):
    from tests.crawling import archived_ids, query

    stats = damaged.stats
    assert stats["dw/failed/article/damaged_gzip"] == 1
    assert stats["dw/failed"] == 1
    # Damaged on the first tries only: retried, and archived as DW published it.
    assert archived_ids(damaged.archive) >= {ONCE_DAMAGED, TWICE_DAMAGED, 79010001, 79010002}
    assert ALWAYS_DAMAGED not in archived_ids(damaged.archive)
    # Its text as the damage changed it (`smelting` -> `rmelting`): archived so before.
    assert not query(damaged.archive, "SELECT id FROM articles WHERE body LIKE '%rmelting%'")
    # robots.txt once; news sitemap, two `.xml.gz`, the page always damaged: 3 retries each; then 1, 2
    assert stats["retry/reason_count/damaged_gzip"] == 1 + 3 + 2 * 3 + 3 + 1 + 2
    assert damaged.requested.count("/robots.txt") == 2  # read on its retry
    assert "dw/robotstxt/unreachable" not in stats
    # One warning each, naming the damage (was Scrapy's "Gave up retrying" ERROR as well).
    assert re.search(rf"Failed to fetch \S+-{ALWAYS_DAMAGED} \(article\): damaged_gzip: its CRC-32"
                     r" check failed", damaged.stderr)
    page = next(damaged.site.rglob(f"*-{ONCE_DAMAGED}.html")).read_text()
    [(title,)] = query(damaged.archive, "SELECT title FROM articles WHERE id = ?", ONCE_DAMAGED)
    assert title in page
    assert not re.search(r"Traceback|Error processing", damaged.stderr)


def test_a_page_in_a_coding_without_a_check_is_read_counted_and_warned_once(damaged):
    from tests.crawling import archived_ids

    # tester-try27 item 2: br was asked for (Scrapy's Accept-Encoding); now it is not, and a
    # server that sends it all the same is read, counted, and warned of once.
    assert UNVERIFIED in archived_ids(damaged.archive)
    # The page, and a listing fetched twice (read when both transfers agree).
    assert damaged.stats["dw/unverified_coding/br"] == 4  # the page, part-br.xml twice, part-br-once.xml once
    assert damaged.stats["dw/unasked_coding/br"] == 4
    assert not [key for key in damaged.stats if key.startswith("dw/unverified_coding/") and
                not key.endswith("/br")]  # gzip (the damaged ones retried whole) is checked
    warnings = [line for line in damaged.stderr.splitlines() if "carries no check" in line]
    assert len(warnings) == 1
    assert re.search(rf"(-{UNVERIFIED}|/en/part-br.xml|/en/part-br-once.xml) came in the content"
                     r" coding 'br'", warnings[0])
    assert damaged.requested.count("/en/part-br.xml") == 2
    assert damaged.stats["dw/discovery/refetched_unverified"] == 2  # part-br.xml, part-br-once.xml
    assert not [key for key in damaged.stats if "unverified_coding_differs" in key and "articles" not in key]


def test_a_second_transfer_with_no_coding_is_compared_with_the_first_not_read_alone(damaged):
    """README: a listing in a coding without a check is read only when both transfers decode to
    the same bytes; the second came with no coding (tester try28, item 6: read alone, bad XML)."""
    assert damaged.requested.count("/en/part-br-once.xml") == 2
    assert damaged.stats["dw/failed/articles/unverified_coding_differs"] == 1
    assert "dw/failed/bad_xml" not in damaged.stats
    assert re.search(r"Cannot read the articles listing \S+/en/part-br-once.xml: it came in a content"
                     r" coding without a check, was fetched again, and the two differ", damaged.stderr)


def test_the_warc_keeps_each_damaged_transfer_as_received(damaged):
    from warcio.archiveiterator import ArchiveIterator

    records = []
    for path in sorted(Path(f"{damaged.archive}-warc").glob("*.warc.gz")):
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response" and f"a-{ALWAYS_DAMAGED}" in record.rec_headers.get_header(
                        "WARC-Target-URI"):
                    records.append((record.http_headers.get_header("Content-Encoding"),
                                    record.content_stream().read()))
    assert len(records) == 4  # every try, as it came
    for coding, body in records:
        assert coding == "gzip"
        with pytest.raises(codings.Damaged, match="CRC-32"):
            codings.decode(body, "gzip")

def test_the_rebuild_names_each_damaged_transfer_as_the_crawl_does(damaged, tmp_path):
    """`crawler.reextract` skips a damaged record under the crawl's reason (`damaged_gzip`);
    before, `skipped/undecodable`, a name the crawl never gives."""
    import json
    import sys

    from tests import forkserver
    from tests.conftest import ROOT

    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(tmp_path / "re.db"),
                          "--workers", "1", f"{damaged.archive}-warc"], cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = json.loads(run.stdout.splitlines()[-1])
    assert "dw/failed/article/damaged_gzip" in damaged.stats
    # The article pages' damaged tries: 4 of the page always damaged, 1 cut, 2 with junk.
    assert counts["skipped/damaged_gzip"] == 4 + 1 + 2, counts
    assert not [k for k in counts if "undecodable" in k], counts
    assert "cannot undo the gzip coding: its CRC-32 check failed" in run.stderr


def test_a_sitemap_index_not_followed_for_its_depth_says_so(tmp_path):
    from tests.conftest import ROOT
    from tests.crawling import copy_site, crawl, last_run, served

    site = copy_site(ROOT / "data" / "sample-site", tmp_path / "site")
    (site / "en" / "part.xml").write_text((site / "en" / "article-sitemap.xml").read_text())
    (site / "en" / "article-sitemap.xml").write_text(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>https://www.dw.com/en/part.xml</loc></sitemap></sitemapindex>")
    with served(site, tmp_path / "access.log") as mirror:
        run = crawl(mirror, tmp_path / "dw.db", "-a", "lang=en", "-a", "sources=articles",
                    "-s", "DW_SITEMAP_DEPTH=0")
    row = last_run(tmp_path / "dw.db")
    assert run.returncode == 3
    said = ("no sitemap or feed listed any entry: sitemap indexes named 1 sitemaps, not read because"
            " they are deeper than DW_SITEMAP_DEPTH")
    assert row["outcome"] == said
    assert f"dw crawl failed: {said}" in run.stderr + run.stdout
    assert row["stats"]["dw/skipped/sitemap_too_deep"] == 1
    assert ("Not following sitemap https://www.dw.com/en/part.xml listed in"
            " https://www.dw.com/en/article-sitemap.xml: deeper than DW_SITEMAP_DEPTH=0") in run.stderr
    assert "/en/part.xml" not in mirror.paths()
