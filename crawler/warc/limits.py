"""Size limits for reading captures: the same as for crawling.

A crawl refuses a response whose body, content codings undone, is larger than
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
`crawler.warc.read.content_codings`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
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


def _gunzip(data: bytes, out: _Output) -> None:
    rest = data
    while True:
        inflater = _zlib_stream(rest, 16 + zlib.MAX_WBITS, out)
        if not inflater.eof:
            raise ValueError("the gzip data is cut short")
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):  # the end, or the zero padding gzip allows after it
            return
        if not rest.startswith(_GZIP_MAGIC):
            raise ValueError("data after the gzip stream is not another gzip member")


def _inflate(data: bytes, out: _Output) -> None:
    try:
        inflater = _zlib_stream(data, zlib.MAX_WBITS, out)  # deflate as RFC 9110 defines it: zlib's
    except zlib.error:
        out.size, out.parts = 0, []
        inflater = _zlib_stream(data, -zlib.MAX_WBITS, out)  # raw deflate, as many servers send it
    if not inflater.eof:
        raise ValueError("the deflate data is cut short")


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


# Exactly the codings Scrapy undoes: any other stops its undoing, and so the crawl's reading.
DECODERS: dict[str, Callable[[bytes, _Output], None]] = {
    "gzip": _gunzip, "x-gzip": _gunzip, "deflate": _inflate, "br": _unbrotli, "zstd": _unzstd}


def decode(data: bytes, coding: str, max_size: int = MAX_SIZE, *, keep: bool = True) -> bytes:
    """`data` with the content coding `coding` undone (lower case, as in `DECODERS`); b"" when
    `keep` is false (the size only counted). Raises `TooLarge` past `max_size` bytes (0: no
    limit), ValueError when the coding is unknown or the data is not in it."""
    decoder = DECODERS.get(coding)
    if decoder is None:
        raise ValueError(f"unsupported coding {coding!r}")
    out = _Output(coding, max_size, keep)
    try:
        decoder(data, out)
    except TooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib, brotli, zstd each raise their own
        raise ValueError(f"cannot undo the {coding} coding: {type(exc).__name__}: {exc}") from None
    return out.value()


def decoded_size_exceeds(body: bytes, undo: list[str], max_size: int) -> int | None:
    """The decoded size past which `body`, with the codings `undo` undone (in the order to undo
    them, as `crawler.warc.read.content_codings` gives them: those Scrapy undoes), outgrows
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
