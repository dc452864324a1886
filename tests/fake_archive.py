"""A web archive on loopback that answers as the test tells it, for the answers real archives give
on a bad day: malformed CDX in every form, pages and resumption keys, 404s, 503 storms, a WARC
store that ignores `Range`. Runs in a thread of the test process (`FakeArchive()` as a context
manager); each request is logged (`log`: path, query, status, Range header, time).

`cdx(rows)`: a CDX answer in the Wayback Machine's form (an array of arrays, the first the field
names); `cdx_lines(rows)`: Common Crawl's and pywb's (one JSON object per line). `serve_file`:
a file with `Range` answered (206) or, with `ignore_range`, ignored (200).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

WAYBACK_FIELDS = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Answer]


def cdx(rows: list[dict], resume_key: str | None = None) -> Answer:
    """The Wayback Machine's `output=json`: field names, then one array per capture."""
    table = [WAYBACK_FIELDS] + [[str(row.get(f, "")) for f in WAYBACK_FIELDS] for row in rows]
    if resume_key:
        table += [[], [resume_key]]
    return Answer(200, json.dumps(table).encode(), {"Content-Type": "application/json"})


def cdx_lines(rows: list[dict]) -> Answer:
    """Common Crawl's (and pywb's) `output=json`: one JSON object per line."""
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return Answer(200, body, {"Content-Type": "text/x-ndjson"})


def serve_file(path: Path, request: Request, ignore_range: bool = False) -> Answer:
    data = path.read_bytes()
    rng = request.headers.get("range", "")
    if rng.startswith("bytes=") and not ignore_range:
        first, _, last = rng[6:].partition("-")
        start, end = int(first), int(last) if last else len(data) - 1
        return Answer(206, data[start:end + 1], {"Content-Range": f"bytes {start}-{end}/{len(data)}"})
    return Answer(200, data)


class FakeArchive:
    """`routes`: path -> handler (exact path), `prefixes`: path prefix -> handler; else 404."""

    def __init__(self):
        self.routes: dict[str, Handler] = {}
        self.prefixes: dict[str, Handler] = {}
        self.log: list[tuple[str, dict, int, str, float]] = []
        fake = self

        class Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                split = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
                request = Request(split.path, query, {k.lower(): v for k, v in self.headers.items()})
                handler = fake.routes.get(split.path) or next(
                    (h for p, h in sorted(fake.prefixes.items(), key=lambda i: -len(i[0]))
                     if split.path.startswith(p)), None)
                answer = handler(request) if handler else Answer(404, b"<html>Not Found</html>")
                fake.log.append((split.path, query, answer.status, request.headers.get("range", "-"),
                                 time.time()))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeArchive:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests(self, prefix: str = "/") -> list[tuple[str, dict, int, str, float]]:
        return [entry for entry in self.log if entry[0].startswith(prefix)]
