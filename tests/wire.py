"""A loopback HTTP/1.1 server that answers with exactly the bytes a test gives: for what the
mirror (Twisted's server, which writes headers its own way) cannot send, such as a status line's
own reason phrase, header names in any case, raw non-ASCII header bytes, or an answer that
depends on the time since a path was first asked for."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate


@dataclass
class Hit:
    """One request as the server saw it: its path, when (time.time()), and which of its path's."""

    path: str
    at: float
    number: int  # 1 for the first request for this path
    first_at: float  # when this path was first asked for


# A responder gets the Hit and returns the whole response as bytes, or None for 404.
Responder = Callable[[Hit], bytes | None]


@dataclass
class Wire:
    """What the running server saw, for assertions."""

    origin: str
    hits: list[Hit] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]


def response(status: str, headers: list[tuple[str, str | bytes]], body: bytes = b"",
             length: bool = True) -> bytes:
    """`HTTP/1.1 {status}` with the headers as given (bytes kept as they are), then the body."""
    lines = [f"HTTP/1.1 {status}".encode("latin-1")]
    for name, value in headers:
        lines.append(name.encode("latin-1") + b": " + (value if isinstance(value, bytes)
                                                      else value.encode("latin-1")))
    if length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def http_date(moment: float) -> str:
    return formatdate(moment, usegmt=True)


def article_page(content_id: int, lang: str = "en", slug: str = "story", **fields) -> bytes:
    """A page in DW's current markup for one article (`fields` as `devtools.sitegen` takes them:
    title, teaser, blocks, images with their credits, credit_line...)."""
    from devtools.sitegen import render_article

    article = {"id": content_id, "language": lang, "slug": slug, "title": f"Story {content_id}",
               "teaser": f"What story {content_id} is about.", "published_at": "2026-11-05T08:00:00Z",
               "authors": ["Jane Example"], "blocks": [f"First paragraph of story {content_id}.",
                                                      "Second paragraph of the story."]} | fields
    return render_article(article).encode()


def ok(content_id: int, **fields) -> bytes:
    """A 200 response with `article_page(content_id, **fields)`."""
    return response("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                    article_page(content_id, **fields))


def content_id_of(path: str) -> int | None:
    """The content id of a `/.../a-{id}` path (a query ignored); None for any other path."""
    tail = path.split("?")[0].rsplit("/a-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


ALLOW_ALL = b"User-agent: *\nAllow: /\n"


@contextlib.contextmanager
def serving(responder: Responder, robots: bytes = ALLOW_ALL, robots_after: float = 0.0,
            robots_status: str = "200 OK") -> Iterator[Wire]:
    """Serve on a free loopback port until the block ends; `/robots.txt` is `robots` (allowing
    everything unless given), sent `robots_after` seconds after it is asked for, with the status
    `robots_status`."""
    lock = threading.Lock()
    firsts: dict[str, float] = {}
    counts: dict[str, int] = {}
    wire = Wire("")

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline(65536).decode("latin-1")
            while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.split()
            if len(parts) < 2:
                return
            path = parts[1]
            now = time.time()
            with lock:
                counts[path] = counts.get(path, 0) + 1
                hit = Hit(path, now, counts[path], firsts.setdefault(path, now))
                wire.hits.append(hit)
            if path == "/robots.txt":
                time.sleep(robots_after)
                data = response(robots_status, [("Content-Type", "text/plain")], robots)
            else:
                data = responder(hit) or response("404 Not Found", [("Content-Type", "text/html")],
                                                  b"<html><body>404</body></html>")
            self.wfile.write(data)
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        wire.origin = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield wire
        finally:
            server.shutdown()
