"""A remote WARC read as it arrives: only the DW article responses kept, nothing else stored.

FastWARC iterates the HTTP response body itself (gzip members decompressed as they stream);
each `response` record's `WARC-Target-URI` is checked against DW's hosts before its block is
read, so the records of other hosts cost only their decompression. `benchmarks/backfill.py`
measures this against FastWARC's bare iteration and warcio's.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from crawler import dw
from crawler.backfill.client import Failed, PoliteClient

_SKIP_CHUNK = 1 << 20


def host_of(uri: str) -> str:
    """The lowercased host of an absolute URI (`<...>` as wget writes it allowed), cheaply."""
    uri = uri.strip("<> ")
    start = uri.find("//")
    rest = uri[start + 2:] if start >= 0 else uri
    end = len(rest)
    for stop in "/?#":
        i = rest.find(stop)
        if 0 <= i < end:
            end = i
    host = rest[:end].rpartition("@")[2]
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def dw_filter(counts: Counter, hosts: frozenset[str] = dw.DW_HOSTS) -> Callable:
    """FastWARC's `func_filter`: True for a record whose target is on one of `hosts`; counts every
    response record it sees (`records`)."""
    def keep(record) -> bool:
        counts["records"] += 1
        return host_of(record.headers.get("WARC-Target-URI", "")) in hosts
    return keep


def member(record, block: bytes) -> bytes:
    """The record, its header lines as read and its block, as one gzip member."""
    lines = [record.headers.status_line.encode()]
    lines += [name + b": " + value for name, value in record.headers.items_bytes()]
    return zlib.compress(b"\r\n".join(lines) + b"\r\n\r\n" + block + b"\r\n\r\n", 3, 31)


class _Skipping:
    """A raw stream with its first `skip` bytes read away (a server that ignored `Range`)."""

    def __init__(self, raw, skip: int):
        self.raw, self.skip = raw, skip

    def read(self, size: int = -1) -> bytes:
        while self.skip:
            dropped = self.raw.read(min(self.skip, _SKIP_CHUNK))
            if not dropped:
                break
            self.skip -= len(dropped)
        return self.raw.read(size)


def dw_records(client: PoliteClient, url: str, position: int, counts: Counter
               ) -> Iterator[tuple[int, bytes, str]]:
    """(offset, gzip member, target URI) of each DW `response` record with status 200 in the WARC
    at `url`, from byte `position` on (a gzip member boundary: `Range` when the server takes it).

    Raises `Failed` / `Refused` from the client, `OSError` / `ValueError` when the stream breaks
    or is no WARC.
    """
    headers = {"Range": f"bytes={position}-"} if position else None
    response = client.get(url, headers=headers, stream=True)
    if response.status_code not in (200, 206):
        response.close()
        raise Failed(url, f"http_{response.status_code}")
    raw = response.raw
    if position and response.status_code == 200:
        raw = _Skipping(raw, position)
        counts["range_ignored"] += 1
    try:
        for offset, data, target in filter_records(raw, counts):
            yield position + offset, data, target
    finally:
        response.close()


def filter_records(stream, counts: Counter) -> Iterator[tuple[int, bytes, str]]:
    """(offset in `stream`, gzip member, target URI) of each DW `response` record with status 200
    in a WARC stream (a file or an HTTP body), the others skipped as they pass; counts
    `records` (responses seen) and `skipped/not_200`."""
    records = ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=False,
                              func_filter=dw_filter(counts), fsspec_args=False)
    for record in records:
        block = record.reader.read()
        if not block.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200", b"HTTP/2 200")):
            counts["skipped/not_200"] += 1
            continue
        yield record.stream_pos, member(record, block), record.headers.get("WARC-Target-URI", "")
