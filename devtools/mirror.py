"""A local mirror of dw.com: serves a directory laid out like the site, on loopback.

    python -m devtools.mirror --root data/sample-site --port 8765 [--access-log FILE]

Paths are the site's own: `/robots.txt`, `/{lang}/news-sitemap.xml`, `/{lang}/{slug}/a-{id}`
(any slug finds the page by its id, as on DW), `/rdf/rss-en-all`, and `/p/{code}`, which
redirects to the page's real `https://www.dw.com/...` URL as p.dw.com does. The crawler is
pointed at it with `-s DW_ORIGIN=... -s DW_SHORTLINK_ORIGIN=... -s DW_FEED_ORIGIN=...`.

Faults, for testing what a crawl survives, are switched on per path by a JSON file
(`--faults FILE`, re-read when it changes) mapping a request path to a spec such as
`"status=503 retry-after=1 times=2"`. Spec words: `status=N`, `retry-after=S`, `times=N` (only
the first N requests fail), `delay=S`, `reset` (connection reset mid-body: a third of the body,
then an RST), `truncate` (half the body, then the connection closed: fewer bytes than
Content-Length), `no-length` (neither Content-Length nor chunked: the connection's close ends
the body, as in HTTP/1.0), `location=URL`, `content-type=T`, `etag=E` (the `ETag` sent, also
on a 304, instead of the content's own; a 304 is still answered to the content's), `encoding=E`
(a `Content-Encoding` header; the file holds the body so encoded: `gzip`, `br`, ...), `gzip=D`
(the body gzipped as it is sent, `Content-Encoding: gzip`, damaged as D says: `ok` not at all,
`crc` one byte changed inside it (`crc:WORD`: the first byte of WORD where it last occurs), the
CRC-32 left as it was, `cut` without its 8-byte trailer, `junk` with bytes after it; with
`times=N` the later requests get the file as it is).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote

from twisted.web import resource, server
from twisted.web.server import NOT_DONE_YET

from crawler import dw

# `en/slug/a-123.html` as the site is laid out, or a saved page named like `de_2024_a-123_x.html`.
_CONTENT = re.compile(r"(?:^|[/_])(?P<type>[a-z]+)-(?P<id>\d+)(?:_[^/]*)?\.html$")
_CANONICAL = re.compile(rb'<link[^>]*rel="canonical"[^>]*href="([^"]+)"'
                        rb'|<link[^>]*href="([^"]+)"[^>]*rel="canonical"')
_TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/xml; charset=utf-8",
          ".rdf": "application/rdf+xml; charset=utf-8", ".txt": "text/plain; charset=utf-8",
          ".gz": "application/gzip"}
_SUFFIXES = ("", ".html", ".xml", ".rdf", ".txt")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
_CHECKOUT = Path(__file__).resolve().parent.parent


def damaged_gzip(body: bytes, damage: str) -> bytes:
    """`body` gzipped (stored, not compressed, so that a byte of it is a byte of the body),
    then damaged: `ok` not at all, `crc` its middle byte changed (`crc:WORD`: the first byte of
    WORD where it last occurs) with the CRC-32 saying the old one, `cut` its 8-byte trailer
    (CRC-32, length) left off, `junk` bytes added after it."""
    packed = gzip.compress(body, compresslevel=0, mtime=0)
    if damage.startswith("crc") and body:
        word = damage.partition(":")[2].encode()
        at = body.rfind(word) if word else (len(body) - 1) // 2
        at += len(packed) - 8 - len(body)  # stored as it is, just before the 8-byte trailer
        return packed[:at] + bytes([packed[at] ^ 0x01]) + packed[at + 1:]
    if damage == "cut":
        return packed[:-8]
    if damage == "junk":
        return packed + b"<html>junk</html>"
    return packed


def index_site(root: Path) -> dict[int, str]:
    """Content id -> the page's path under `root` (`en/slug/a-123.html`)."""
    index = {}
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        m = _CONTENT.search(rel)
        if m:
            index[int(m["id"])] = rel
    return index


def redirect_target(root: Path, rel: str) -> str:
    """Where a short link to the page at `rel` redirects: its canonical URL, as DW does."""
    with open(root / rel, "rb") as handle:
        m = _CANONICAL.search(handle.read(65536))
    if m:
        return (m[1] or m[2]).decode("utf-8", "replace")
    return f"{dw.WWW}/{quote(rel.removesuffix('.html'))}"


