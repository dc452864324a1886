"""Reading WARC files, ours and other tools' (wget, Common Crawl, Webrecorder), damage and all.

`scan(path)` walks a file's records and says what each is, without stopping at damage: a
record whose gzip member or headers cannot be parsed, whose block is shorter than its
`Content-Length` (a truncated last record) or whose digest does not match is reported as
damaged, and reading resumes at the next gzip member (or `WARC/1.x` line, uncompressed).
`scan(path, keep=...)` also hands over the HTTP payload of the records `keep` chooses, as
stored; `decode(entry)` removes its transfer and content codings.
`read_payload(path, offset)` returns one response's HTTP payload, content-decoded.

Sizes are bounded as in a crawl (`DOWNLOAD_MAXSIZE`, crawler/warc/limits.py): a payload kept
over it is reported as an Entry of kind `too_large` and never held in memory, and decoding stops
(`limits.TooLarge`) once a content coding inflates past it: a gzip bomb is refused, not read.

Digests (WARC 1.1 §5.8, §5.9, §6.3.2): `WARC-Block-Digest` is over the whole block, HTTP head
included: when it holds, the record is whole. `WARC-Payload-Digest` is over the payload, which
for HTTP is the entity body: the bytes after the head *with transfer codings removed* (chunked
framing undone), content codings kept. Many writers (warcio, wpull, Heritrix before 3.5, older
wget-lua) digest the bytes as sent instead, chunk framing and all, and warcio checks that form
only; both forms are accepted here, and `Entry.payload_digest` says which one matched
(`entity_body`, `as_sent`, `both` when there was no transfer coding to tell them apart,
`unmatched`, or empty when there is none to check). A payload digest that matches neither form
damages the record only when there is no block digest to vouch for it. A digest is read in any
RFC 4648 encoding (base32, hex, base64) and for any algorithm hashlib has (`sha1`, `SHA-256`,
`sha512`, `md5`); one that cannot be checked (an unknown algorithm, or a payload over the size
limit, which is not held to be hashed in its two forms) is not held against the record
(`unverifiable`).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecordLoader

from crawler.warc import limits

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
    payload: bytes | None = None  # as stored (chunked, content-encoded), when asked for
    content_encoding: str = ""
    chunked: bool = False
    transfer_encoding: str = ""  # the HTTP Transfer-Encoding, lower case (`chunked`, `gzip, chunked`)
    payload_digest: str = ""  # which form of WARC-Payload-Digest matched (see the module doc)


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
    def header(name: str) -> str:
        return (http.get_header(name) or "") if http is not None else ""

    transfer = " ".join(header("Transfer-Encoding").lower().split())
    return Entry(path, offset, record.rec_type, target_uri(headers.get_header("WARC-Target-URI")),
                 archive_date(headers.get_header("WARC-Date")), status, header("Content-Type"),
                 content_encoding=header("Content-Encoding").lower(),
                 chunked=_codings(transfer)[-1:] == ["chunked"], transfer_encoding=transfer)


# -- digests ---------------------------------------------------------------------------------

class Digest:
    """A `WARC-*-Digest` value (`sha1:BASE32`, `sha256:hex`, `SHA-256:base64`): `matches(bytes)`.

    `algorithm` is None when hashlib has no such algorithm, `expected` None when the value is
    in no encoding of that digest's length.
    """

    def __init__(self, value: str):
        name, _, encoded = value.strip().partition(":")
        self.value = value.strip()
        self.algorithm = _algorithm(name)
        self.expected = _digest_bytes(encoded.strip(), self.algorithm) if self.algorithm else None

    def hasher(self):
        return hashlib.new(self.algorithm)

    @property
    def checkable(self) -> bool:
        return self.expected is not None

    def matches(self, digest: bytes) -> bool:
        return digest == self.expected


def _algorithm(name: str) -> str | None:
    name = name.strip().lower()
    for candidate in (name, name.replace("-", ""), name.replace("-", "_")):
        if candidate in hashlib.algorithms_available:
            return candidate
    return None


def _digest_bytes(encoded: str, algorithm: str) -> bytes | None:
    size = hashlib.new(algorithm).digest_size
    decoders = (lambda v: base64.b32decode(v + "=" * (-len(v) % 8), casefold=True),
                lambda v: base64.b16decode(v, casefold=True),
                lambda v: base64.b64decode(v + "=" * (-len(v) % 4), validate=True),
                lambda v: base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)))
    for decoder in decoders:
        try:
            raw = decoder(encoded)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == size:
            return raw
    return None


class _HashingReader(LimitReader):
    """The record's block as warcio reads it (HTTP head, then payload), hashed as it passes."""

    def __init__(self, stream, limit: int, digest: Digest | None):
        super().__init__(stream, limit)
        self.digest = digest
        self.hasher = digest.hasher() if digest is not None and digest.checkable else None

    def _update(self, buff):
        buff = super()._update(buff)
        if self.hasher is not None:
            self.hasher.update(buff)
        return buff


