"""Every run has its `crawl_runs` row from its first moment: written `running` when it starts, marked
killed by the next run when it never ended (`kill -9`); a run stopped by another's lock says
which lock and which process hold it, and writes nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, running_mirror

SLOW = "/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046"
QUICK = "https://www.dw.com/en/eu-leaders-agree-on-new-climate-target/a-79010001"


def runs(db) -> list[tuple]:
    """(id, outcome, finish_reason, finished_at) of every row, read as datasette would (read-only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT id, outcome, finish_reason, finished_at FROM crawl_runs"
                            " ORDER BY id").fetchall()
    finally:
        conn.close()


def wait_for(condition, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_a_run_has_its_row_from_the_start_a_locked_run_says_who_holds_the_lock_and_a_killed_one_is_marked(
        tmp_path):
    db, log, faults = tmp_path / "dw.db", tmp_path / "access.log", tmp_path / "faults.json"
    faults.write_text(json.dumps({SLOW: "delay=600"}))  # the first run waits on it until killed
    with running_mirror(ROOT / "data" / "sample-site", log, faults) as origin:
        mirror = Mirror(origin, log)
        first = forkserver.start(
            crawl_command(origin, db, "-a", f"urls=https://www.dw.com{SLOW}", "-s", "DOWNLOAD_TIMEOUT=900"),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: SLOW in mirror.paths(), "the first run asks for its article")
            assert runs(db) == [(1, "running", None, None)]  # written when it started

            # A second run on the same archive while the first one holds its lock.
            asked = mirror.paths()
            second = crawl(mirror, db, "-a", f"urls={QUICK}")
            assert second.returncode == 3
            assert second.stderr.strip().splitlines()[-1] == (
                "dw crawl failed: another crawl is running on this archive"
                f" (lock {os.path.realpath(db)}, pid {first.pid})")
            assert mirror.paths() == asked  # it asked for nothing
            assert runs(db) == [(1, "running", None, None)]  # and wrote nothing
        finally:
            first.send_signal(signal.SIGKILL)  # as the OOM killer or `kill -9` would
            first.wait(timeout=60)
        assert runs(db) == [(1, "running", None, None)]  # nothing could say it ended

        third = crawl(mirror, db, "-a", f"urls={QUICK}")
    assert third.returncode == 0, third.stderr[-2000:]
    assert "1 earlier run(s) of this archive never ended (killed)" in third.stderr
    (killed, outcome, reason, finished), (latest, latest_outcome, latest_reason, _) = runs(db)
    assert (killed, reason, finished) == (1, "killed", None) and outcome.startswith("killed: ")
    assert (latest, latest_outcome, latest_reason) == (2, "ok", "finished")


def test_the_lock_holder_named_is_the_run_holding_the_archive_never_a_sqlite_reader(tmp_path):
    import sys

    import pytest

    from crawler.archive.lock import ArchiveLocked, RunLock, holder

    db = tmp_path / "dw.db"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    writer.commit()
    reader = sqlite3.connect(db)  # as datasette does: SQLite's POSIX locks on the same file
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()
    inode = f":{os.stat(db).st_ino} "
    with open("/proc/locks") as table:
        assert any("POSIX" in line and inode in line for line in table)  # the reader's lock is there
    assert holder(db) is None  # and it is no run lock

    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.hardlink_to(db)
    run = subprocess.Popen(  # another process holds the run lock, as a crawl does
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'rb');"
         " fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline().strip() == "held"
        assert holder(db) == holder(link) == run.pid  # by the file, whatever its name
        with pytest.raises(ArchiveLocked) as refused:
            RunLock(link).acquire()
        assert (refused.value.path, refused.value.pid) == (os.path.realpath(link), run.pid)
    finally:
        run.kill()
        run.wait(timeout=60)
    assert holder(db) is None  # the kernel released it with the process
    reader.close()
    writer.close()
