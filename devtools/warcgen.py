"""WARC files like the web archives' own, for tests, demos and benchmarks (not installed).

`Page` is one capture: URL, WARC-Date, body, Content-Type (and `revisit` for a revisit record
instead of a response, as a crawler writes for content it has seen). `write_warc(path, pages)`
writes them as WARC/1.0 `response` records (each followed by its `request` and a `metadata`
record, as Common Crawl's CC-NEWS files hold them), one gzip member per record, and returns
where each response's member is (offset, length: what a CDX line says). `dw_pages()` gives the
real DW pages at hand (the sample site, and
`../shared/dw/pages/` when present) with their dw.com URLs; `other_host_pages()` pages of other
news sites.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import dw

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SITE = ROOT / "data" / "sample-site"
SHARED_PAGES = ROOT.parent / "shared" / "dw" / "pages"
_SAVED = re.compile(r"^(?P<lang>[a-z-]+)_(?P<date>\d{4}-\d{2}-\d{2})_a-(?P<id>\d+)")


@dataclass(frozen=True)
class Page:
    """One capture to write: `date` is a WARC-Date (`2024-01-30T10:00:00Z`)."""

    url: str
    date: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    revisit: bool = False


def dw_pages(date: str = "2024-01-30T10:00:00Z") -> list[Page]:
    """Every article page of the sample site, and the real saved pages of `../shared/dw/pages/`
    (their date from their file name) when that folder is here, at their dw.com URLs."""
    pages = []
    for path in sorted(SAMPLE_SITE.rglob("a-*.html")):
        rel = path.relative_to(SAMPLE_SITE).as_posix().removesuffix(".html")
        pages.append(Page(f"{dw.WWW}/{quote(rel)}", date, path.read_bytes()))
    if SHARED_PAGES.is_dir():
        for path in sorted(SHARED_PAGES.glob("*.html")):
            m = _SAVED.match(path.name)
            if m:
                url = f"{dw.WWW}/{m['lang']}/saved/a-{m['id']}"
                pages.append(Page(url, f"{m['date']}T12:00:00Z", path.read_bytes()))
    return pages


_WORDS = ("news report government market city football weather minister election climate police"
          " court energy school health science travel music film art economy border talks").split()


def other_host_pages(count: int, date: str = "2024-01-30T10:00:00Z", size: int = 40_000,
                     seed: int = 1) -> Iterator[Page]:
    """`count` news pages of other hosts (some with `dw` in their names), about `size` bytes each."""
    rng = random.Random(seed)
    hosts = ("www.example-news.com", "news.example.org", "dw.example.net", "www.dwnews.example",
             "www.bbc.example.co.uk", "edition.example.com")
    for n in range(count):
        words = " ".join(rng.choice(_WORDS) for _ in range(size // 7))
        body = (f"<!doctype html><html><head><title>Story {n}</title></head><body><article><h1>Story {n}"
                f"</h1><p>{words}</p></article></body></html>").encode()
        yield Page(f"https://{rng.choice(hosts)}/{rng.choice(_WORDS)}/story-{n}", date, body)


def _member(record, writer: WARCWriter, level: int) -> bytes:
    writer.out = buffer = io.BytesIO()
    writer.write_record(record)
    return zlib.compress(buffer.getvalue(), level, 31)


def records(page: Page, writer: WARCWriter, level: int = 3) -> list[bytes]:
    """The gzip members of one capture: response, request, metadata."""
    http = StatusAndHeaders(f"{page.status} OK", [("Content-Type", page.content_type),
                                                  ("Content-Length", str(len(page.body)))],
                            protocol="HTTP/1.1")
    digest = hashlib.sha1(page.url.encode() + page.date.encode()).hexdigest()
    if page.revisit:
        response = writer.create_warc_record(
            page.url, "revisit", http_headers=http,
            warc_headers_dict={"WARC-Date": page.date, "WARC-Refers-To-Target-URI": page.url,
                               "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"})
    else:
        response = writer.create_warc_record(page.url, "response", payload=io.BytesIO(page.body),
                                             length=len(page.body), http_headers=http,
                                             warc_headers_dict={"WARC-Date": page.date})
    host = page.url.split("/")[2]
    request = writer.create_warc_record(
        page.url, "request", http_headers=StatusAndHeaders(
            f"GET /{page.url.split('/', 3)[-1]} HTTP/1.1", [("Host", host)], is_http_request=True),
        warc_headers_dict={"WARC-Date": page.date,
                           "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")})
    metadata = writer.create_warc_record(
        page.url, "metadata", payload=io.BytesIO(f"fetchTimeMs: 12\nid: {digest}\n".encode()),
        warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Date": page.date,
                           "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")})
    return [_member(r, writer, level) for r in (response, request, metadata)]


def write_warc(path: Path, pages: Iterable[Page], level: int = 3) -> list[tuple[int, int]]:
    """Write `pages` to a new `.warc.gz` at `path`; (offset, length) of each page's response
    (or revisit) record's gzip member."""
    writer = WARCWriter(None, gzip=False, warc_version="1.0")
    where = []
    with open(path, "wb") as out:
        info = writer.create_warcinfo_record(path.name, {"software": "dw-archive devtools/warcgen"})
        out.write(_member(info, writer, level))
        for page in pages:
            members = records(page, writer, level)
            where.append((out.tell(), len(members[0])))
            for member in members:
                out.write(member)
    return where
