"""tests/session_cache.py: a thing the session builds once, across processes, each asker with a
copy of its own (the 20,000-article archive was built by each xdist worker that read it)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.session_cache import built_once, key_of

ASKERS = 4
# Each asker says it has arrived, then asks; the build waits until all have arrived, so that the
# others ask while it runs (no clock decides the overlap). The build counts itself in `builds`.
ASK = """
import sqlite3, sys, time
from pathlib import Path
from tests.session_cache import built_once
cache, own, arrivals = (Path(a) for a in sys.argv[1:4])
asker, askers = sys.argv[4], int(sys.argv[5])
def build(path):
    while len(list(arrivals.glob("*"))) < askers:
        time.sleep(0.01)
    with open(cache.parent / "builds", "a") as builds:
        builds.write(asker + "\\n")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (n INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(1000)])
    return {"rows": 1000, "by": asker}
(arrivals / asker).touch()
path, result = built_once(cache, own, "x.db", build)
print(path, result["rows"], result["by"])
"""


def test_askers_at_once_get_one_build_each_a_copy_of_its_own(tmp_path):
    cache, arrivals = tmp_path / "cache" / "x-key", tmp_path / "arrivals"
    arrivals.mkdir()
    askers = [subprocess.Popen([sys.executable, "-c", ASK, str(cache), str(tmp_path / f"own{n}"),
                                str(arrivals), str(n), str(ASKERS)], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(ASKERS)]
    answers = []
    for asker in askers:
        out, err = asker.communicate(timeout=120)
        assert asker.returncode == 0, err
        answers.append(out.split())
    builds = (tmp_path / "cache" / "builds").read_text().split()
    assert len(builds) == 1, builds
    assert {by for _, _, by in answers} == set(builds)  # every asker got the one build's result
    copies = [tmp_path / f"own{n}" / "x.db" for n in range(ASKERS)]
    assert [path for path, _, _ in answers] == [str(c) for c in copies]
    # Each copy is its asker's own: a write to one is in no other, nor in the cache, which no
    # one may write.
    with sqlite3.connect(copies[0]) as conn:
        conn.execute("DELETE FROM t")
    counts = [sqlite3.connect(c).execute("SELECT count(*) FROM t").fetchone()[0] for c in copies]
    assert counts == [0] + [1000] * (ASKERS - 1)
    assert sqlite3.connect(cache / "x.db").execute("SELECT count(*) FROM t").fetchone()[0] == 1000
    # (read-only by its mode: root, as CI may run, writes it all the same)
    assert [oct(p.stat().st_mode & 0o777) for p in cache.glob("x.db*")] == [oct(0o444)] * len(
        list(cache.glob("x.db*")))


def test_a_build_that_failed_is_done_again_and_another_key_is_another_build(tmp_path):
    calls = []

    def build(path):
        calls.append(path)
        if len(calls) == 1:
            path.write_text("half")
            raise RuntimeError("killed mid-build")
        path.write_text("whole")
        return len(calls)

    cache = tmp_path / "cache" / "x-1"
    with pytest.raises(RuntimeError):
        built_once(cache, tmp_path / "a", "x.db", build)
    path, result = built_once(cache, tmp_path / "b", "x.db", build)
    assert (path.read_text(), result) == ("whole", 2)
    assert built_once(cache, tmp_path / "c", "x.db", build)[1] == 2 and len(calls) == 2
    assert built_once(tmp_path / "cache" / "x-2", tmp_path / "d", "x.db", build)[1] == 3


def test_the_key_changes_with_the_code_and_the_arguments(tmp_path):
    code = tmp_path / "build.py"
    code.write_text("A = 1\n")
    first = key_of([code], 20_000)
    assert key_of([code], 20_000) == first and key_of([code], 1_000) != first
    code.write_text("A = 2\n")
    assert key_of([code], 20_000) != first
