"""Damage found before anything is written: SQLite's `PRAGMA integrity_check` on the archive file,
read-only, before a crawl, the archive writer or re-extraction opens it for writing.

Why `integrity_check` and not the cheaper `quick_check`: over random damage to archives
(`benchmarks/integrity.py`: pages overwritten, zeroed, swapped, cut off, a few bits flipped),
`quick_check` missed 13 of the 36 flipped-bit variants `integrity_check` reported: it does not
compare an index with its table, and a flipped bit in a row or an index entry is damage only
that comparison shows. An archive written on top of such damage spreads it (an index that lies
makes updates miss rows), so the run is refused, with the recipe to recover what can be
(`sqlite3 … .recover`). What it costs, at 1k to 1M articles: the README, benchmarks/README.md.

Before it, and before SQLite opens the file at all: `not_an_archive` (a FIFO, a device, a file
that is no SQLite database, another application's database) and `wal_damage` (a `-wal` whose
committed frames after a bad one SQLite would silently drop). After it, when it passes:
`search_index_damage`, FTS5's own check of the search index, which `integrity_check` (before
SQLite 3.44) does not look inside. `refuse` runs them all.

Reading never creates or changes a file: with no `-wal` beside the archive (no writer has it
open, none died mid-run) the file is read as `immutable` (no locks, no `-shm`); if a writer
touched it meanwhile, or a `-wal` exists, it is read again through SQLite's normal read-only
locking.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import struct
import time
from pathlib import Path

_DAMAGE_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
_DAMAGE_WORDS = ("malformed", "not a database", "corrupt")


class ArchiveRefused(sqlite3.DatabaseError):
    """The file named as the archive is not one to write into; `str()` is the one line that says
    why and what to do. Nothing was opened for writing."""


class ArchiveDamaged(ArchiveRefused):
    """The archive file is damaged; `str()` is the one line that says so and how to recover."""

    def __init__(self, path: str | os.PathLike, problems: str):
        self.path, self.problems = str(path), problems
        super().__init__(damaged_message(path, problems))


class NotAnArchive(ArchiveRefused):
    """The path names no dw-archive archive (`not_an_archive`)."""


SQLITE_HEADER = b"SQLite format 3\x00"
ARCHIVE_TABLES = ("articles", "crawl_runs")  # every dw-archive archive has them (schema.py)


def file_kind(mode: int) -> str:
    """`a FIFO`, `a character device`, … for an `st_mode` that is no regular file."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def not_an_archive(path: str | os.PathLike) -> str | None:
    """Why the file at `path` is no dw-archive archive to write into, in one line; None when it is
    one, or is absent or empty (a new archive). Reads only, and never opens what is no regular
    file (a FIFO would block, a device would get a `-journal` beside it in /dev):

    - not a regular file (`stat`, following symlinks): a FIFO, a device, a socket, `/dev/null`;
    - not a SQLite file: it does not begin with SQLite's 16-byte header (a WARC, a text file);
    - a SQLite database with tables but not dw-archive's (`articles`, `crawl_runs`): another
      application's, which a crawl would fill with a dozen tables of its own.
    """
    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError:
        return None
    except OSError:
        return None  # opening it says why
    if not stat.S_ISREG(info.st_mode):
        return (f"{file} is {file_kind(info.st_mode)}, not a regular file; give the archive's file,"
                " e.g. ARCHIVE_PATH=data/dw.db")
    if info.st_size == 0:
        return None
    with open(file, "rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        return (f"{file} is not a SQLite archive (it does not begin with SQLite's header); give"
                " the archive's file (if it was one, its first page is lost: restore a backup)")
    if wal_damage(file):
        return None  # reading its tables through SQLite would hide that for good: `damage` says it
    tables = _tables(file)
    if tables is None or not tables:
        return None  # unreadable: the damage check says how; no tables: a new, empty database
    missing = [name for name in ARCHIVE_TABLES if name not in tables]
    if missing:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        return (f"{file} is a SQLite database but not a dw-archive archive (its tables: {shown};"
                f" no {' or '.join(missing)} table); give the archive's file")
    return None


def _reading(file: Path, mode: str) -> sqlite3.Connection | None:
    """A connection that only reads `file` (`mode`: `mode=ro` or `immutable=1`), or None when
    SQLite cannot open it. A damaged page can hold any bytes, and SQLite quotes them in what it
    reports: text is decoded with U+FFFD for what is not UTF-8."""
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error:
        return None
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return conn


def _tables(file: Path) -> set[str] | None:
    conn = _reading(file, "mode=ro" if _in_use(Path(f"{file}-wal")) else "immutable=1")
    if conn is None:
        return None
    try:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except (sqlite3.Error, UnicodeDecodeError):  # the latter in SQLite's message: a damaged schema
        return None
    finally:
        conn.close()


def refuse(path: str | os.PathLike) -> None:
    """Everything checked before an archive is opened for writing, in order, each read-only:
    raises `NotAnArchive` (`not_an_archive`), then `ArchiveDamaged` (`damage`: the `-wal`, the
    file). Returns when the archive may be opened: sound, or absent or empty (a new one)."""
    why = not_an_archive(path)
    if why:
        raise NotAnArchive(why)
    refuse_damaged(path)


def damaged_message(path: str | os.PathLike, problems: str) -> str:
    """The one line a refused run ends with: what SQLite found, and what to run."""
    return (f"the archive is damaged ({problems}); run"
            f" `sqlite3 {path} .recover | sqlite3 {path}.recovered`")


def is_damage(exc: BaseException) -> bool:
    """True for an SQLite error that says the file is damaged (not locked, full or read-only)."""
    if isinstance(exc, ArchiveRefused):  # damaged, or no archive: never written to
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
    broken_log = wal_damage(file)  # first: opening the archive would hide it for good
    if broken_log:
        return broken_log
    try:
        info = file.stat()
    except OSError:
        return None
    if info.st_size == 0 or not stat.S_ISREG(info.st_mode):  # never opened: see not_an_archive
        return None
    wal = Path(f"{file}-wal")
    if _in_use(wal):
        return _check(file, "mode=ro", pragma, limit)
    before = _stamp(file)
    found = _check(file, "immutable=1", pragma, limit)
    if _in_use(wal) or _stamp(file) != before:  # a writer came meanwhile: read it properly
        found = _check(file, "mode=ro", pragma, limit)
    if found or pragma != "integrity_check":
        return found
    return search_index_damage(file)


SEARCH_INDEX = "articles_search"  # crawler/search.py's FTS5 table


def search_index_damage(path: str | os.PathLike) -> str | None:
    """What FTS5's own `integrity-check` reports wrong with the archive's search index, or None
    when it is sound, absent, or cannot be asked. `PRAGMA integrity_check` (before SQLite 3.44)
    does not look inside an FTS5 index: its pages are table rows to it, and a damaged index
    answers searches wrongly and spreads with every write.

    FTS5 runs the check as an INSERT, which a read-only connection refuses: it is asked in a
    transaction that is rolled back, so nothing is written; and only when no `-wal` is in use
    (closing the last connection to the file would otherwise checkpoint it), so the file is left
    byte for byte as it was, and the `-wal`/`-shm` this connection made are gone when it closes.
    """
    file = Path(path)
    if _in_use(Path(f"{file}-wal")):
        return None  # a writer has it open, or died: not asked (see above)
    try:
        conn = sqlite3.connect(file, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [SEARCH_INDEX]).fetchone():
            return None
        conn.execute(f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rank) VALUES ('integrity-check', 0)")
    except UnicodeDecodeError:  # in SQLite's message: a damaged schema, which integrity_check says
        return None
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            return None
        return (f"its search index {SEARCH_INDEX}: {exc}; the articles are sound: rebuild the index"
                f" from them with `python -m crawler.search {file}`")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
    return None


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
    conn = _reading(file, mode)
    if conn is None:
        return None
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


# -- the write-ahead log -----------------------------------------------------------------------
# Read per SQLite's file format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte
# header (magic, format, page size, checkpoint sequence, salt-1, salt-2, checksum-1, checksum-2),
# then frames: a 24-byte header (page number, database size after a commit or 0, salt-1,
# salt-2, checksum-1, checksum-2) and one page. Each checksum runs over the frame's first 8
# header bytes and its page, seeded with the checksum before it (the WAL header's for frame 1).
# SQLite takes the first frame that fails as the WAL's end: the committed frames after it are
# dropped without a word, and the next checkpoint (any writer closing) makes that for good.

WAL_HEADER, FRAME_HEADER = 32, 24
_WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksum words little-endian, big-endian


def wal_checksum(data: bytes, seed: tuple[int, int], big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum of `data` (a multiple of 8 bytes) from `seed`: pairs of 32-bit
    words (x0, x1) folded as s0 += x0 + s1, s1 += x1 + s0, modulo 2**32."""
    s0, s1 = seed
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    mask = 0xFFFFFFFF
    pairs = iter(words)
    for x0, x1 in zip(pairs, pairs, strict=True):
        s0 = (s0 + x0 + s1) & mask
        s1 = (s1 + x1 + s0) & mask
    return s0, s1


def wal_damage(path: str | os.PathLike) -> str | None:
    """What is wrong with the archive's write-ahead log (`<path>-wal`), in words; None when it is
    absent, empty, or every committed frame SQLite would read is there (`_wal_damage`).

    Read twice when the first read finds damage: a writer beside this process (a backfill runs
    beside a crawl) writes a frame's header and its page apart, and a read between the two can
    see a frame half-written with a whole one after it. Damage is what both reads find."""
    found = _wal_damage(path)
    if found is None:
        return None
    time.sleep(0.05)
    again = _wal_damage(path)
    return again[1] if again is not None and again[0] == found[0] else None


def _wal_damage(path: str | os.PathLike) -> tuple[int, str] | None:
    """What is wrong with the archive's write-ahead log (`<path>-wal`), in words; None when it is
    absent, empty, or every committed frame SQLite would read is there.

    Damage: a frame of the current WAL (its salts) fails its checksum, yet a later commit frame
    verifies (each frame checked against the checksum stored in the frame before it, so one bad
    frame does not hide the good ones after it): SQLite would stop at the bad frame and lose the
    transactions committed after it. A bad frame with no verifying commit after it is the torn
    end of a write that never finished (a crash), which SQLite rightly drops. Reads only.
    """
    wal = Path(f"{path}-wal")
    try:
        handle = open(wal, "rb")
    except FileNotFoundError:
        return None
    with handle:
        header = handle.read(WAL_HEADER)
        if len(header) < WAL_HEADER:
            return None
        magic, _, page_size, _, salt1, salt2, check1, check2 = struct.unpack(">8I", header)
        rest = handle.seek(0, 2) - WAL_HEADER
        if magic not in _WAL_MAGIC or not (512 <= page_size <= 65536 and page_size & (page_size - 1) == 0):
            if rest >= FRAME_HEADER:
                return -1, (f"its write-ahead log {wal.name} has a damaged header and {rest} bytes"
                            " of frames SQLite will not read; keep a copy of it")
            return None
        big_endian = magic == _WAL_MAGIC[1]
        frames = rest // (FRAME_HEADER + page_size)
        failed = None if wal_checksum(header[:24], (0, 0), big_endian) == (check1, check2) else 0
        seed = (check1, check2)
        lost = 0
        handle.seek(WAL_HEADER)
        for number in range(1, frames + 1):
            frame = handle.read(FRAME_HEADER + page_size)
            _, commit, frame_salt1, frame_salt2, stored1, stored2 = struct.unpack(">6I", frame[:24])
            stored = (stored1, stored2)
            current = (frame_salt1, frame_salt2) == (salt1, salt2)
            verifies = current and wal_checksum(frame[:8] + frame[24:], seed, big_endian) == stored
            seed = stored
            if current and not verifies and failed is None:
                failed = number
            elif failed is not None and verifies and commit:
                lost += 1
        if failed is not None and lost:
            where = "its header" if failed == 0 else f"frame {failed} of {frames}"
            return failed, (f"its write-ahead log {wal.name} is damaged at {where}: {lost}"
                            f" committed transaction{'s' if lost != 1 else ''} after it would be"
                            f" lost; keep a copy of {wal.name} before anything opens the archive")
    return None
