"""Helpers for tests of the distributed crawl: a real redis-server, real workers, the real writer."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None or not __import__("importlib.util").util.find_spec("scrapy_redis"),
    reason="redis-server or the [distributed] extra is not installed (make install; make redis)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def redis_server(tmp: Path, *, unix: bool = True) -> Iterator[str]:
    """A throwaway redis-server on a unix socket in `tmp` (or a free loopback port); its URL."""
    if unix:
        sock = tmp / "redis.sock"
        listen, url = ["--port", "0", "--unixsocket", str(sock)], f"unix://{sock}"
    else:
        port = free_port()
        listen, url = ["--port", str(port), "--bind", "127.0.0.1"], f"redis://127.0.0.1:{port}/0"
    process = subprocess.Popen([REDIS_SERVER, *listen, "--save", "", "--appendonly", "no",
                                "--dir", str(tmp), "--logfile", str(tmp / "redis.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def worker(origin: str, redis_url: str, log: Path, *args: str) -> subprocess.Popen:
    """Start one `scrapy crawl dw -s REDIS_URL=...` worker; its output goes to `log`.

    Its ARCHIVE_PATH is `log` with `.db`: a worker never touches it (`untouched` says so).
    """
    command = crawl_command(origin, log.with_suffix(".db"), "-s", f"REDIS_URL={redis_url}", *args)
    with open(log, "w") as out:
        return forkserver.start(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def writer(redis_url: str, archive: Path, log: Path, *args: str) -> subprocess.Popen:
    """Start `scrapy archive-writer` on `archive`; its output goes to `log`."""
    command = [sys.executable, "-m", "scrapy", "archive-writer", "-s", f"REDIS_URL={redis_url}",
               "-s", f"ARCHIVE_PATH={archive}", *args]
    with open(log, "w") as out:
        return forkserver.start(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def wait_until(condition, timeout: float = 90, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finish(processes: list[subprocess.Popen], timeout: float = 150) -> list[int]:
    """Exit statuses, once every process has ended (killed after `timeout`)."""
    deadline = time.monotonic() + timeout
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    return codes


def untouched(log: Path) -> bool:
    """True when the worker logging to `log` created no archive file, nor its lock (its
    captures folder, `<archive>-warc/`, is its own: workers capture what they fetch)."""
    return not any(p for p in log.parent.glob(log.with_suffix(".db").name + "*")
                   if not p.name.endswith("-warc"))


def no_traceback(*logs: Path) -> None:
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log}:\n{text[-3000:]}"
