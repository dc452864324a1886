"""Web archives on loopback, for tests, demos and `make replay` (not installed).

- `running_store(root)`: a plain static file server (Twisted's `File`, which answers `Range`
  requests) standing for `data.commoncrawl.org`: WARC files and `warc.paths.gz` listings. An
  access log gets `METHOD PATH STATUS RANGE TIME` lines; a faults file (JSON: path -> `"status=429
  retry-after=1 times=1"`, or `"stall-after=BYTES"`: that much of the file, then a stall) makes
  a path fail the first `times` requests.
- `running_pywb(warcs)`: a real pywb (`wayback`, from `.venv-pywb`, `make pywb`) over one
  collection holding the given WARC files (linked, not copied, and indexed with `wb-manager`);
  its CDX server is `{origin}/{collection}/cdx`, raw captures `{origin}/{collection}/{ts}id_/{url}`.

    python -m devtools.archives store --root DIR [--port N] [--access-log F] [--faults F]
    python -m devtools.archives replay [WARC|DIR ...] [--port 8090]   # pywb, until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
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
            self.failed: dict[str, int] = {}

        def render(self, request):
            path = request.path.decode("latin-1")
            spec = self.fault(path)
            status = 200
            if spec and "stall-after" in spec:  # the first bytes, then nothing more, ever
                data = (root / path.lstrip("/")).read_bytes()[: int(spec["stall-after"])]
                request.setHeader(b"Content-Length", str((root / path.lstrip("/")).stat().st_size).encode())
                request.write(data)
                self.log(request, path, 200)
                return server.NOT_DONE_YET
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
            spec = dict(word.split("=", 1) for word in spec_text.split())
            done = self.failed.get(path, 0)
            if done >= int(spec.get("times", 1)):
                return None
            self.failed[path] = done + 1
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


def pywb_root(root: Path, collections: dict[str, list[Path]]) -> Path:
    """A pywb directory at `root` with each collection's WARC files linked and indexed."""
    for name, warcs in collections.items():
        archive = root / "collections" / name / "archive"
        if not archive.exists():
            subprocess.run([str(PYWB_BIN / "wb-manager"), "init", name], cwd=root, check=True,
                           capture_output=True)
        for old in archive.iterdir():
            old.unlink()
        for warc in warcs:
            (archive / warc.name).symlink_to(warc.resolve())
        subprocess.run([str(PYWB_BIN / "wb-manager"), "reindex", name], cwd=root, check=True,
                       capture_output=True)
    return root


@contextlib.contextmanager
def running_pywb(collections: dict[str, list[Path]], root: Path | None = None,
                 port: int | None = None) -> Iterator[str]:
    """A real pywb on loopback over `collections` (name -> WARC files); yields its origin."""
    if not pywb_installed():
        raise RuntimeError("pywb is not installed: make pywb")
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pywb-")))
        root.mkdir(parents=True, exist_ok=True)
        pywb_root(root, collections)
        port = port or free_port()
        process = subprocess.Popen([str(PYWB_BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port),
                                    "-d", str(root)], cwd=root, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.archives")
    sub = parser.add_subparsers(dest="command", required=True)
    store = sub.add_parser("store", help="serve a folder of WARC files, Range requests too")
    store.add_argument("--root", type=Path, required=True)
    store.add_argument("--port", type=int, default=8095)
    store.add_argument("--access-log", type=Path)
    store.add_argument("--faults", type=Path)
    replay = sub.add_parser("replay", help="pywb over WARC files, until Ctrl-C")
    replay.add_argument("warcs", nargs="*", type=Path, default=[Path("data/warc")])
    replay.add_argument("--port", type=int, default=8090)
    replay.add_argument("--root", type=Path, default=Path("data/replay"))
    args = parser.parse_args(argv)
    if args.command == "store":
        from twisted.internet import reactor

        port = reactor.listenTCP(args.port, _store_site(args.root, args.access_log, args.faults),
                                 interface="127.0.0.1")
        print(f"store of {args.root} on http://127.0.0.1:{port.getHost().port}", flush=True)
        reactor.run()
        return 0
    from crawler.warc.read import warc_files

    files = [f.resolve() for f in warc_files(args.warcs) if f.exists()]
    if not files:
        print(f"No WARC files in {', '.join(map(str, args.warcs))}: crawl first (make demo)", file=sys.stderr)
        return 2
    if not pywb_installed():
        print("pywb is not installed: make pywb", file=sys.stderr)
        return 2
    with running_pywb({"dw": files}, root=args.root.resolve(), port=args.port) as origin:
        print(f"pywb replaying {len(files)} WARC files on {origin}/dw/ (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    shutil.rmtree(args.root / "collections" / "dw" / "indexes", ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
