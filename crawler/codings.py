"""Content codings undone, verified and bounded: the crawl's one reading of `Content-Encoding`
and of gzipped listings (`.xml.gz`), also the capture's and re-extraction's.

Verified: each coding is undone only as far as it verifies (`DECODERS`): gzip's CRC-32 and
length at every member's end (RFC 1952), deflate's Adler-32 (zlib's format, RFC 1950), zstd's
content checksum when every frame has one; data cut short, or with bytes after its end, or not
in the coding at all, is `Damaged` too. Brotli (RFC 7932), zstd frames without their checksum
flag (as `zstd.compress` and most servers write them) and raw deflate (RFC 1951, as many
servers send `deflate`) carry no check of their content: one changed bit mostly decodes into
other bytes (tester-try27: of 573 one-bit changes of a brotli sitemap, 150 decode, 12 ids
changed). So the crawl asks only for codings it can verify (`ACCEPT_ENCODING`); one that comes
all the same, or comes without its check, is still undone (it is what the server sent) but
told apart: `verifiable`. Scrapy's HttpCompressionMiddleware (2.19) and its
`gunzip` read such data as far as it goes ("resilient to CRC checksum errors"): a byte changed
in transfer became another id in a sitemap. The crawl's `ContentCodingMiddleware`
(crawler/middlewares.py) and listing reader (crawler/discovery/listings.py) use this module.

Bounded: a crawl refuses a response whose body, content codings undone, is larger than
`DOWNLOAD_MAXSIZE` (Scrapy's download handler for the bytes sent, its HttpCompressionMiddleware
while inflating). What reads captured bodies stops at the same size: the capture middleware,
which must not store what the crawl would refuse (a gzip bomb: 291 KB that inflate to 200 MB),
and re-extraction, which must not run out of memory on a bomb in a WARC of any origin.

`decode(data, coding, max_size)` undoes one content coding chunk by chunk (64 KiB of output at
a time) and raises `TooLarge` once the output passes `max_size`, so a bomb costs at most that
much memory; `decoded_size_exceeds` undoes a list of codings only to count. Codings
(`DECODERS`): those Scrapy's HttpCompressionMiddleware undoes (2.19), gzip and x-gzip (every
member, as browsers and Scrapy read them), deflate (zlib's format as RFC 9110 defines it, or raw
deflate as many servers send it), br, zstd; which of a response's codings are undone is
`content_codings`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from io import BytesIO

from crawler import settings

CHUNK = 1 << 16
MAX_SIZE = settings.DOWNLOAD_MAXSIZE  # the project's default; a crawl's own setting where known
_GZIP_MAGIC = b"\x1f\x8b"


class TooLarge(ValueError):
    """Decoded, the data would be larger than the limit; `size` is how much was decoded."""

    def __init__(self, coding: str, size: int, max_size: int):
        super().__init__(f"{coding} inflates past {max_size} bytes (DOWNLOAD_MAXSIZE): refused,"
                         f" as the crawl refuses it (max size)")
        self.size = size
        self.max_size = max_size


class Damaged(ValueError):
    """The data is not in the coding it is said to be in, or fails the coding's own check (a
    gzip's CRC-32, a zlib stream's Adler-32), or is cut short, or has data after its end: a
    transfer that changed or lost bytes. `coding` names the coding (`gzip` for `x-gzip`)."""

    def __init__(self, coding: str, problem: str):
        super().__init__(f"cannot undo the {coding} coding: {problem}")
        self.coding = "gzip" if coding == "x-gzip" else coding
        self.problem = problem

    @property
    def reason(self) -> str:
        """The damage's short name, one for the crawl and the rebuild: `damaged_gzip`,
        `damaged_deflate`, `damaged_br`, `damaged_zstd` (`dw/failed/article/damaged_gzip` in a
        crawl, `skipped/damaged_gzip` in `crawler.reextract`)."""
        return f"damaged_{self.coding}"


class _Output:
    """Decoded chunks, kept or only counted, never more than `max_size` bytes."""

    def __init__(self, coding: str, max_size: int, keep: bool):
        self.coding, self.max_size, self.keep = coding, max_size, keep
        self.size = 0
        self.parts: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_size and self.size > self.max_size:
            raise TooLarge(self.coding, self.size, self.max_size)
        if self.keep:
            self.parts.append(chunk)

    def value(self) -> bytes:
        return b"".join(self.parts)


def _zlib_stream(data: bytes, wbits: int, out: _Output):
    """Inflate one zlib/gzip/raw stream from `data` into `out`; the decompressor (for `eof`,
    `unused_data`). Raises zlib.error."""
    inflater = zlib.decompressobj(wbits)
    out.add(inflater.decompress(data, CHUNK))
    while inflater.unconsumed_tail and not inflater.eof:
        out.add(inflater.decompress(inflater.unconsumed_tail, CHUNK))
    if not inflater.eof:
        out.add(inflater.flush())
    return inflater


# zlib's words for a failed end-of-member check, in an operator's.
_CHECKS = {"incorrect data check": "its CRC-32 check failed: the data was changed in transfer",
           "incorrect length check": "its length check (ISIZE) failed: data was lost or added"}


def _checked(exc: zlib.error, checksum: str) -> ValueError:
    """A zlib error read as what it means for the data."""
    said = next((words for found, words in _CHECKS.items() if found in str(exc)), str(exc))
    return ValueError(said.replace("CRC-32", checksum))


def _gunzip(data: bytes, out: _Output) -> None:
    """Every member (RFC 1952 §2.2: a gzip file is a series of members, read as browsers, gzip
    and Scrapy read them), each verified by zlib at its end: CRC-32 and ISIZE (the length mod
    2^32), and the header's CRC-16 when it has one. A member cut short, and data after the last
    that is neither another member nor zero padding (which gzip itself allows), are errors."""
    rest = data
    while True:
        try:
            inflater = _zlib_stream(rest, 16 + zlib.MAX_WBITS, out)
        except zlib.error as exc:
            raise _checked(exc, "CRC-32") from None
        if not inflater.eof:
            raise ValueError("the gzip data is cut short (a member without its end)")
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):  # the end, or the zero padding gzip allows after it
            return
        if not rest.startswith(_GZIP_MAGIC):
            raise ValueError("data after the gzip stream is not another gzip member")


def _zlib_header(data: bytes) -> bool:
    """Whether `data` begins with a zlib header (RFC 1950 §2.2: method 8, a window of at most
    32 KiB, a check making the first two bytes a multiple of 31). Raw deflate (RFC 1951) never
    does as an encoder writes it: a first byte ending in the bits 1000 is a stored block whose
    padding bits are not zero."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, out: _Output) -> None:
    """deflate as RFC 9110 §8.4.1.2 defines it, zlib's format, verified by its Adler-32 at the
    end; or raw deflate, as many servers send it (no check but its own structure): which one,
    its first two bytes say (not a failed try of the other, which would read a zlib stream
    whose check failed as raw deflate). Cut short, or data after the end: errors."""
    wrapped = _zlib_header(data)
    try:
        inflater = _zlib_stream(data, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS, out)
    except zlib.error as exc:
        raise _checked(exc, "Adler-32") from None
    if not inflater.eof:
        raise ValueError("the deflate data is cut short")
    if inflater.unused_data:
        raise ValueError(f"{len(inflater.unused_data)} bytes after the end of the deflate data")


