"""A remote WARC read as it arrives: only the DW responses handed on, nothing else stored.

FastWARC iterates the HTTP response body itself (gzip members decompressed as they stream);
each `response` record's `WARC-Target-URI` is checked against DW's hosts before its block is
read, so the records of other hosts cost only their decompression. `benchmarks/backfill.py`
measures this against FastWARC's bare iteration and warcio's.

`WarcStream` is what FastWARC reads: the HTTP body from a byte position (skipping to it when
the server ignored `Range`), its network failures turned into `StreamBroken` (the download is
resumed from the last saved position), and the bytes since the last record began kept, so that
a file that ends inside a record (truncated) or stops parsing early (damaged) is found: FastWARC
itself ends quietly there.
"""

from __future__ import annotations

import http.client
import io
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import requests
import urllib3
from fastwarc.warc import ArchiveIterator, WarcRecordType
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from crawler import dw
from crawler.backfill.client import Failed, PoliteClient

_SKIP_CHUNK = 1 << 20
NETWORK_ERRORS = (urllib3.exceptions.HTTPError, requests.RequestException, http.client.HTTPException, OSError)


class StreamBroken(Exception):
    """The download broke off (a cut connection, nothing for the timeout): resumable."""


class Damaged(Exception):
    """The WARC itself cannot be read on: a damaged gzip member, a record cut off by its end."""


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


def member(record, block: bytes) -> bytes:
    """The record, its header lines as read and its block, as one gzip member."""
    lines = [record.headers.status_line.encode()]
    lines += [name + b": " + value for name, value in record.headers.items_bytes()]
    return zlib.compress(b"\r\n".join(lines) + b"\r\n\r\n" + block + b"\r\n\r\n", 3, 31)


class WarcStream:
    """An HTTP body as FastWARC reads it (`read`, `tell`), from byte `skip` of what the server
    sends (a server that ignored `Range`); `expected`: the bytes it announced after those."""

    def __init__(self, raw, skip: int = 0, expected: int | None = None):
        self.raw, self.skip, self.expected = raw, skip, expected
        self.pos = 0  # bytes handed to the reader
        # (offset, bytes) handed on since the last record began
        self.chunks: deque[tuple[int, bytes]] = deque()
        self.last_record = 0  # where the last record seen began
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        try:
            while self.skip:
                dropped = self.raw.read(min(self.skip, _SKIP_CHUNK))
                if not dropped:
                    raise StreamBroken(f"the answer ended {self.skip} bytes before the resume position")
                self.skip -= len(dropped)
            data = self.raw.read(size if size is not None and size >= 0 else _SKIP_CHUNK)
        except NETWORK_ERRORS as exc:
            raise StreamBroken(f"{type(exc).__name__}: {exc}") from None
        if not data:
            self.ended = True
        chunks = self.chunks
        chunks.append((self.pos, data))
        while len(chunks) > 1 and chunks[1][0] <= self.last_record:  # no copy: whole reads dropped
            chunks.popleft()
        self.pos += len(data)
        return data

    def tell(self) -> int:
        return self.pos

    def record_starts(self, position: int) -> None:
        """A record begins at `position`: everything before it was read whole."""
        self.last_record = position

    def problem_at_end(self) -> str | None:
        """Why the stream, read as far as the WARC reader went, did not end with whole records:
        data left unread (the reader stopped at damage), fewer bytes than announced, or a last
        record cut short; None when it ended well."""
        if not self.ended and self.read(1 << 16):
            return f"reading stopped at byte {self.last_record} of the file: damaged data after it"
        if self.expected is not None and self.pos < self.expected:
            return f"the answer ended after {self.pos} of {self.expected} bytes"
        if not self.chunks:
            return None
        tail = b"".join(data for _, data in self.chunks)
        return whole_records(tail[max(self.last_record - self.chunks[0][0], 0):])


