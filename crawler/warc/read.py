"""Reading WARC files, ours and other tools' (wget, Common Crawl, Webrecorder), damage and all.

`scan(path)` walks a file's records and says what each is, without stopping at damage: a
record whose gzip member or headers cannot be parsed, whose block is shorter than its
`Content-Length` (a truncated last record) or whose digest does not match is reported as
damaged, and reading resumes at the next gzip member (or `WARC/1.x` line, uncompressed).
`scan(path, keep=...)` also hands over the HTTP payload of the records `keep` chooses, as
stored; `decode(entry)` removes its chunked framing and content encoding.
`read_payload(path, offset)` returns one response's HTTP payload, content-decoded.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader

from crawler.dates import to_utc

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
    date: str = ""  # WARC-Date as the archive writes dates (`crawler.dates`): `YYYY-MM-DDTHH:MM:SSZ`
    status: int | None = None
    content_type: str = ""
    problem: str = ""
    payload: bytes | None = None  # as stored (chunked, content-encoded), when asked for
    content_encoding: str = ""
    chunked: bool = False


def target_uri(value: str | None) -> str:
    """A WARC-Target-URI, with the angle brackets wget (WARC/1.0 drafts) puts around it removed."""
    value = (value or "").strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def _entry(path: str, offset: int, record) -> Entry:
    headers = record.rec_headers
    http = record.http_headers
    status = None
    if http is not None and record.rec_type in ("response", "revisit"):
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = None
    def header(name: str) -> str:
        return (http.get_header(name) or "") if http is not None else ""

    return Entry(path, offset, record.rec_type, target_uri(headers.get_header("WARC-Target-URI")),
                 to_utc(headers.get_header("WARC-Date")) or "", status, header("Content-Type"),
                 content_encoding=header("Content-Encoding").lower(),
                 chunked=header("Transfer-Encoding").lower() == "chunked")


def _soundness(record, keep: bool) -> tuple[str, bytes | None]:
    """Read the rest of the record: ('' if whole and its digests match, else what is wrong,
    the bytes read when `keep`)."""
    stream = record.raw_stream
    parts = []
    while chunk := stream.read(1 << 16):
        if keep:
            parts.append(chunk)
    payload = b"".join(parts) if keep else None
    if getattr(stream, "limit", 0) > 0:
        return f"truncated: {stream.limit} bytes missing", None
    checker = record.digest_checker
    if checker is not None and checker.passed is False:
        return "; ".join(str(p) for p in checker.problems) or "digest mismatch", None
    return "", payload


def decode(entry: Entry) -> bytes:
    """The entry's payload without chunked framing and content encoding (gzip, deflate, br).

    Raises `ValueError` when it cannot be decoded.
    """
    encoding = entry.content_encoding
    if encoding not in BufferedReader.get_supported_decompressors():
        encoding = None
    if not (entry.chunked or encoding):
        return entry.payload or b""
    reader_class = ChunkedDataReader if entry.chunked else BufferedReader
    try:
        return reader_class(BytesIO(entry.payload or b""), decomp_type=encoding).read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"cannot decode the {encoding or 'chunked'} payload: {exc}") from None


def scan(path: str | Path, keep: Callable[[Entry], bool] = lambda entry: False) -> Iterator[Entry]:
    """Every record of one WARC file, in order; damage is reported as an Entry, never raised.

    Records for which `keep(entry)` is true carry their payload.
    """
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
            start = yield from _scan_from(path, handle, gzipped, keep)


def _scan_from(path: str, handle, gzipped: bool, keep: Callable[[Entry], bool]):
    """Records from the handle's position; on damage, the position to resume at (or None)."""
    iterator = ArchiveIterator(handle, check_digests=True)
    position = handle.tell()
    try:
        for record in iterator:
            entry = _entry(path, iterator.offset, record)
            problem, payload = _soundness(record, keep(entry))
            offset = iterator.get_record_offset()  # valid only once the body was read
            if problem:
                kind = "truncated" if problem.startswith("truncated") else "damaged"
                yield Entry(path, offset, kind, entry.uri, entry.date, problem=problem)
            else:
                yield replace(entry, offset=offset, payload=payload)
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


# -- which files, in which order -------------------------------------------------------

def warc_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, with each folder replaced by the WARC files in it, in name order."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.name.endswith((".warc.gz", ".warc")))
        else:
            found.append(path)
    return found


def unreadable(path: Path) -> str | None:
    """Why `path` is no WARC file to read (missing, a folder of none, not WARC); None if it is one."""
    if not path.exists():
        return f"{path}: no such file or folder"
    if path.is_dir():
        return None
    try:
        with path.open("rb") as handle:
            start = handle.read(2)
            handle.seek(0)
            if start == b"\x1f\x8b":
                with gzip.open(handle) as unzipped:
                    start = unzipped.read(9)
            else:
                start = handle.read(9)
    except (OSError, EOFError) as exc:
        return f"{path}: not a WARC file ({exc})"
    # A WARC record begins with its version line; warcio reads ARC files (`filedesc://`) too.
    if not start.startswith((b"WARC/", b"filedesc:")):
        return f"{path}: not a WARC file (it begins {start[:9]!r})"
    return None


def in_capture_order(files: list[Path]) -> list[Path]:
    """`files` ordered by the WARC-Date of each one's first record (an empty file last), so that
    files given out of date order are applied oldest first; ties keep the order given."""
    def first_date(path: Path) -> tuple[bool, str]:
        first = next(scan(path), None)
        return (first is None or not first.date, first.date if first else "")

    return sorted(files, key=first_date)