class Mirror(resource.Resource):
    """Serve `root` like dw.com, recording every request in the access log."""

    isLeaf = True

    def __init__(self, root: Path, access_log: Path | None = None, faults: Path | None = None):
        super().__init__()
        self.root = root.resolve()
        self.index = index_site(self.root)
        self.log = open(access_log, "a", encoding="utf-8", buffering=1) if access_log else None
        self.faults_file = faults
        self.faults: dict[str, dict] = {}
        self.faults_mtime = None
        self.hits: dict[str, int] = {}

    def render_HEAD(self, request):
        return self.render_GET(request)

    def render_GET(self, request):
        raw_path = request.path.decode("latin-1")
        path = unquote(raw_path, errors="replace")
        fault = self._fault(path)
        if fault and "status" in fault:
            status, body = int(fault["status"]), b"<html><body>fault</body></html>"
            if "retry-after" in fault:
                request.setHeader(b"Retry-After", fault["retry-after"].encode())
        else:
            status, body = self._respond(request, path)
        for header, key in ((b"Location", "location"), (b"Content-Type", "content-type"),
                            (b"ETag", "etag")):
            if fault and key in fault:
                request.setHeader(header, fault[key].encode())
        if fault and fault.get("encoding"):  # the file holds the body so encoded
            request.setHeader(b"Content-Encoding", fault["encoding"].encode())
        if fault and "gzip" in fault:
            body = damaged_gzip(body, fault["gzip"])
            request.setHeader(b"Content-Encoding", b"gzip")
        request.setResponseCode(status)
        if self.log:
            self.log.write(f"{request.method.decode()} {raw_path} {status}\n")
        if request.method == b"HEAD":
            return b""
        if fault and ({"delay", "reset", "truncate", "no-length"} & fault.keys()):
            return self._misbehave(request, body, fault)
        return body

    def _fault(self, path: str) -> dict | None:
        """The fault spec for a path, if one is switched on and not used up."""
        if self.faults_file is None:
            return None
        try:
            mtime = self.faults_file.stat().st_mtime_ns
        except OSError:
            return None
        if mtime != self.faults_mtime:
            raw = json.loads(self.faults_file.read_text() or "{}")
            self.faults = {p: dict(w.split("=", 1) if "=" in w else (w, "") for w in spec.split())
                           for p, spec in raw.items()}
            self.faults_mtime, self.hits = mtime, {}
        fault = self.faults.get(path)
        if fault is None:
            return None
        self.hits[path] = self.hits.get(path, 0) + 1
        if "times" in fault and self.hits[path] > int(fault["times"]):
            return None
        return fault

    def _misbehave(self, request, body: bytes, fault: dict):
        from twisted.internet import reactor

        gone = []
        request.notifyFinish().addErrback(gone.append)  # the client left (a killed crawl)

        def send():
            if gone:
                return
            if "no-length" in fault:  # neither Content-Length nor chunked: HTTP/1.0's framing
                request.clientproto = b"HTTP/1.0"
            elif "truncate" in fault or "reset" in fault:  # else chunked, as Twisted chooses
                request.setHeader(b"Content-Length", str(len(body)).encode())
            if "truncate" in fault:
                request.write(body[: len(body) // 2])
                request.transport.loseConnection()
            elif "reset" in fault:
                request.write(body[: len(body) // 3])
                # The head and a third of the body go out, then an RST. abortConnection()
                # discards what the transport still buffers, which was all of it (a reset
                # before the first byte, not mid-body): the buffer is handed to the kernel
                # first, as the reactor would when the socket is writable (on loopback, all).
                request.transport.doWrite()
                request.transport.abortConnection()
            else:
                request.write(body)
                request.finish()
                if "no-length" in fault:  # the close ends the body
                    request.transport.loseConnection()

        reactor.callLater(float(fault.get("delay", 0)), send)
        return NOT_DONE_YET

    def _respond(self, request, path: str) -> tuple[int, bytes]:
        short = re.fullmatch(r"/p/([0-9A-Za-z]+)", path)
        if short:
            try:
                content_id = dw.decode_short_code(short[1])
            except ValueError:
                return 404, b"not a short link"
            target = self.index.get(content_id)
            if target is None:
                return 404, b"unknown short link"
            location = redirect_target(self.root, target)
            request.setHeader(b"Location", location.encode())
            return 301, b""
        file = self._file(path)
        if file is None:
            return 404, b"<html><body><h1>404 Not Found</h1></body></html>"
        return self._serve(request, file)

    def _file(self, path: str) -> Path | None:
        rel = path.lstrip("/")
        for suffix in _SUFFIXES:
            candidate = (self.root / (rel + suffix)).resolve()
            if candidate.is_file() and candidate.is_relative_to(self.root):
                return candidate
        m = re.fullmatch(r"[^/]+/(?:[^/]*/)?[a-z]+-(\d+)/?", rel)
        if m and int(m[1]) in self.index:
            return self.root / self.index[int(m[1])]
        return None

    def _serve(self, request, file: Path) -> tuple[int, bytes]:
        data = file.read_bytes()
        stat = file.stat()
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        kind = _TYPES.get(file.suffix, "text/html; charset=utf-8")
        if "charset=utf-8" in kind and not _is_utf8(data):
            # A saved page in another encoding: the mirror does not know it; the page's own
            # <meta charset> (or faults.json's content-type) says it, as on a real server.
            kind = kind.split(";")[0]
        request.setHeader(b"Content-Type", kind.encode())
        request.setHeader(b"ETag", etag.encode())
        request.setHeader(b"Last-Modified", formatdate(stat.st_mtime, usegmt=True).encode())
        match = request.getHeader(b"If-None-Match")
        if match is not None:
            return (304, b"") if etag in match.decode("latin-1") else (200, data)
        since = request.getHeader(b"If-Modified-Since")
        if since:
            try:
                if int(stat.st_mtime) <= parsedate_to_datetime(since.decode("latin-1")).timestamp():
                    return 304, b""
            except (TypeError, ValueError):
                pass
        return 200, data


@contextlib.contextmanager
def running_mirror(root: Path, access_log: Path | None = None, faults: Path | None = None, *,
                   start: Callable[..., subprocess.Popen] = subprocess.Popen) -> Iterator[str]:
    """Run a mirror of `root` in a subprocess on a free loopback port; yield its origin.
    `start` starts that process, called as `subprocess.Popen` is (the test suite's forks it from
    a parent that has its modules imported: tests/forkserver.py)."""
    command = [sys.executable, "-m", "devtools.mirror", "--root", str(Path(root).resolve()), "--port", "0"]
    if access_log:
        command += ["--access-log", str(Path(access_log).resolve())]
    if faults:
        command += ["--faults", str(Path(faults).resolve())]
    # devtools is not installed: run it from the checkout that holds it, whatever the caller's cwd.
    process = start(command, stdout=subprocess.PIPE, text=True, cwd=_CHECKOUT)
    try:
        line = process.stdout.readline()
        if " on http://" not in line:
            raise RuntimeError(f"the mirror did not start: {line!r}")
        yield line.rsplit(" on ", 1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def origin_settings(origin: str) -> list[str]:
    """`scrapy crawl` options pointing all three DW origins at one mirror."""
    return [arg for name in ("DW_ORIGIN", "DW_SHORTLINK_ORIGIN", "DW_FEED_ORIGIN")
            for arg in ("-s", f"{name}={origin}")]


def main(argv: list[str] | None = None) -> int:
    """Serve a mirror until interrupted; print its address first."""
    parser = argparse.ArgumentParser(prog="python -m devtools.mirror", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="data/sample-site", type=Path, help="the site directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=8765, type=int, help="0 picks a free port")
    parser.add_argument("--access-log", type=Path, help="append 'METHOD PATH STATUS' lines here")
    parser.add_argument("--faults", type=Path, help="JSON file: request path -> fault spec")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"no site directory at {args.root}", file=sys.stderr)
        return 2
    from twisted.internet import reactor

    site = server.Site(Mirror(args.root, args.access_log, args.faults))
    site.noisy = False
    port = reactor.listenTCP(args.port, site, interface=args.host)
    print(f"mirror of {args.root} on http://{args.host}:{port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