class _DigestLoader(ArcWarcRecordLoader):
    """warcio's record loader, but the block is hashed here (any algorithm, any encoding) and
    the payload digest left to `_payload_form`, which knows both of its forms."""

    def wrap_digest_verifying_stream(self, stream, rec_type, rec_headers, digest_checker, length=None):
        declared = rec_headers.get_header("WARC-Block-Digest")
        return _HashingReader(stream, length or 0, Digest(declared) if declared else None), False


def _codings(header: str) -> list[str]:
    return [c.strip() for c in header.split(",") if c.strip() and c.strip() != "identity"]


def _undo(data: bytes, codings: list[str], max_size: int = 0) -> bytes:
    """`data` with the codings removed, the last applied first (RFC 9110 §8.4.1); ValueError
    when one is unknown or the data is not in it, `limits.TooLarge` (a ValueError) when a
    content coding inflates past `max_size` (0: no limit; crawler/warc/limits.py decodes)."""
    for coding in reversed(codings):
        if coding == "chunked":
            data = ChunkedDataReader(BytesIO(data)).read()  # lenient: unframed data is kept
            continue
        data = limits.decode(data, coding, max_size)
    return data


def _payload_form(record, entry: Entry, payload: bytes) -> str:
    """Which form the record's `WARC-Payload-Digest` is over (see the module doc)."""
    declared = record.rec_headers.get_header("WARC-Payload-Digest")
    if not declared or record.rec_type == "revisit":  # a revisit's names the payload it repeats
        return ""
    digest = Digest(declared)
    if not digest.checkable:
        return "unverifiable"
    as_sent = digest.matches(hashlib.new(digest.algorithm, payload).digest())
    transfer = _codings(entry.transfer_encoding)
    if not transfer:
        return "both" if as_sent else "unmatched"
    try:
        entity_body = _undo(payload, transfer)
    except ValueError:
        entity_body = None
    if entity_body is not None and digest.matches(hashlib.new(digest.algorithm, entity_body).digest()):
        return "entity_body"
    return "as_sent" if as_sent else "unmatched"


def _soundness(record, entry: Entry, keep: bool, max_size: int = 0) -> tuple[str, bytes | None, str]:
    """Read the rest of the record: ('' if whole and its digests hold, else what is wrong; the
    payload when `keep`; which form of payload digest matched). A payload over `max_size` bytes
    (0: no limit) is not held in memory: a kept one is `too large`, a digest over one is not
    checked (`unverifiable`)."""
    stream = record.raw_stream
    check_payload = bool(record.rec_headers.get_header("WARC-Payload-Digest"))
    parts, size, held = [], 0, keep or check_payload
    while chunk := stream.read(1 << 16):
        size += len(chunk)
        if held and max_size and size > max_size:
            held, parts = False, []  # read on to the end for the block digest, holding nothing
        if held:
            parts.append(chunk)
    payload = b"".join(parts)
    if getattr(stream, "limit", 0) > 0:
        return f"truncated: {stream.limit} bytes missing", None, ""
    if (keep or check_payload) and not held:
        if keep:
            return f"too large: a payload of {size} bytes, over {max_size} (DOWNLOAD_MAXSIZE)", None, ""
        return "", None, "unverifiable"
    block = stream.digest if isinstance(stream, _HashingReader) else None
    if block is not None and stream.hasher is not None and not block.matches(stream.hasher.digest()):
        return f"block digest failed: {block.value}", None, ""
    form = _payload_form(record, entry, payload) if check_payload else ""
    if form == "unmatched" and (block is None or not block.checkable):
        declared = record.rec_headers.get_header("WARC-Payload-Digest")
        return f"payload digest failed: {declared}", None, form
    return "", payload if keep else None, form