def _unbrotli(data: bytes, out: _Output) -> None:
    import brotli  # Scrapy's own dependency: it asks servers for br

    decompressor = brotli.Decompressor()
    out.add(decompressor.process(data, output_buffer_limit=CHUNK))
    while not decompressor.is_finished():
        chunk = decompressor.process(b"", output_buffer_limit=CHUNK)
        if not chunk:
            raise ValueError("the br data is cut short")
        out.add(chunk)


def _unzstd(data: bytes, out: _Output) -> None:
    try:
        from compression import zstd  # Python 3.14
    except ImportError:
        from backports import zstd  # Scrapy's own dependency before 3.14: it asks for zstd

    reader = zstd.ZstdFile(BytesIO(data))
    while chunk := reader.read(CHUNK):
        out.add(chunk)


# What the crawl asks for (`Accept-Encoding`): only codings that carry a check of their
# content. Scrapy asks for `gzip, deflate, br, zstd`; br and zstd as servers write them do not.
ACCEPT_ENCODING = b"gzip, deflate"
ASKED = frozenset({"gzip", "x-gzip", "deflate"})

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # 0xFD2FB528, little-endian (RFC 8878 §3.1.1)


def _zstd_checksummed(data: bytes) -> bool:
    """Whether every zstd frame in `data` carries its content checksum (RFC 8878 §3.1.1:
    `Content_Checksum_flag`, bit 2 of the frame header descriptor; XXH64's low 4 bytes after
    the last block). Skippable frames (no content) are passed over. False when the frames
    cannot be walked (the decoder says how they are damaged)."""
    at, frames = 0, 0
    try:
        while at < len(data):
            magic = data[at:at + 4]
            if len(magic) == 4 and magic[0] & 0xF0 == 0x50 and magic[1:] == b"\x2a\x4d\x18":
                at += 8 + int.from_bytes(data[at + 4:at + 8], "little")  # a skippable frame
                continue
            if magic != _ZSTD_MAGIC:
                return False
            descriptor = data[at + 4]
            if not descriptor & 0x04:
                return False
            single, content_size, dictionary = descriptor & 0x20, descriptor >> 6, descriptor & 0x03
            at += (5 + (0 if single else 1) + (0, 1, 2, 4)[dictionary]
                   + ((1 if single else 0), 2, 4, 8)[content_size])
            while True:  # blocks: a 3-byte header, then the block's bytes as stored
                header = int.from_bytes(data[at:at + 3], "little")
                if at + 3 > len(data):
                    return False
                kind, size = (header >> 1) & 0x03, header >> 3
                at += 3 + (1 if kind == 1 else size)  # an RLE block stores one byte
                if header & 0x01:
                    break
            at += 4  # the checksum
            frames += 1
    except IndexError:
        return False
    return frames > 0 and at == len(data)


