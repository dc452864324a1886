"""The suite's pre-imported parent (tests/forkserver.py) against a real exec of the same command:
a forked `scrapy crawl dw` must archive, capture, count and exit exactly as `python -m scrapy crawl
dw` does, see the working directory and environment it is given, and be killed at its timeout."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import last_run, query

pytestmark = pytest.mark.skipif(os.environ.get("DW_TESTS_FORKSERVER", "1") == "0",
                                reason="DW_TESTS_FORKSERVER=0: every run is a real exec")


def both(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 180) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """`argv` run by a real exec, then forked from the server (which must have forked it)."""
    env = {**os.environ, **(env or {})}
    real = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    forked_before = forkserver.USED["forked"]
    forked = forkserver.run(argv, cwd=cwd, env=env, timeout=timeout)
    assert forkserver.USED["forked"] == forked_before + 1, forkserver._server.said
    return real, forked


def archive_content(db: Path) -> dict:
    """What a crawl stored, without the times and paths that differ between two runs."""
    run = last_run(db)
    stats = {k: v for k, v in run["stats"].items()
             if not re.search(r"time|elapsed|memusage|_seconds|rate|per_minute|finish|start"
                              r"|log_count/INFO", k)}
    return {
        "articles": query(db, "SELECT id, url, language, title, teaser, body, authors, topics,"
                              " agencies, published_at, modified_at FROM articles ORDER BY id"),
        "short_links": query(db, "SELECT code, article_id FROM short_links ORDER BY code"),
        "run": (run["outcome"], run["new"]),
        "stats": stats,
    }


def captured(db: Path) -> list[tuple[str, str, int]]:
    """(record type, target URI, HTTP status) of every WARC record the crawl wrote, sorted."""
    rows = []
    for path in sorted(Path(f"{db}-warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                status = record.http_headers.get_statuscode() if record.http_headers else ""
                rows.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI") or "",
                             status if record.rec_type == "response" else ""))
    return sorted(rows)


def test_a_forked_crawl_archives_captures_and_reports_as_the_real_one(mirror, tmp_path):
    real_db, forked_db = tmp_path / "real" / "dw.db", tmp_path / "forked" / "dw.db"
    real_db.parent.mkdir()
    forked_db.parent.mkdir()
    real = subprocess.run(crawl_command(mirror.origin, real_db, "-a", "lang=en,de"), cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    real_requests = sorted(mirror.requests())
    mirror.clear()
    forked = forkserver.run(crawl_command(mirror.origin, forked_db, "-a", "lang=en,de"), cwd=ROOT,
                            env=dict(os.environ), timeout=180)
    assert forkserver.USED["forked"] >= 1
    assert (real.returncode, forked.returncode) == (0, 0), forked.stderr[-2000:]
    assert "Traceback" not in real.stderr and "Traceback" not in forked.stderr
    assert sorted(mirror.requests()) == real_requests
    assert archive_content(forked_db) == archive_content(real_db)
    assert archive_content(real_db)["articles"]  # the sample site's English and German articles
    assert captured(forked_db) == captured(real_db) and captured(real_db)
    assert log_shape(forked.stderr) == log_shape(real.stderr)
    assert "[crawler.archive.extension] INFO" in log_shape(real.stderr)
    assert " 'spidermon_item_scraped_count/Article'" in log_shape(real.stderr)
    # and the archive rebuilt from the captures (`python -m crawler.reextract`), both ways
    rebuilt = {}
    for way, db in (("real", tmp_path / "real-rebuilt.db"), ("forked", tmp_path / "forked-rebuilt.db")):
        argv = [sys.executable, "-m", "crawler.reextract", "--archive", str(db), "--workers", "1",
                f"{real_db}-warc"]
        run = (subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=180)
               if way == "real" else forkserver.run(argv, cwd=ROOT, timeout=180))
        assert run.returncode == 0, run.stderr[-2000:]
        rebuilt[way] = (run.stdout, log_shape(run.stderr),
                        query(db, "SELECT id, title, body FROM articles ORDER BY id"))
    assert rebuilt["forked"] == rebuilt["real"] and rebuilt["real"][2]


def log_shape(stderr: str) -> list[str]:
    """The log's lines as (logger, level) and the stats dump's keys, sorted: what two runs of the
    same crawl share when times, ports, paths and the order of parallel requests are set aside."""
    shape = []
    for line in stderr.splitlines():
        if m := re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\[[\w.]+\] \w+)", line):
            shape.append(m[1])
        elif m := re.match(r"[{ ]('[^']+')", line):
            shape.append(" " + m[1])
    return sorted(shape)


def test_a_failed_crawl_exits_and_says_so_as_the_real_one(tmp_path):
    """Runs refused (no such spider, the archive a directory, no such command): the exit status,
    stdout and stderr are the real exec's, the log's timestamps set aside."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for args in (["crawl", "nope"], ["crawl", "dw", "-s", f"ARCHIVE_PATH={folder}"],
                 ["nosuchcommand"]):
        real, forked = both([sys.executable, "-m", "scrapy", *args], cwd=ROOT, timeout=120)
        assert forked.returncode == real.returncode, (args, forked.stderr[-1500:])
        assert real.returncode != 0, args
        assert strip_log_times(forked.stderr) == strip_log_times(without_runpy(real.stderr)), args
        assert forked.stdout == real.stdout, args


