"""Reading WARC files, ours and other tools' (wget, Common Crawl, Webrecorder), damage and all.

`scan(path)` walks a file's records and says what each is, without stopping at damage: a
record whose gzip member or headers cannot be parsed, whose block is shorter than its
`Content-Length` (a truncated last record) or whose digest does not match is reported as
damaged, and reading resumes at the next gzip member (or `WARC/1.x` line, uncompressed).
`scan(path, keep=...)` also hands over the HTTP payload of the records `keep` chooses, as
stored; `decode(entry)` removes its transfer and content codings.
`read_payload(path, offset)` returns one response's HTTP payload, content-decoded.

Sizes are bounded as in a crawl (`DOWNLOAD_MAXSIZE`, crawler/codings.py): a payload kept
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
import io
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecordLoader

from crawler import codings as limits
from crawler.codings import coding_names, content_codings
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
    transfer_encoding: str = ""  # the HTTP Transfer-Encoding, lower case (`chunked`, `gzip, chunked`)
    payload_digest: str = ""  # which form of WARC-Payload-Digest matched (see the module doc)
    # The HTTP validators (RFC 9110 §8.8), read as the crawl reads them off Scrapy's headers
    # (the last line of each): the archive keeps them for the next conditional request.
    etag: str | None = None
    last_modified: str | None = None
    # WARC-Truncated (WARC 1.1 §5.13): why the payload stored is not the whole body (`length`,
    # `time`, `disconnect`, `unspecified`); "" for a whole one.
    truncated: str = ""
    record_id: str = ""  # WARC-Record-ID
    concurrent_to: str = ""  # WARC-Concurrent-To: a request record's response record
    # A request record's `WARC-JSON-Metadata`: what the crawl asked for with it
    # (crawler/warc/capture.py `ASKED`); "" when the writer did not say.
    asked: str = ""
    # A request record's: whether it carried a validator (If-None-Match, If-Modified-Since,
    # RFC 9110 §13.1), so that its 304 was asked for; None for other records.
    conditional: bool | None = None


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
    def header(name: str) -> str:  # every line of it, as one comma-separated list (RFC 9110 §5.3)
        if http is None:
            return ""
        return ", ".join(v for k, v in http.headers if k.lower() == name.lower() and v.strip())

    def last(name: str) -> str | None:  # Scrapy's `Headers.get`: the last line, None when empty
        values = [v for k, v in http.headers if k.lower() == name.lower()] if http is not None else []
        return values[-1] if values and values[-1] else None

    transfer = " ".join(header("Transfer-Encoding").lower().split())
    return Entry(path, offset, record.rec_type, target_uri(headers.get_header("WARC-Target-URI")),
                 to_utc(headers.get_header("WARC-Date")) or "", status, header("Content-Type"),
                 content_encoding=header("Content-Encoding").lower(),
                 chunked=coding_names(transfer)[-1:] == ["chunked"], transfer_encoding=transfer,
                 etag=last("ETag"), last_modified=last("Last-Modified"),
                 truncated=(headers.get_header("WARC-Truncated") or "").strip().lower(),
                 record_id=(headers.get_header("WARC-Record-ID") or "").strip(),
                 concurrent_to=(headers.get_header("WARC-Concurrent-To") or "").strip(),
                 asked=(headers.get_header("WARC-JSON-Metadata") or "").strip()
                 if record.rec_type == "request" else "",
                 conditional=bool(header("If-None-Match") or header("If-Modified-Since"))
                 if record.rec_type == "request" else None)


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


_HEX = frozenset(b"0123456789abcdefABCDEF")


def dechunk(data: bytes) -> bytes:
    """The body of a chunked transfer coding (RFC 9112 §7.1): each chunk's size line (hex, with
    or without chunk extensions `;name=value`) and data, up to the last chunk (`0`), whose
    trailer section is not part of the body and is dropped. Lines may end in CRLF or a bare LF.
    A body that ends after a whole chunk without the last one is taken as it is (a connection
    closed early). Raises `ValueError` when the framing breaks.
    """
    out, position = [], 0
    while position < len(data):
        end = data.find(b"\n", position)
        if end < 0:
            raise ValueError("a chunk size line without its line end")
        size = data[position:end].rstrip(b"\r").split(b";", 1)[0].strip(b" \t")
        if not size or not _HEX.issuperset(size) or len(size) > 16:
            raise ValueError(f"not a chunk size: {data[position:end][:20]!r}")
        position, length = end + 1, int(size, 16)
        if length == 0:
            return b"".join(out)  # the trailer section (and the final CRLF) follows
        chunk = data[position:position + length]
        if len(chunk) < length:
            raise ValueError(f"a chunk of {length} bytes holds {len(chunk)}")
        out.append(chunk)
        position += length
        if data.startswith(b"\r\n", position):
            position += 2
        elif data.startswith(b"\n", position):
            position += 1
        else:
            raise ValueError("no line end after a chunk's data")
    return b"".join(out)


def _dechunked(data: bytes) -> bytes:
    # A body labelled chunked that does not even begin as chunks is taken as sent, as warcio
    # and browsers take it; one whose framing breaks later cannot be read.
    first = data.split(b"\n", 1)[0].rstrip(b"\r").split(b";", 1)[0].strip(b" \t")
    if not first or not _HEX.issuperset(first):
        return data
    return dechunk(data)


def _undo(data: bytes, codings: list[str], max_size: int = 0) -> bytes:
    """`data` with the codings removed, the last applied first (RFC 9110 §8.4.1); ValueError
    when one is unknown or the data is not in it, `limits.TooLarge` (a ValueError) when a
    content coding inflates past `max_size` (0: no limit; crawler/codings.py decodes)."""
    for coding in reversed(codings):
        if coding == "chunked":
            try:
                data = _dechunked(data)
            except ValueError as exc:
                raise ValueError(f"cannot undo the chunked coding: {exc}") from None
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
    transfer = coding_names(entry.transfer_encoding)
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
    """The entry's payload as the crawl's callback got it: without its transfer codings
    (chunked framing, trailers and extensions included) and without the content codings Scrapy
    undoes (`content_codings`: every `Content-Encoding` line; gzip, x-gzip, deflate with or
    without zlib's wrapper, br, zstd; several, in the order applied; unknown ones left, as
    Scrapy leaves them).

    Raises `limits.Damaged` (a ValueError) when a content coding fails its own check (a gzip's
    CRC-32, cut short, data after its end: `crawler.codings`), `ValueError` when it cannot be
    decoded otherwise (a chunked framing broken), `limits.TooLarge` (a ValueError) when it
    inflates past `max_size` bytes (by default `DOWNLOAD_MAXSIZE`, the crawl's limit; 0: none).
    """
    data = entry.payload or b""
    try:
        data = _undo(data, coding_names(entry.transfer_encoding), max_size)
        undo, _ = content_codings([entry.content_encoding])
        return _undo(data, list(reversed(undo)), max_size)
    except (limits.TooLarge, limits.Damaged):  # a Damaged names its coding, as in a crawl
        raise
    except ValueError as exc:
        raise ValueError(f"cannot decode the payload: {exc}") from None


def scan(path: str | Path, keep: Callable[[Entry], bool] = lambda entry: False,
         max_size: int = limits.MAX_SIZE) -> Iterator[Entry]:
    """Every record of one WARC file, in order; damage is reported as an Entry, never raised.

    Records for which `keep(entry)` is true carry their payload; one whose payload is over
    `max_size` bytes (by default `DOWNLOAD_MAXSIZE`, what a crawl refuses) is an Entry of kind
    `too_large` instead, never held in memory. A file gzipped as a whole (one gzip member
    holding every record, as `gzip file.warc` makes it, rather than one member a record) is read
    through, as FastWARC reads it (warcio's ArchiveIterator stops at its second record); its
    offsets are then those in the ungzipped file.
    """
    path = str(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        yield Entry(path, 0, "damaged", problem=f"cannot open: {exc.strerror}")
        return
    with handle:
        gzipped = handle.read(3) == _GZIP_MAGIC
        stream = _ungzipped(handle) if gzipped and gzipped_as_one(handle) else handle
        gzipped = gzipped and stream is handle
        start = 0
        while start is not None:
            stream.seek(start)
            start = yield from _scan_from(path, stream, gzipped, keep, max_size)


_WHOLE_FILE_BUFFER = 1 << 20  # read back cheaply: the end of the last record, a damaged one


def _ungzipped(handle):
    handle.seek(0)
    return io.BufferedReader(gzip.GzipFile(fileobj=handle, mode="rb"), buffer_size=_WHOLE_FILE_BUFFER)


def gzipped_as_one(handle) -> bool:
    """True when the file's first gzip member holds more than its first record (a WARC gzipped
    as a whole). Reads the first member up to a little past that record's end."""
    handle.seek(0)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head, total, end = b"", 0, None
    while not inflater.eof:
        data = inflater.unconsumed_tail or handle.read(1 << 16)
        if not data:
            return False  # cut short: the reader reports it
        try:
            out = inflater.decompress(data, 1 << 16)
        except zlib.error:
            return False
        if end is None:
            head += out
            end = _first_record_end(head)
            if end is None and len(head) > 1 << 20:
                return False  # no WARC head: not for this to judge
        else:
            head = head[-64:] + out  # only what lies past the end is looked at
        total += len(out)
        if end is not None and total > end and head[-(total - end):].strip():
            return True
    return False


def _first_record_end(head: bytes) -> int | None:
    """Where the first record ends in the ungzipped bytes that begin with it, once its WARC
    head is in `head` (its Content-Length), else None."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = head.find(separator)
        if at >= 0:
            for line in head[:at].splitlines():
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    return at + len(separator) + int(value.strip())
            return None
    return None


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
        if "non-chunked gzip" in str(exc):  # warcio's words for it
            # A gzip member after the first holding several records (a file gzipped as a whole
            # is read as one stream, see `scan`): those after its first have no offset of
            # their own to be read back at, and are skipped, counted.
            yield Entry(path, position, "damaged", problem="a gzip member holding several records:"
                        " those after its first are not read (gzip each record, or the whole file)")
            return resume
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
    """The HTTP payload of the response record at `offset` (in the ungzipped file, for one
    gzipped as a whole), decoded as `decode` does, and its Content-Type.

    Raises `ValueError` when there is no sound response record there, or when the payload, as
    stored or decoded, is over `max_size` bytes (`limits.TooLarge`).
    """
    with open(path, "rb") as handle:
        stream = _ungzipped(handle) if handle.read(3) == _GZIP_MAGIC and gzipped_as_one(handle) else handle
        stream.seek(offset)
        try:
            record = next(iter(ArchiveIterator(stream)))
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
