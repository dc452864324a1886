"""One run at a time on an archive: the run lock that a crawl, the distributed archive writer and
`python -m crawler.reextract` take before they open the archive.

The lock is an exclusive `flock` on the archive file itself, so it is one lock whatever name the
archive is given: a relative path, a symlink, or a hard link (two hard links of one SQLite file
are one database with two write-ahead logs, named after each link: written through both at
once, it ends "database disk image is malformed"). The kernel releases it when the process
dies, even by SIGKILL. On Linux `flock` and SQLite's own POSIX locks do not meet; but closing
any descriptor of a file drops every POSIX lock the process holds on it, SQLite's included:
the lock's descriptor is closed only after the archive's connection (`release` after
`Archive.close`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ArchiveLocked(Exception):
    """Another run holds the archive's run lock."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(f"another run holds {path}")
        self.path = path


class RunLock:
    """The run lock of the archive at `path` (created, empty, when it does not exist yet: SQLite
    takes an empty file for a new database).

    With a `purpose`, a lock of its own beside the archive instead (`<archive>.<purpose>.lock`,
    by the archive's real path), for runs that may write beside a crawl but not beside another
    of their kind (`backfill`: the archive orders its writes and a crawl's by fetch time)."""

    def __init__(self, path: str | os.PathLike, purpose: str | None = None):
        self.path = Path(f"{os.path.realpath(path)}.{purpose}.lock") if purpose else Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise `ArchiveLocked` at once (never waits); OSError when the file
        cannot be opened or created. Taking it again while held does nothing."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # this process has no connection to it yet: no POSIX lock to drop
            raise ArchiveLocked(self.path) from None
        self._fd = fd

    def release(self) -> None:
        """Let the next run in: after the archive's connection is closed (see the module doc)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