def verifiable(data: bytes, coding: str) -> bool:
    """Whether `data`, in `coding`, carries a check of what it decodes to: gzip (CRC-32 and
    ISIZE), deflate in zlib's format (Adler-32), zstd whose every frame has its checksum. Not:
    br, raw deflate, zstd without its checksum (a changed bit decodes into other bytes)."""
    if coding in ("gzip", "x-gzip"):
        return True
    if coding == "deflate":
        return _zlib_header(data)
    if coding == "zstd":
        return _zstd_checksummed(data)
    return False


def decode_all(body: bytes, undo: list[str], max_size: int = MAX_SIZE) -> tuple[bytes, bool]:
    """`body` with the codings `undo` undone (in the order to undo them, as `content_codings`
    gives them), and whether any of them carries a check (`verifiable`). One checked layer is
    enough: a change in the bytes sent changes what that layer checks, wherever it lies (gzip
    inside br: the br decodes into other gzip bytes, whose CRC-32 fails). Raises as `decode`."""
    checked = False
    for coding in undo:
        checked = checked or verifiable(body, coding)
        body = decode(body, coding, max_size)
    return body, checked


# Exactly the codings Scrapy undoes: any other stops its undoing, and so the crawl's reading.
DECODERS: dict[str, Callable[[bytes, _Output], None]] = {
    "gzip": _gunzip, "x-gzip": _gunzip, "deflate": _inflate, "br": _unbrotli, "zstd": _unzstd}


def decode(data: bytes, coding: str, max_size: int = MAX_SIZE, *, keep: bool = True) -> bytes:
    """`data` with the content coding `coding` undone (lower case, as in `DECODERS`); b"" when
    `keep` is false (the size only counted). Raises `TooLarge` past `max_size` bytes (0: no
    limit), ValueError when the coding is unknown, `Damaged` (a ValueError) when the data is
    not in it or fails its check (see `DECODERS`)."""
    decoder = DECODERS.get(coding)
    if decoder is None:
        raise ValueError(f"unsupported coding {coding!r}")
    out = _Output(coding, max_size, keep)
    try:
        decoder(data, out)
    except TooLarge:
        raise
    except ValueError as exc:  # ours: what the data lacks, in words
        raise Damaged(coding, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - zlib, brotli, zstd each raise their own
        raise Damaged(coding, f"{type(exc).__name__}: {exc}") from None
    return out.value()


def decoded_size_exceeds(body: bytes, undo: list[str], max_size: int) -> int | None:
    """The decoded size past which `body`, with the codings `undo` undone (in the order to undo
    them, as `content_codings` gives them: those Scrapy undoes), outgrows
    `max_size`; None when it does not (or cannot be decoded, which the crawl reports itself)."""
    if not max_size:
        return None
    data = body
    for position, coding in enumerate(undo):
        try:
            data = decode(data, coding, max_size, keep=position < len(undo) - 1)  # the last: counted
        except TooLarge as exc:
            return exc.size
        except ValueError:
            return None
    return None


def coding_names(header: str) -> list[str]:
    """The codings a `Content-Encoding` (or `Transfer-Encoding`) value names, lower case, in
    the order applied, `identity` (no coding) left out."""
    return [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]


def content_codings(values: Iterable[str | bytes]) -> tuple[list[str], list[str]]:
    """The `Content-Encoding` header lines as (to undo, left as they are), read as Scrapy's
    HttpCompressionMiddleware reads them: every line, each a comma-separated list, any case;
    the codings are undone from the last applied (RFC 9110 §8.4.1) while they are ones Scrapy
    undoes (`DECODERS`); the first that is not (`none`, `utf-8`, `binary`, a typo) stops it,
    and it and those applied before it are left as they are, as Scrapy leaves them (the body is
    what the server sent under them: mostly, a mislabelled plain page). `identity` (no coding)
    is passed over wherever it stands, as browsers do. `to undo` is in the order to undo them.
    """
    codings = [c for value in values
               for c in coding_names(value.decode("latin-1") if isinstance(value, bytes) else value)]
    undo: list[str] = []
    while codings and codings[-1] in DECODERS:
        undo.append(codings.pop())
    return undo, codings