def whole_records(data: bytes) -> str | None:
    """None when `data` is a run of whole WARC records (gzip members, or plain records), else
    what is wrong with its end."""
    if not data.strip():
        return None
    if data[:2] == b"\x1f\x8b":
        while data:
            decompressor = zlib.decompressobj(31)
            try:
                pending = data
                while pending and not decompressor.eof:
                    decompressor.decompress(pending, 1 << 20)
                    pending = decompressor.unconsumed_tail
            except zlib.error as exc:
                return f"a damaged gzip member at its end ({exc})"
            if not decompressor.eof:
                return "the file ends inside a record (truncated)"
            data = decompressor.unused_data
            if data[:2] != b"\x1f\x8b" and data.strip(b"\x00\r\n "):
                return "data that is no gzip member after its last record"
            data = data if data[:2] == b"\x1f\x8b" else b""
        return None
    try:
        for record in WarcioIterator(io.BytesIO(data)):
            record.raw_stream.read()
            if getattr(record.raw_stream, "limit", 0) > 0:
                return "the file ends inside a record (truncated)"
    except Exception as exc:  # noqa: BLE001 - warcio raises its own for any parse failure
        return f"a damaged record at its end ({type(exc).__name__})"
    return None


@dataclass
class Passing:
    """One response record as it passes: `offset` where it begins in the stream; `uri` and
    `date` (its WARC-Date as written) when it is on a DW host, else None (handed on only
    because a checkpoint was due); `read()` its whole gzip member."""

    offset: int
    uri: str | None
    date: str
    record: object

    def read(self) -> bytes:
        return member(self.record, self.record.reader.read())


def open_stream(client: PoliteClient, url: str, position: int, counts: Counter) -> tuple[WarcStream, object]:
    """The WARC at `url` from byte `position` (a record's start): `Range` when the server takes
    it, else read and dropped up to there. Raises `Failed` / `Refused` from the client (and
    `Failed` for an answer that is neither 200 nor 206)."""
    headers = {"Range": f"bytes={position}-"} if position else None
    response = client.get(url, headers=headers, stream=True)
    if response.status_code not in (200, 206):
        response.close()
        raise Failed(url, f"http_{response.status_code}")
    skip = 0
    if position and response.status_code == 200:
        skip = position
        counts["range_ignored"] += 1
    try:
        expected = int(response.headers.get("Content-Length", "")) - skip
    except ValueError:
        expected = None
    return WarcStream(response.raw, skip, expected), response


def passing_records(stream: WarcStream, counts: Counter, checkpoint_due: Callable[[], bool],
                    hosts: frozenset[str] = dw.DW_HOSTS) -> Iterator[Passing]:
    """Each `response` (or `revisit`) record of the WARC stream whose target is on one of `hosts`, and, when
    `checkpoint_due()` says so, the next record whatever its host (a position to save); the
    others skipped as they pass. Counts `records` (responses seen). Raises `StreamBroken`,
    `Damaged` (at the end, or where FastWARC stopped)."""
    def keep(record) -> bool:
        counts["records"] += 1
        stream.record_starts(record.stream_pos)
        return host_of(record.headers.get("WARC-Target-URI", "")) in hosts or checkpoint_due()

    records = ArchiveIterator(stream, record_types=WarcRecordType.response | WarcRecordType.revisit,
                              parse_http=False, func_filter=keep, fsspec_args=False)
    try:
        for record in records:
            uri = record.headers.get("WARC-Target-URI", "").strip().strip("<>").strip()
            on_host = host_of(uri) in hosts
            yield Passing(record.stream_pos, uri if on_host else None,
                          record.headers.get("WARC-Date", ""), record)
    except (OSError, ValueError) as exc:  # FastWARC on a damaged member or header
        raise Damaged(f"{type(exc).__name__}: {exc}") from None
    problem = stream.problem_at_end()
    if problem:
        raise Damaged(problem)


def clock(interval: float) -> Callable[[], bool]:
    """A callable that is True once every `interval` seconds (then False until the next time)."""
    due = [time.monotonic() + interval]

    def ready() -> bool:
        now = time.monotonic()
        if now < due[0]:
            return False
        due[0] = now + interval
        return True
    return ready
