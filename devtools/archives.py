"""Web archives on loopback, for tests, demos and `make replay` (not installed).

- `running_store(root)`: a plain static file server (Twisted's `File`, which answers `Range`
  requests) standing for `data.commoncrawl.org`: WARC files and `warc.paths.gz` listings. An
  access log gets `METHOD PATH STATUS RANGE TIME` lines; a faults file (JSON: path -> a spec,
  read at each request) makes a path misbehave for its first `times` requests (default 1):
  `"status=429 retry-after=1"` answers that; `"stall-after=BYTES"` sends that much of the file,
  then nothing, ever; `"cut-after=BYTES"` that much, then closes the connection; `"rate=BYTES"`
  sends the file at that many bytes a second; `"ignore-range"` answers a `Range` request with
  the whole file (200), as some servers do.
- `running_pywb(warcs)`: a real pywb (`wayback`, from `.venv-pywb`, `make pywb`) over one
  collection holding the given WARC files (linked, not copied, and indexed with `wb-manager`);
  its CDX server is `{origin}/{collection}/cdx`, raw captures `{origin}/{collection}/{ts}id_/{url}`.
- `replay(folders)` (`make replay`): pywb over the WARC folders until SIGINT or SIGTERM, new
  and grown files indexed by pywb's auto-indexing as they appear; pywb never outlives it.

    python -m devtools.archives store --root DIR [--port N] [--access-log F] [--faults F]
    python -m devtools.archives replay [WARC|DIR ...] [--port 8090] [--interval 5]   # until Ctrl-C/SIGTERM
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
PYWB_BIN = CHECKOUT / ".venv-pywb" / "bin"


def pywb_installed() -> bool:
    return (PYWB_BIN / "wayback").exists() and (PYWB_BIN / "wb-manager").exists()


# -- the static store ------------------------------------------------------------------------

def _store_site(root: Path, access_log: Path | None, faults: Path | None):
    from twisted.web import resource, server, static

    class Files(static.File):
        contentEncodings: dict = {}  # a .gz is a file to hand over, not a content encoding

    class Store(resource.Resource):
        isLeaf = True

        def __init__(self):
            super().__init__()
            self.files = Files(str(root))
            self.failed: dict[tuple[str, str], int] = {}

        def render(self, request):
            path = request.path.decode("latin-1")
            spec = self.fault(path)
            status = 200
            if spec and ("stall-after" in spec or "cut-after" in spec or "rate" in spec):
                return self.send_faulty(request, path, spec)
            if spec and "ignore-range" in spec:
                request.requestHeaders.removeHeader(b"range")
                spec = None
            if spec:
                status = int(spec.get("status", 503))
                request.setResponseCode(status)
                if "retry-after" in spec:
                    request.setHeader(b"Retry-After", spec["retry-after"].encode())
                body = b"slow down\n"
            else:
                target = self.files
                for part in [p for p in path.split("/") if p]:
                    target = target.getChild(part.encode(), request)
                body = target.render(request)
                status = request.code
            self.log(request, path, status)
            return body

        def send_faulty(self, request, path: str, spec: dict):
            """The whole file announced, then: its first `stall-after` bytes and nothing more,
            ever; its first `cut-after` bytes and the connection closed; or all of it at `rate`
            bytes a second. `Range` is honoured (206) unless `ignore-range` is in the spec."""
            from twisted.internet import reactor

            data = (root / path.lstrip("/")).read_bytes()
            rng = (request.getHeader(b"Range") or b"").decode("latin-1")
            start = 0
            if rng.startswith("bytes=") and "ignore-range" not in spec:
                first, _, last = rng[6:].partition("-")
                start, end = int(first), int(last) if last else len(data) - 1
                request.setResponseCode(206)
                request.setHeader(b"Content-Range", f"bytes {start}-{end}/{len(data)}".encode())
                data = data[start:end + 1]
            request.setHeader(b"Content-Length", str(len(data)).encode())
            self.log(request, path, 206 if start else 200)
            if "stall-after" in spec:
                request.write(data[: int(spec["stall-after"])])
            elif "cut-after" in spec:
                request.write(data[: int(spec["cut-after"])])
                reactor.callLater(0.05, request.transport.loseConnection)
            else:
                rate, step = int(spec["rate"]), max(int(spec["rate"]) // 20, 1)

                def send(at: int = 0) -> None:
                    if request.finished or request._disconnected:
                        return
                    request.write(data[at:at + step])
                    if at + step < len(data):
                        reactor.callLater(step / rate, send, at + step)
                    else:
                        request.finish()
                send()
            return server.NOT_DONE_YET

        def log(self, request, path: str, status: int) -> None:
            if access_log:
                rng = (request.getHeader(b"Range") or b"-").decode("latin-1").replace(" ", "")
                with open(access_log, "a") as log:
                    log.write(f"{request.method.decode()} {path} {status} {rng} {time.time():.3f}\n")

        def fault(self, path: str) -> dict | None:
            if not faults or not faults.exists():
                return None
            spec_text = json.loads(faults.read_text()).get(path)
            if not spec_text:
                return None
            spec = dict((word.split("=", 1) + [""])[:2] for word in spec_text.split())
            done = self.failed.get((path, spec_text), 0)  # a new spec for the path counts afresh
            if done >= int(spec.get("times", 1)):
                return None
            self.failed[path, spec_text] = done + 1
            return spec

    site = server.Site(Store())
    site.noisy = False
    return site


def _spawn(command: list[str], marker: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=CHECKOUT)
    line = process.stdout.readline()
    if marker not in line:
        process.kill()
        raise RuntimeError(f"did not start: {line!r}")
    return process, line.rsplit(" on ", 1)[1].strip()


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_store(root: Path, access_log: Path | None = None, faults: Path | None = None) -> Iterator[str]:
    """A static server of `root` in a subprocess on a free loopback port; yields its origin."""
    command = [sys.executable, "-m", "devtools.archives", "store", "--root", str(Path(root).resolve()),
               "--port", "0"]
    if access_log:
        command += ["--access-log", str(Path(access_log).resolve())]
    if faults:
        command += ["--faults", str(Path(faults).resolve())]
    process, origin = _spawn(command, " on http://")
    try:
        yield origin
    finally:
        _stop(process)


# -- pywb --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pywb_root(root: Path, collections: dict[str, list[Path]], index: bool = True) -> Path:
    """A pywb directory at `root` with each collection's WARC files linked (and, with `index`,
    indexed now; else pywb's auto-indexing indexes them)."""
    for name, warcs in collections.items():
        archive = root / "collections" / name / "archive"
        if not archive.exists():
            subprocess.run([str(PYWB_BIN / "wb-manager"), "init", name], cwd=root, check=True,
                           capture_output=True)
        for old in archive.iterdir():
            old.unlink()
        shutil.rmtree(root / "collections" / name / "indexes", ignore_errors=True)
        (root / "collections" / name / "indexes").mkdir()
        link_new(archive, warcs)
        if index:
            subprocess.run([str(PYWB_BIN / "wb-manager"), "reindex", name], cwd=root, check=True,
                           capture_output=True)
    return root


