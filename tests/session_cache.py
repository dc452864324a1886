"""Files a test session builds once, across its pytest-xdist workers: the first worker that
asks builds them in a cache folder of the session's temporary folder, under a file lock; each
asker, that one included, gets a copy of its own.

The 20,000-article generated archive (tests/datasette_archive.py) took about 10 CPU-s to write
and was written once by each worker whose tests read it (two in `make test`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test session's temporary folder, shared by its xdist workers (each worker's own
    basetemp is a folder `popen-gwN` in it); the basetemp itself without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def key_of(files: Iterable[Path], *values: Any) -> str:
    """A short key of what builds a thing: the bytes of `files` (its code) and `values` (its
    arguments)."""
    digest = hashlib.sha256(json.dumps([str(v) for v in values]).encode())
    for path in sorted(Path(f) for f in files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def built_once(cache: Path, own: Path, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """`build(path)` run once for `cache` (a folder: the session's, named by what builds it),
    whoever asks first, the others waiting on a lock; then a copy of what it wrote at `path`
    (`name` and its SQLite `-wal`/`-shm` if any) made in the folder `own`: (the copy's path,
    what `build` returned, through JSON).

    The cached files are read-only: no test writes to them, none sees another's writes."""
    cache.mkdir(parents=True, exist_ok=True)
    built, result_file = cache / name, cache / "result.json"
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes, by a killed process too
        if not result_file.exists():  # written last: a build that died is done again
            for stale in cache.glob(f"{name}*"):
                stale.chmod(0o644)
                stale.unlink()
            result = build(built)
            for path in cache.glob(f"{name}*"):
                path.chmod(0o444)
            partial = cache / "result.json.partial"
            partial.write_text(json.dumps(result), encoding="utf-8")
            partial.rename(result_file)
    own.mkdir(parents=True, exist_ok=True)
    for path in cache.glob(f"{name}*"):
        (own / path.name).write_bytes(path.read_bytes())  # a copy that is the asker's to write
    return own / name, json.loads(result_file.read_text(encoding="utf-8"))
