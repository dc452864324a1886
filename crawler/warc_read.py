"""Reading WARC files, ours and other tools' (wget, Common Crawl, Webrecorder), damage and all.

`scan(path)` walks a file's records and says what each is, without stopping at damage: a
record whose gzip member or headers cannot be parsed, whose block is shorter than its
`Content-Length` (a truncated last record) or whose digest does not match is reported as
damaged, and reading resumes at the next gzip member (or `WARC/1.x` line, uncompressed).
`read_payload(path, offset)` returns one response's HTTP payload, content-decoded.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_MAGICS = (b"WARC/1.1\r\n", b"WARC/1.0\r\n")
_SEARCH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One record as found in a file. `kind` is the WARC-Type, or `damaged` / `truncated`."""

    path: str
    offset: int
    kind: str
    uri: str = ""
    date: str = ""  # WARC-Date as the archive writes dates: `YYYY-MM-DDTHH:MM:SSZ`
    status: int | None = None
    content_type: str = ""
    problem: str = ""


def target_uri(value: str | None) -> str:
    """A WARC-Target-URI, with the angle brackets wget (WARC/1.0 drafts) puts around it removed."""
    value = (value or "").strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def archive_date(value: str | None) -> str:
    """A WARC-Date (`2026-11-29T14:45:47.123456Z`) in the archive's form, to the second."""
    value = (value or "").strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(path: str, offset: int, record) -> Entry:
    headers = record.rec_headers
    http = record.http_headers
    status = None
    if http is not None and record.rec_type in ("response", "revisit"):
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = None
    return Entry(path, offset, record.rec_type, target_uri(headers.get_header("WARC-Target-URI")),
                 archive_date(headers.get_header("WARC-Date")), status,
                 (http.get_header("Content-Type") or "") if http is not None else "")


def _soundness(record) -> str:
    """Read the rest of the record; '' if whole and its digests match, else what is wrong."""
    stream = record.raw_stream
    while stream.read(1 << 16):
        pass
    if getattr(stream, "limit", 0) > 0:
        return f"truncated: {stream.limit} bytes missing"
    checker = record.digest_checker
    if checker is not None and checker.passed is False:
        return "; ".join(str(p) for p in checker.problems) or "digest mismatch"
    return ""


def scan(path: str | Path) -> Iterator[Entry]:
    """Every record of one WARC file, in order; damage is reported as an Entry, never raised."""
    path = str(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        yield Entry(path, 0, "damaged", problem=f"cannot open: {exc.strerror}")
        return
    with handle:
        gzipped = handle.read(3) == _GZIP_MAGIC
        start = 0
        while start is not None:
            handle.seek(start)
            start = yield from _scan_from(path, handle, gzipped)


def _scan_from(path: str, handle, gzipped: bool):
    """Records from the handle's position; on damage, the position to resume at (or None)."""
    iterator = ArchiveIterator(handle, check_digests=True)
    position = handle.tell()
    try:
        for record in iterator:
            problem = _soundness(record)
            offset = iterator.get_record_offset()  # valid only once the body was read
            entry = _entry(path, offset, record)
            if problem:
                kind = "truncated" if problem.startswith("truncated") else "damaged"
                yield Entry(path, offset, kind, entry.uri, entry.date, problem=problem)
            else:
                yield entry
            position = offset + max(iterator.get_record_length(), 1)
    except Exception as exc:  # noqa: BLE001 - any parse failure is damage, reported and skipped
        problem = f"{type(exc).__name__}: {str(exc)[:60]!a}"
        resume = _next_start(handle, position + 1, gzipped)
        # Nothing sound after it: the file ends inside this record (a crawl killed mid-write).
        yield Entry(path, position, "damaged" if resume else "truncated", problem=problem)
        return resume
    handle.seek(position)
    if handle.read(1 << 16).strip():
        # warcio ends quietly at a gzip member or record cut short by the end of the file.
        yield Entry(path, position, "truncated", problem="the file ends inside this record")
    return None


def _next_start(handle, position: int, gzipped: bool) -> int | None:
    """Where the next record seems to begin after `position`: a gzip member or a WARC line."""
    magics = (_GZIP_MAGIC,) if gzipped else _WARC_MAGICS
    handle.seek(position)
    carry = b""
    base = position
    while True:
        chunk = handle.read(_SEARCH_CHUNK)
        if not chunk:
            return None
        data = carry + chunk
        hits = [i for i in (data.find(m) for m in magics) if i >= 0]
        if hits:
            return base - len(carry) + min(hits)
        carry = data[-16:]
        base += len(chunk)


def read_payload(path: str | Path, offset: int) -> tuple[bytes, str]:
    """The HTTP payload of the response record at `offset`, content-decoded, and its Content-Type.

    Raises `ValueError` when there is no sound response record there.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        try:
            record = next(iter(ArchiveIterator(handle)))
        except (StopIteration, Exception) as exc:  # noqa: BLE001 - reported as ValueError
            raise ValueError(f"no record at {path}:{offset}: {exc}") from None
        if record.rec_type != "response" or record.http_headers is None:
            raise ValueError(f"{path}:{offset} is a {record.rec_type} record, not a response")
        try:
            body = record.content_stream().read()
        except (OSError, ValueError, EOFError, zlib.error) as exc:
            raise ValueError(f"cannot decode {path}:{offset}: {exc}") from None
        return body, record.http_headers.get_header("Content-Type") or ""