@pytest.mark.parametrize("name", ["app-state_a-79060002.html", "missing.html"])
def test_the_extractor_cli_forked_prints_what_the_real_one_prints(name):
    """`python -m crawler.extract PAGE`: the same JSON and exit status (1 for a missing file)."""
    page = next((ROOT / "tests" / "pages").rglob(name), ROOT / "tests" / "pages" / name)
    real, forked = both([sys.executable, "-m", "crawler.extract", str(page)], cwd=ROOT, timeout=60)
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (real.returncode, real.stdout, real.stderr)
    assert real.returncode == (0 if page.exists() else 1) and real.stdout


def without_runpy(stderr: str) -> str:
    """A real `python -m`'s traceback without its two `<frozen runpy>` frames, which a forked
    run's leaves out (tests/forkserver.py)."""
    return re.sub(r'^  File "<frozen runpy>", line \d+, in \w+\n', "", stderr, flags=re.M)


def strip_log_times(text: str) -> str:
    return re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "T", text, flags=re.M)


@pytest.mark.parametrize("env", [{}, {"SCRAPY_SETTINGS_MODULE": "tests.readme_settings"},
                                 {"SCRAPY_SETTINGS_MODULE": "tests.readme_settings",
                                  "DW_README_ORIGIN": "http://127.0.0.1:9"}])
def test_a_forked_run_has_the_environment_it_is_given(env):
    """Scrapy finds its settings through the environment (SCRAPY_SETTINGS_MODULE; the README's
    settings need DW_README_ORIGIN): a forked `scrapy settings` reads what the real one reads,
    fails as it fails."""
    real, forked = both([sys.executable, "-m", "scrapy", "settings", "--get", "DW_ORIGIN"],
                        cwd=ROOT, env=env, timeout=60)
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (real.returncode, real.stdout, without_runpy(real.stderr)), env
    assert real.stdout == {0: "https://www.dw.com\n", 1: "", 2: "http://127.0.0.1:9\n"}[len(env)]


def test_a_run_elsewhere_or_started_otherwise_is_a_real_exec(tmp_path):
    """Another working directory (sys.path[0]), a variable Python reads as it starts, or a module
    the server did not import: run by a real exec, which finds what it finds."""
    argv = [sys.executable, "-m", "scrapy", "version"]
    env = dict(os.environ)
    assert forkserver.forkable(argv, ROOT, env)
    assert not forkserver.forkable(argv, tmp_path, env)
    assert not forkserver.forkable(argv, ROOT, {**env, "PYTHONHASHSEED": "7"})
    assert not forkserver.forkable(argv, ROOT, {**env, "PYTHONPATH": str(tmp_path)})
    assert not forkserver.forkable([sys.executable, "-m", "devtools.mirror"], ROOT, env)
    exec_before = forkserver.USED["exec"]
    # from elsewhere the tests package is not importable: the real exec says so, though the
    # server (itself tests.forkserver) has it imported
    run = forkserver.run([sys.executable, "-m", "scrapy", "settings", "--get", "BOT_NAME"],
                         cwd=tmp_path, env={**env, "SCRAPY_SETTINGS_MODULE": "tests.readme_settings"},
                         timeout=60)
    assert run.returncode == 1 and "No module named 'tests'" in run.stderr
    assert forkserver.USED["exec"] == exec_before + 1


def test_a_forked_run_is_killed_at_its_timeout(tmp_path):
    """A crawl of an origin that accepts and never answers: TimeoutExpired, as subprocess.run
    raises, and the crawl's process is gone."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    origin = f"http://127.0.0.1:{silent.getsockname()[1]}"
    argv = crawl_command(origin, tmp_path / "dw.db", "-a", "lang=en")
    before = set(children_of_server())
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as expired:
        forkserver.run(argv, cwd=ROOT, env=dict(os.environ), timeout=3)
    assert time.monotonic() - started < 60
    assert expired.value.timeout == 3 and expired.value.cmd == argv
    silent.close()
    deadline = time.monotonic() + 30
    while set(children_of_server()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(children_of_server()) - before  # the run and its helper have exited


def children_of_server() -> list[int]:
    """Pids of the processes the server's helpers run (its grandchildren), from /proc."""
    server = forkserver._the_server().process.pid
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    helpers = {pid for pid, parent in parents.items() if parent == server}
    return sorted(helpers | {pid for pid, parent in parents.items() if parent in helpers})


def test_a_forked_run_killed_by_a_signal_returns_minus_its_number(tmp_path):
    """As subprocess reports a process killed by a signal: the server's helper waits for the run
    and passes its wait status on."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    origin = f"http://127.0.0.1:{silent.getsockname()[1]}"
    before = set(children_of_server())
    killed: list[int] = []

    def kill_it() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [pid for pid in set(children_of_server()) - before if is_a_crawl(pid)]
            if runs:
                os.kill(runs[0], signal.SIGKILL)
                killed.append(runs[0])
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_it)
    killer.start()
    run = forkserver.run(crawl_command(origin, tmp_path / "dw.db", "-a", "lang=en"), cwd=ROOT,
                         env=dict(os.environ), timeout=120)
    killer.join()
    silent.close()
    assert killed and run.returncode == -signal.SIGKILL


def is_a_crawl(pid: int) -> bool:
    """Whether `pid` is a forked run (its command line set aside: a fork keeps the server's, so
    tell it by the helper being its parent and it having a parent of the server's)."""
    try:
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return False
    return parent != forkserver._the_server().process.pid
