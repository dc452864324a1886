"""Damage found before anything is written: SQLite's `PRAGMA integrity_check` on the archive file,
read-only, before a crawl, the archive writer or re-extraction opens it for writing.

Why `integrity_check` and not the cheaper `quick_check`: over random damage to archives
(`benchmarks/integrity.py`: pages overwritten, zeroed, swapped, cut off, a few bits flipped),
`quick_check` missed 13 of the 36 flipped-bit variants `integrity_check` reported: it does not
compare an index with its table, and a flipped bit in a row or an index entry is damage only
that comparison shows. An archive written on top of such damage spreads it (an index that lies
makes updates miss rows), so the run is refused, with the recipe to recover what can be
(`sqlite3 … .recover`). What it costs, at 1k to 1M articles: the README, benchmarks/README.md.

Reading never creates or changes a file: with no `-wal` beside the archive (no writer has it
open, none died mid-run) the file is read as `immutable` (no locks, no `-shm`); if a writer
touched it meanwhile, or a `-wal` exists, it is read again through SQLite's normal read-only
locking.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

_DAMAGE_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
_DAMAGE_WORDS = ("malformed", "not a database", "corrupt")


class ArchiveDamaged(sqlite3.DatabaseError):
    """The archive file is damaged; `str()` is the one line that says so and how to recover."""

    def __init__(self, path: str | os.PathLike, problems: str):
        self.path, self.problems = str(path), problems
        super().__init__(damaged_message(path, problems))


def damaged_message(path: str | os.PathLike, problems: str) -> str:
    """The one line a refused run ends with: what SQLite found, and what to run."""
    return (f"the archive is damaged ({problems}); run"
            f" `sqlite3 {path} .recover | sqlite3 {path}.recovered`")


def is_damage(exc: BaseException) -> bool:
    """True for an SQLite error that says the file is damaged (not locked, full or read-only)."""
    if isinstance(exc, ArchiveDamaged):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _DAMAGE_CODES:
        return True
    return any(words in str(exc) for words in _DAMAGE_WORDS)


def damage(path: str | os.PathLike, pragma: str = "integrity_check", limit: int = 3) -> str | None:
    """What `PRAGMA integrity_check` (or `quick_check`) reports wrong with the SQLite file at
    `path`: its first `limit` problems joined by `; `; None when it is sound, absent or empty
    (a new archive). An error that is no damage (cannot open, permissions) is not reported here:
    opening the archive reports it. Nothing is written; see the module docstring.
    """
    if pragma not in ("integrity_check", "quick_check"):
        raise ValueError(pragma)
    file = Path(path)
    try:
        if file.stat().st_size == 0:
            return None
    except OSError:
        return None
    wal = Path(f"{file}-wal")
    if _in_use(wal):
        return _check(file, "mode=ro", pragma, limit)
    before = _stamp(file)
    found = _check(file, "immutable=1", pragma, limit)
    if _in_use(wal) or _stamp(file) != before:  # a writer came meanwhile: read it properly
        found = _check(file, "mode=ro", pragma, limit)
    return found


def refuse_damaged(path: str | os.PathLike) -> None:
    """Raise `ArchiveDamaged` when `damage(path)` finds any."""
    problems = damage(path)
    if problems:
        raise ArchiveDamaged(path, problems)


def _in_use(wal: Path) -> bool:
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def _stamp(file: Path) -> tuple:
    try:
        info = file.stat()
    except OSError:
        return ()
    return info.st_ino, info.st_size, info.st_mtime_ns


def _check(file: Path, mode: str, pragma: str, limit: int) -> str | None:
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error:
        return None
    # A damaged page can hold any bytes, and SQLite quotes them in what it reports.
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    try:
        rows = [row[0] for row in conn.execute(f"PRAGMA {pragma}({int(limit)})")]
    except UnicodeDecodeError:  # in the error message itself: a damaged schema
        return "malformed database schema (unreadable text)"
    except sqlite3.DatabaseError as exc:
        return str(exc) if is_damage(exc) else None
    finally:
        conn.close()
    # Rows may hold several lines (`*** in database main ***` then one line per page): one line.
    problems = [line.strip() for row in rows if row != "ok" for line in str(row).splitlines()
                if line.strip() and not line.startswith("***")]
    return "; ".join(problems[:limit]) or None
