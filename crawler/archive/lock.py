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

A run stopped by the lock says which process holds it (`holder`: the kernel's lock table,
`/proc/locks`, matched by the file's device and inode, so the name it was given plays no part).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class ArchiveLocked(Exception):
    """Another run holds the archive's run lock: `path`, the file locked (by its real path);
    `pid`, the process holding it, None when it cannot be known (`holder`)."""

    def __init__(self, path: str | os.PathLike, pid: int | None = None):
        self.path, self.pid = os.path.realpath(path), pid
        super().__init__(f"another run holds {self.path}"
                         f" ({f'pid {pid}' if pid else 'its process unknown'})")


def holder(path: str | os.PathLike) -> int | None:
    """The id of the process holding an `flock` on the file at `path` (a run lock), from the
    kernel's lock table `/proc/locks` (Linux); None when none holds one, the table cannot be
    read, or the holder is in another pid namespace. SQLite's own POSIX locks on the same file
    (a reader such as datasette, the holder's connection) are not run locks and are passed over."""
    try:
        info = os.stat(path)
        with open("/proc/locks") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    ours = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    for line in lines:
        # `1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234567 0 EOF`; a waiter's line has `->`.
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == ours:
                return int(fields[4]) if int(fields[4]) > 0 else None
        except ValueError:
            continue
    return None


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
            raise ArchiveLocked(self.path, holder(self.path)) from None
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
