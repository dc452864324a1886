"""A real headless Chromium, driven over the DevTools protocol on a pipe, and datasette serving
an archive with the project's views: what the browser tests and `make screenshots` look through.

`python -m tests.browser OUTDIR` writes the README's screenshots (`make screenshots`) of the
sample site crawled, edited and crawled again (tests/datasette_archive.py); `--archive PATH`
takes them of another archive.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEWS = ["--metadata", str(ROOT / "data" / "metadata.yml"),
         "--template-dir", str(ROOT / "data" / "templates"),
         "--plugins-dir", str(ROOT / "plugins"),
         "--setting", "suggest_facets", "off",  # as `make serve`: they cost more than they help
         "--setting", "max_csv_mb", "0"]
SCREEN = (1400, 1000)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]


def chromium() -> str | None:
    """Debian's chromium (`make browser` installs it), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def datasette(archive: Path, timeout: float = 60, **settings) -> Iterator[str]:
    """`datasette serve ARCHIVE` with the project's metadata, templates and plugins (and
    datasette `settings`, such as `default_allow_sql="off"`); its base URL."""
    port = _free_port()
    more = [arg for name, value in settings.items() for arg in ("--setting", name, str(value))]
    server = subprocess.Popen([sys.executable, "-m", "datasette", "serve", str(archive), *VIEWS, *more,
                               "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("datasette did not start: "
                                       + server.stderr.read().decode(errors="replace")[-2000:]) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def _high_fd(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class Browser:
    """One Chromium page of `SCREEN` size; `open(url)`, `evaluate(js)`, `screenshot(path)`."""

    def __init__(self, binary: str, timeout: float = 60):
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="dw-chromium-")
        to_child, self._out = (_high_fd(fd) for fd in os.pipe())
        self._in, from_child = (_high_fd(fd) for fd in os.pipe())

        def pipes_as_3_and_4():  # Chromium reads commands on fd 3 and answers on fd 4
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}",
             f"--window-size={SCREEN[0]},{SCREEN[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=pipes_as_3_and_4, pass_fds=(3, 4))
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=SCREEN[0], height=SCREEN[1],
                  deviceScaleFactor=1, mobile=False)

    def _send(self, message: dict) -> int:
        self._next_id += 1
        message["id"] = self._next_id
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _readable(self, seconds: float) -> bool:
        poller = select.poll()
        poller.register(self._in, select.POLLIN)
        return bool(poller.poll(seconds * 1000))

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            # poll, not select: select() refuses a descriptor above 1023, and the process that
            # runs this may hold a thousand (test_datasette's Datasette instances keep theirs)
            if left <= 0 or not self._readable(left):
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        message = {"method": method, "params": params}
        if session:
            message["sessionId"] = session
        wanted = self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == wanted:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def call(self, method: str, **params) -> dict:
        """A DevTools command in the page's session; its result."""
        return self._call(method, self.session, **params)

    def open(self, url: str) -> None:
        """Load `url` and wait for its load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._receive(deadline))

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, selector: str, seconds: float = 20) -> bool:
        """True once an element matching `selector` is in the page, False after `seconds`."""
        return self.evaluate(f"""new Promise(done => {{
            const until = Date.now() + {seconds * 1000};
            (function look() {{
              if (document.querySelector({json.dumps(selector)})) return done(true);
              if (Date.now() > until) return done(false);
              setTimeout(look, 100);
            }})();
        }})""")

    def on_first_screen(self, selector: str) -> list[str]:
        """Visible text of the elements matching `selector` whose top is inside the first screen."""
        return self.evaluate(f"""[...document.querySelectorAll({json.dumps(selector)})]
            .filter(e => {{ const r = e.getBoundingClientRect();
                           return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; }})
            .map(e => e.innerText.trim())""")

    def resize(self, width: int, height: int) -> None:
        """The page's viewport as a screen of `width` x `height` CSS pixels (reload to lay out)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def screenshot(self, path: Path, whole_page: bool = False) -> None:
        """The first screen as a PNG, or the whole page (`whole_page`: as tall as its content)."""
        if whole_page:
            width, height = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                             clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})["data"]
        else:
            data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self._call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._in)
        os.close(self._out)
        self.profile.cleanup()


# The README's pictures: name, path under the server, elements to wait for (every one); or a
# page and the link on it to follow first; and whether the picture is the whole page.
CHARTS_DRAWN = ", ".join(f"#chart-{c} svg g.mark-{m} path" for c, m in (
    ("per-day-agency", "rect"), ("per-day-language", "rect"), ("agency-by-language", "rect"),
    ("crawl-runs", "symbol")))
SCREENSHOTS = [
    ("list", "/dw/articles", ["table.dw-list"], False),
    ("reading-view", "/dw/articles/16825046", ["article.dw-article"], False),
    ("agency", "/dw/agency?agency=rtr", [".dw-counts"], False),
    ("charts", "/-/dashboards/archive", CHARTS_DRAWN.split(", "), True),
    ("search", "/dw/articles?_search=Reuters", [".dw-hit"], False),
    ("revision", ("/dw/articles/16825046", ".dw-versions a[href*='/revisions/']"), ["table.diff"], False),
]


def main(argv: list[str] | None = None) -> int:
    """Write the screenshots of SCREENSHOTS into a folder."""
    parser = argparse.ArgumentParser(prog="python -m tests.browser", description=main.__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--archive", type=Path, help="an archive (default: the sample, edited)")
    args = parser.parse_args(argv)
    binary = chromium()
    if binary is None:
        print("chromium is not installed: run `make browser`", file=sys.stderr)
        return 1
    args.outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dw-screenshots-") as work:
        if args.archive is None:
            from tests.datasette_archive import build_edited_archive

            args.archive, _ = build_edited_archive(Path(work))
        database = args.archive.stem
        with datasette(args.archive) as base:
            browser = Browser(binary)
            failed = 0
            try:
                for name, path, selectors, whole_page in SCREENSHOTS:
                    path, follow = path if isinstance(path, tuple) else (path, None)
                    browser.open(base + path.replace("/dw/", f"/{database}/", 1))
                    if follow:
                        browser.open(browser.evaluate(f"document.querySelector({json.dumps(follow)}).href"))
                    missing = [s for s in selectors if not browser.wait_for(s)]
                    if missing:
                        print(f"{name}: {', '.join(missing)} did not appear", file=sys.stderr)
                        failed += 1
                        continue
                    browser.screenshot(args.outdir / f"{name}.png", whole_page=whole_page)
                    print(args.outdir / f"{name}.png")
            finally:
                browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
