"""WARC as the wild writes it, read back whole: every `Content-Encoding` line and value read as
Scrapy's HttpCompressionMiddleware and browsers read them, so that `python -m crawler.reextract`
rebuilds every article the crawl stored (one crawl against a loopback server that sends those
heads, `tests/wire.py`, then a re-extraction of its WARC); chunked bodies with extensions and
trailers; a WARC gzipped as one member; whatever is skipped, counted. The variants are tests of
the pure functions (`content_codings`, `dechunk`, `gzipped_as_one`)."""

from __future__ import annotations

import gzip
import io
import sqlite3
import zlib

import pytest

from crawler.warc.read import content_codings, dechunk, decode, gzipped_as_one, scan
from tests.crawling import archived_ids, crawl, last_run
from tests.test_wild_kinds import _chunked, _head, _warc_record, reextract_counts
from tests.wire import article_page, response, serving


def _brotli(data: bytes) -> bytes:
    import brotli

    return brotli.compress(data)


def _zstd(data: bytes) -> bytes:
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    return zstd.compress(data)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


# -- Content-Encoding as Scrapy and browsers read it ------------------------------------------------

@pytest.mark.parametrize("lines, undo, kept", [
    (["gzip", "br"], ["br", "gzip"], []),  # two lines: one list, the last applied undone first
    (["gzip, br"], ["br", "gzip"], []),
    ([b"GZip ,  BR"], ["br", "gzip"], []),
    (["gzip, identity"], ["gzip"], []),  # identity is no coding, wherever it stands
    (["identity", "gzip"], ["gzip"], []),
    (["identity"], [], []),
    (["none"], [], ["none"]), (["utf-8"], [], ["utf-8"]), (["binary"], [], ["binary"]),  # unknown: left
    (["gzip", "none"], [], ["gzip", "none"]),  # Scrapy stops at the first it does not know
    (["none", "gzip"], ["gzip"], ["none"]),
    (["x-gzip"], ["x-gzip"], []), (["deflate"], ["deflate"], []), (["zstd"], ["zstd"], []),
    (["gzip,,br", ""], ["br", "gzip"], []),
    ([], [], []),
])
def test_content_codings_are_read_as_scrapy_reads_them(lines, undo, kept):
    assert content_codings(lines) == (undo, kept)


@pytest.mark.parametrize("framed", [
    b"5\r\nHello\r\n6\r\n world\r\n0\r\n\r\n",
    b"5;name=value\r\nHello\r\n6;a;b=\"c;d\"\r\n world\r\n0;last\r\n\r\n",  # chunk extensions
    b"5\r\nHello\r\n6\r\n world\r\n0\r\nX-Checksum: 1234\r\nX-Other: a\r\n\r\n",  # a trailer section
    b"5\nHello\n6\n world\n0\n\n",  # bare LF
    b"0005\r\nHello\r\n6 \r\n world\r\n000\r\n\r\n",  # leading zeros, a space before CRLF
    b"5\r\nHello\r\n6\r\n world\r\n",  # the last chunk never came: what came is kept
])
def test_chunked_bodies_with_extensions_and_trailers(framed):
    assert dechunk(framed) == b"Hello world"


@pytest.mark.parametrize("broken", [b"5\r\nHel", b"5\r\nHelloX6\r\n world\r\n0\r\n\r\n", b"zz\r\nHello\r\n"])
def test_broken_chunk_framing_is_an_error(broken):
    with pytest.raises(ValueError):
        dechunk(broken)


# -- one crawl of pages in every coding, then reextract of its WARC -----------------------------------

CODINGS = {  # content id: (Content-Encoding lines, how the body is coded)
    79500101: (["gzip", "br"], lambda b: _brotli(gzip.compress(b))),  # two lines
    79500102: (["gzip, br"], lambda b: _brotli(gzip.compress(b))),
    79500103: (["none"], bytes), 79500104: (["utf-8"], bytes), 79500105: (["binary"], bytes),
    79500106: (["gzip, identity"], gzip.compress),
    79500107: (["identity"], bytes),
    79500108: (["zstd"], _zstd),
    79500109: (["X-GZIP"], gzip.compress),
    79500110: (["deflate"], _raw_deflate),
    79500111: (["identity", "deflate"], zlib.compress),
}


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    work = tmp_path_factory.mktemp("codings")

    def respond(hit):
        content_id = int(hit.path.rsplit("a-", 1)[1]) if "/a-" in hit.path else None
        if content_id not in CODINGS:
            return None
        lines, code = CODINGS[content_id]
        return response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                   *(("Content-Encoding", line) for line in lines)],
                        code(article_page(content_id)))

    urls = ",".join(f"https://www.dw.com/en/story/a-{i}" for i in CODINGS)
    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}")
    again = work / "again.db"
    counts = reextract_counts(again, *sorted((work / "dw.db-warc").glob("*.warc.gz")))
    return run, work / "dw.db", again, counts


