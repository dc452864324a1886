"""Helpers for tests that run the real `scrapy crawl dw` against a local mirror."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devtools import mirror as _mirror
from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT


@dataclass
class Mirror:
    """A running mirror: its origin and its access log."""

    origin: str
    log: Path

    def requests(self) -> list[tuple[str, int]]:
        """(path, status) of every request so far."""
        if not self.log.exists():
            return []
        rows = [line.split(" ") for line in self.log.read_text().splitlines()]
        return [(path, int(status)) for _, path, status in rows]

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests()]

    def article_pages(self) -> list[str]:
        return [path for path in self.paths() if "/a-" in path]

    def clear(self) -> None:
        self.log.write_text("")


def running_mirror(root: Path, access_log: Path | None = None, faults: Path | None = None):
    """`devtools.mirror.running_mirror` (a context yielding the mirror's origin), its process
    forked from the suite's pre-imported parent (tests/forkserver.py) instead of a new interpreter
    importing Twisted's web server again (0.2 s of CPU; the suite starts some 150 mirrors)."""
    return _mirror.running_mirror(root, access_log, faults, start=forkserver.start)


def crawl(mirror: Mirror, archive: Path, *args: str, timeout: float = 180,
          env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `scrapy crawl dw` against the mirror; fail loudly on a traceback. The crawl is a
    process of its own, forked from a parent that imported Scrapy and the project once
    (tests/forkserver.py says what that keeps and changes)."""
    run = forkserver.run(crawl_command(mirror.origin, archive, *args), cwd=ROOT, timeout=timeout,
                         env={**os.environ, **(env or {})})
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run


def query(archive: Path, sql: str, *params) -> list[tuple]:
    # Closed on return: `with sqlite3.connect()` only commits, and Python 3.11's connection is in
    # a reference cycle (its statement cache), so it stays open until the collector runs, holding
    # the archive's WAL open meanwhile: a later collection checkpointed an archive a test was
    # comparing byte for byte (test_captures, once in a CI run).
    with contextlib.closing(sqlite3.connect(archive)) as conn:
        return conn.execute(sql, params).fetchall()


def last_run(archive: Path) -> dict:
    """The newest `crawl_runs` row, its stats decoded."""
    with contextlib.closing(sqlite3.connect(archive)) as conn:  # closed: see `query`
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone())
    row["stats"] = json.loads(row["stats"] or "{}")  # none when a full archive had no room
    return row


def archived_ids(archive: Path) -> set[int]:
    return {row[0] for row in query(archive, "SELECT id FROM articles")}


def copy_site(source: Path, target: Path) -> Path:
    """A writable copy of a (read-only) site folder."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())
    return target


@contextlib.contextmanager
def served(site: Path, log: Path):
    """A mirror of `site` for the length of the block."""
    with running_mirror(site, log) as origin:
        yield Mirror(origin, log)


def article_count(archive: Path) -> int:
    """Articles in an archive that another process may be writing; 0 while it cannot be read."""
    try:
        with sqlite3.connect(archive, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.Error:
        return 0


def crawled_sample_site(tmp_path_factory, languages: str) -> Path:
    """A folder holding dw.db and dw.db-warc/: the sample site's articles of `languages`
    (`-a lang=`), crawled through the mirror and closed cleanly (no -wal left)."""
    folder = tmp_path_factory.mktemp("crawled")
    log = tmp_path_factory.mktemp("log") / "access.log"
    with running_mirror(ROOT / "data" / "sample-site", log) as origin:
        run = crawl(Mirror(origin, log), folder / "dw.db", "-a", f"lang={languages}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not Path(f"{folder / 'dw.db'}-wal").exists()  # closed cleanly: one file
    return folder