def decode(entry: Entry, max_size: int = limits.MAX_SIZE) -> bytes:
    """The entry's payload without its transfer codings (chunked framing) and content codings
    (gzip, x-gzip, deflate with or without zlib's wrapper, br, zstd: what Scrapy asks servers
    for; several, in the order applied).

    Raises `ValueError` when it cannot be decoded, `limits.TooLarge` (a ValueError) when it
    inflates past `max_size` bytes (by default `DOWNLOAD_MAXSIZE`, the crawl's limit; 0: none).
    """
    data = entry.payload or b""
    try:
        data = _undo(data, _codings(entry.transfer_encoding))
        return _undo(data, _codings(entry.content_encoding), max_size)
    except limits.TooLarge:
        raise
    except ValueError as exc:
        raise ValueError(f"cannot decode the payload: {exc}") from None


def scan(path: str | Path, keep: Callable[[Entry], bool] = lambda entry: False,
         max_size: int = limits.MAX_SIZE) -> Iterator[Entry]:
    """Every record of one WARC file, in order; damage is reported as an Entry, never raised.

    Records for which `keep(entry)` is true carry their payload; one whose payload is over
    `max_size` bytes (by default `DOWNLOAD_MAXSIZE`, what a crawl refuses) is an Entry of kind
    `too_large` instead, never held in memory.
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
            start = yield from _scan_from(path, handle, gzipped, keep, max_size)


def _scan_from(path: str, handle, gzipped: bool, keep: Callable[[Entry], bool], max_size: int):
    """Records from the handle's position; on damage, the position to resume at (or None)."""
    iterator = ArchiveIterator(handle, check_digests=True)
    iterator.loader = _DigestLoader(verify_http=False, arc2warc=False)  # ArchiveIterator's own
    position = handle.tell()
    try:
        for record in iterator:
            entry = _entry(path, iterator.offset, record)
            problem, payload, form = _soundness(record, entry, keep(entry), max_size)
            offset = iterator.get_record_offset()  # valid only once the body was read
            if problem:
                kind = ("truncated" if problem.startswith("truncated")
                        else "too_large" if problem.startswith("too large") else "damaged")
                yield Entry(path, offset, kind, entry.uri, entry.date, problem=problem)
            else:
                yield replace(entry, offset=offset, payload=payload, payload_digest=form)
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


def read_payload(path: str | Path, offset: int, max_size: int = limits.MAX_SIZE) -> tuple[bytes, str]:
    """The HTTP payload of the response record at `offset`, decoded as `decode` does, and its
    Content-Type.

    Raises `ValueError` when there is no sound response record there, or when the payload, as
    stored or decoded, is over `max_size` bytes (`limits.TooLarge`).
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        try:
            record = next(iter(ArchiveIterator(handle)))
        except (StopIteration, Exception) as exc:  # noqa: BLE001 - reported as ValueError
            raise ValueError(f"no record at {path}:{offset}: {exc}") from None
        if record.rec_type != "response" or record.http_headers is None:
            raise ValueError(f"{path}:{offset} is a {record.rec_type} record, not a response")
        payload = record.raw_stream.read(max_size + 1 if max_size else -1)
        if max_size and len(payload) > max_size:
            raise limits.TooLarge("the stored payload", len(payload), max_size)
        entry = replace(_entry(str(path), offset, record), payload=payload)
        try:
            body = decode(entry, max_size)
        except ValueError as exc:
            raise ValueError(f"cannot decode {path}:{offset}: {exc}") from None
        return body, entry.content_type


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