def _hashes(db) -> dict[int, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, content_hash FROM articles"))


def test_the_crawl_reads_every_coding(coded):
    run, db, _, _ = coded
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == set(CODINGS)
    assert not {k for k in last_run(db)["stats"] if k.startswith("dw/failed")}


def test_reextract_reads_back_every_article_the_crawl_stored(coded):
    _, db, again, counts = coded
    assert counts["new"] == len(CODINGS), counts
    assert not {k for k in counts if k.startswith(("skipped/undecodable", "skipped/damaged"))}, counts
    assert _hashes(again) == _hashes(db)


# -- other tools' WARCs: chunked with trailers, gzipped as one member ----------------------------------

def _record(content_id: int, framing: bytes = b"", trailer: bytes = b"", block: str | None = "sha1",
            payload_over_entity: bool = True) -> bytes:
    """A response record of an article page, gzip-coded and chunked with extensions and/or a
    trailer, its payload digest over the entity body (WARC 1.1 §6.3.2)."""
    body = gzip.compress(article_page(content_id))
    sent = _chunked(body)
    if framing:
        sent = sent.replace(b"\r\n", framing + b"\r\n", 1)  # an extension on the first size line
    if trailer:
        sent = sent[: -len(b"\r\n")] + trailer + b"\r\n"
    return _warc_record(f"https://www.dw.com/en/tool/a-{content_id}",
                        _head(b"Content-Encoding: gzip", b"Transfer-Encoding: chunked"), sent,
                        block=block, payload_over=body if payload_over_entity else None)


TRAILERS = {
    79500121: dict(trailer=b"X-Checksum: 5d41402abc4b2a76\r\n", block=None),  # the entity digest vouches
    79500122: dict(trailer=b"X-Checksum: 5d41402abc4b2a76\r\n"),  # the block digest vouches
    79500123: dict(framing=b";ext=1", trailer=b"Expires: Wed, 21 Oct 2026 07:28:00 GMT\r\nX-A: b\r\n"),
    79500124: dict(framing=b";name=\"v\"", block=None),
}


def test_chunked_records_with_trailers_are_read_and_decoded(tmp_path):
    path = tmp_path / "tool.warc.gz"
    path.write_bytes(b"".join(gzip.compress(_record(i, **kw)) for i, kw in TRAILERS.items()))
    entries = list(scan(path, keep=lambda e: True))
    assert [(e.kind, e.problem, e.payload_digest) for e in entries] == [("response", "", "entity_body")] * 4
    assert [decode(e) for e in entries] == [article_page(i) for i in TRAILERS]


ONE_MEMBER = (79500131, 79500132, 79500133)


def test_a_warc_gzipped_as_one_member_is_read_through(tmp_path):
    whole = b"".join(_record(i) for i in ONE_MEMBER)
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip.compress(whole))
    with path.open("rb") as handle:
        assert gzipped_as_one(handle)
    entries = list(scan(path, keep=lambda e: True))
    assert [(e.kind, e.problem) for e in entries] == [("response", "")] * 3
    assert [decode(e) for e in entries] == [article_page(i) for i in ONE_MEMBER]
    offsets = [e.offset for e in entries]  # in the ungzipped file, where each record begins
    assert offsets == sorted(set(offsets)) and all(whole[o:].startswith(b"WARC/1.0\r\n") for o in offsets)


def test_per_record_gzip_is_not_taken_for_one_member(tmp_path):
    path = tmp_path / "records.warc.gz"
    path.write_bytes(b"".join(gzip.compress(_record(i)) for i in ONE_MEMBER))
    with path.open("rb") as handle:
        assert not gzipped_as_one(handle)
    with io.BytesIO(gzip.compress(_record(ONE_MEMBER[0]) + b"\r\n\r\n")) as single:
        assert not gzipped_as_one(single)  # one record, blank lines after it


def test_reextract_imports_trailers_and_one_member_files_and_counts_what_it_skips(tmp_path):
    trailers = tmp_path / "tool.warc.gz"
    trailers.write_bytes(b"".join(gzip.compress(_record(i, **kw)) for i, kw in TRAILERS.items()))
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(b"".join(_record(i) for i in ONE_MEMBER)))
    # A later member holding two records: warcio stops there; what is not read is counted.
    mixed = tmp_path / "mixed.warc.gz"
    mixed.write_bytes(gzip.compress(_record(79500141)) + gzip.compress(_record(79500142) + _record(79500143)))
    db = tmp_path / "dw.db"
    counts = reextract_counts(db, trailers, whole, mixed)
    assert archived_ids(db) == {*TRAILERS, *ONE_MEMBER, 79500141, 79500142}, counts
    assert counts["new"] == len(TRAILERS) + len(ONE_MEMBER) + 2
    assert {k: v for k, v in counts.items() if k.startswith("skipped/")} == {"skipped/damaged": 1}