def link_new(archive: Path, warcs: list[Path]) -> list[Path]:
    """Link into a collection's `archive` folder the WARC files not linked yet; the new ones."""
    linked = []
    for warc in warcs:
        link = archive / warc.name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(warc.resolve())
            linked.append(warc)
    return linked


def _die_with_parent() -> None:
    """In the child, before it runs: ask Linux to send it SIGTERM when its parent dies (a
    `make replay` killed however it is killed leaves no pywb behind)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def running_pywb(collections: dict[str, list[Path]], root: Path | None = None,
                 port: int | None = None, autoindex: int = 0) -> Iterator[str]:
    """A real pywb on loopback over `collections` (name -> WARC files); yields its origin. With
    `autoindex` (seconds), pywb indexes the files of its collections' folders itself, files
    linked there later (`link_new`) and files that grew too, every that many seconds."""
    if not pywb_installed():
        raise RuntimeError("pywb is not installed: make pywb")
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pywb-")))
        root.mkdir(parents=True, exist_ok=True)
        pywb_root(root, collections, index=not autoindex)
        port = port or free_port()
        command = [str(PYWB_BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port), "-d", str(root)]
        if autoindex:
            command += ["--autoindex", "--auto-interval", str(autoindex)]
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent)
        stack.callback(_stop, process)
        origin = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(origin + "/", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pywb did not start") from None
                time.sleep(0.2)
        yield origin


def replay(folders: list[Path], root: Path, port: int, interval: int) -> int:
    """pywb over the WARC files in `folders` until SIGINT or SIGTERM, linking the files that
    appear there meanwhile (a crawl or backfill running beside it) every `interval` seconds."""
    from crawler.warc.read import warc_files

    def found() -> list[Path]:
        return [f.resolve() for f in warc_files(folders) if f.exists()]

    files = found()
    if not files:
        print(f"No WARC files in {', '.join(map(str, folders))}: crawl first (make demo)", file=sys.stderr)
        return 2
    if not pywb_installed():
        print("pywb is not installed: make pywb", file=sys.stderr)
        return 2

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # as Ctrl-C: pywb is stopped with it
    archive = root.resolve() / "collections" / "dw" / "archive"
    try:
        with running_pywb({"dw": files}, root=root.resolve(), port=port, autoindex=interval) as origin:
            print(f"pywb replaying {len(files)} WARC files on {origin}/dw/ (new files in"
                  f" {', '.join(map(str, folders))} within {interval} s; Ctrl-C stops it)", flush=True)
            while True:
                time.sleep(interval)
                for new in link_new(archive, found()):
                    print(f"replaying {new.name} too", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(root / "collections" / "dw" / "indexes", ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.archives")
    sub = parser.add_subparsers(dest="command", required=True)
    store = sub.add_parser("store", help="serve a folder of WARC files, Range requests too")
    store.add_argument("--root", type=Path, required=True)
    store.add_argument("--port", type=int, default=8095)
    store.add_argument("--access-log", type=Path)
    store.add_argument("--faults", type=Path)
    replaying = sub.add_parser("replay", help="pywb over WARC files, until Ctrl-C or SIGTERM")
    replaying.add_argument("warcs", nargs="*", type=Path, default=[Path("data/dw.db-warc")])
    replaying.add_argument("--port", type=int, default=8090)
    replaying.add_argument("--root", type=Path, default=Path("data/replay"))
    replaying.add_argument("--interval", type=int, default=5,
                        help="seconds between looks for new or grown WARC files")
    args = parser.parse_args(argv)
    if args.command == "store":
        from twisted.internet import reactor

        port = reactor.listenTCP(args.port, _store_site(args.root, args.access_log, args.faults),
                                 interface="127.0.0.1")
        print(f"store of {args.root} on http://127.0.0.1:{port.getHost().port}", flush=True)
        reactor.run()
        return 0
    return replay(args.warcs, args.root, args.port, args.interval)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
