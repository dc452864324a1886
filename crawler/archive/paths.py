"""What an archive is on disk: its SQLite file (`ARCHIVE_PATH`, checked), SQLite's `-wal` and
`-shm` beside it, and its captures folder, the WARC files its articles were read from.

    data/dw.db          the archive (SQLite)
    data/dw.db-wal      its write-ahead log: part of the archive while it exists
    data/dw.db-warc/    its captures (`WARC_DIR` when set): one folder per archive

Archives made before captures had a folder of their own kept them in `warc/` beside the file,
a folder every archive in that folder shared. Those files are still found (`capture_files`):
the ones this archive's articles name; new captures go to the archive's own folder.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

CAPTURES_SUFFIX = "-warc"
LEGACY_CAPTURES = "warc"  # the folder beside the archive that captures went to before
WARC_PATTERNS = ("*.warc.gz", "*.warc")


def problem(value: str | os.PathLike | None, name: str = "ARCHIVE_PATH") -> str | None:
    """Why `value` cannot name an archive file, in one sentence starting with `NAME=VALUE`; None
    when it can.

    Refused: nothing or blanks (an unset shell variable, `make crawl ARCHIVE=`); SQLite's
    in-memory database `:memory:`; any `file:` URI (with `mode=memory` SQLite keeps nothing;
    the archive is a path, never a URI); an existing folder. SQLite would otherwise open a
    temporary or in-memory database, and the crawl would report articles stored that are gone
    when it ends.
    """
    text = "" if value is None else os.fspath(value)
    shown = f"{name}={text}"
    if not text.strip():
        return (f"{shown} is empty (an unset shell variable?); give the archive's file, e.g."
                f" {name}=data/dw.db")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return (f"{name}={text!r} holds a control character (a line end from $(cat file)?); give"
                " the archive's file")
    if text.strip().lower().startswith(":memory:"):  # `:MEMORY:` is a file to SQLite: a slip
        return f"{shown} is SQLite's in-memory database: nothing would be kept; give the archive's file"
    if text.lower().startswith("file:"):
        return (f"{shown} is a URI, not a file path: SQLite may open it in memory or as a temporary"
                " database, and nothing would be kept; give the archive's file")
    slip = path_slip(name, text) or _name_too_long(shown, text)
    if slip:
        return slip
    if os.path.isdir(text) or text.endswith(("/", os.sep)):
        return f"{shown} is a folder; give the archive's file in it, e.g. {name}={Path(text) / 'dw.db'}"
    try:
        mode = os.stat(text).st_mode  # never opened: a FIFO blocks, a device gets a -journal
    except OSError:  # a new archive: `/proc/dw.db` can never be made, nor one under a file
        return _system_place(shown, text) or _not_there(shown, text)
    if not stat.S_ISREG(mode):
        from crawler.archive.integrity import file_kind

        return f"{shown} is {file_kind(mode)}, not a regular file; give the archive's file"
    return _system_place(shown, text)


def path_slip(name: str, text: str) -> str | None:
    """A path as a shell slip leaves it, in one sentence starting `NAME=VALUE`; None when it is
    none. A blank before or after it (`"…/dw.db "`) would be part of the names made (`dw.db ` and
    `dw.db -warc`), unseen in a listing; a leading `~` is expanded by a shell only unquoted and
    at a word's start (`-s ARCHIVE_PATH=~/x.db` keeps it), so a folder named `~` would be made in
    the working folder. Both refused, never mended: the value may be meant."""
    if text != text.strip():
        return (f"{name}={text!r} begins or ends with a blank, which would be part of the name made;"
                " give the path without it (quote a name that truly has one inside)")
    if text.startswith("~"):
        return (f"{name}={text} begins with ~, which only a shell expands, and not here: a folder"
                f" named ~ would be made in the working folder; give the full path, e.g."
                f" {name}={os.path.expanduser(text)}")
    return None


# The longest name SQLite and the crawl add to the archive's file name: its rollback journal
# (`dw.db-journal`); `-wal`, `-shm` and the captures folder `-warc` are shorter.
COMPANION_SUFFIXES = ("-journal", "-wal", "-shm", CAPTURES_SUFFIX)


def _name_too_long(shown: str, text: str) -> str | None:
    """A file name longer than its file system takes (NAME_MAX, 255 bytes on most), with room
    for the companions made beside it: refused as a setting, as WARC_DIR's and JOBDIR's are,
    rather than an OSError when the archive is opened after the run began."""
    name = os.path.basename(text)
    folder = os.path.dirname(os.path.abspath(text))
    most = 255
    for place in (folder, *map(str, Path(folder).parents)):
        try:
            most = os.pathconf(place, "PC_NAME_MAX")
            break
        except (OSError, ValueError):
            continue
    room = most - max(map(len, COMPANION_SUFFIXES))
    size = len(os.fsencode(name))
    if size <= room:
        return None
    return (f"{shown} has a file name of {size} bytes, more than the most, {room} (the file system"
            f" takes names of {most} bytes (NAME_MAX), and {max(COMPANION_SUFFIXES, key=len)} is"
            " added for SQLite's journal); give a shorter file name")


def _not_there(shown: str, text: str) -> str | None:
    """An archive path that does not exist: None for a new archive; why not when its name is a
    symbolic link to nothing, or a folder on the way is a file (no folder can be made there)."""
    if os.path.islink(text):
        return (f"{shown} is a symbolic link to {os.readlink(text)}, which does not exist; give the"
                " archive's file, or make the link's target first")
    for place in Path(text).parents:
        try:
            mode = os.stat(place).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None  # opening it says why
        if stat.S_ISDIR(mode):
            return None
        from crawler.archive.integrity import file_kind

        kind = "a regular file" if stat.S_ISREG(mode) else file_kind(mode)
        return (f"{shown} cannot be made: {place} is {kind}, so no folder can be made under it;"
                " give the archive's file in a folder")
    return None


def _system_place(shown: str, text: str) -> str | None:
    """A regular file reached through /dev or /proc is no place for an archive: `/dev/stdout`
    redirected to a file would have the archive written into the log."""
    for place in (os.path.abspath(text), os.path.realpath(text)):
        if place.startswith(("/dev/", "/proc/")):
            top = "/" + place.split("/")[1]
            return f"{shown} is under {top}, not a place for an archive; give the archive's file"
    return None


def lost_archive(archive: str | os.PathLike, configured: str | os.PathLike | None = None) -> str | None:
    """Why writing a new archive at `archive` would hide one that was there, in one line; None
    when it would not. An archive that is absent or empty (0 bytes: `: > dw.db`, a full disk)
    while its own captures folder holds WARC files has lost what those captures show: a crawl
    would start it afresh and nothing would say so. (`WARC_DIR`, `configured`, may be shared:
    not asked.)"""
    if configured or problem(archive):
        return None
    file = Path(archive)
    try:
        if file.stat().st_size:
            return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    if _in_use(Path(f"{file}-wal")):
        return None  # its content is in the -wal still
    folder = captures_dir(archive)
    warcs = _warcs_in(folder)
    if not warcs:
        return None
    state = "empty" if file.exists() else "missing"
    return (f"the archive {file} is {state} but its captures folder {folder}/ holds"
            f" {len(warcs)} WARC file{'s' if len(warcs) != 1 else ''}: restore a backup (make"
            f" restore) or rebuild it with `python -m crawler.reextract --archive {file}`")


def _in_use(wal: Path) -> bool:
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def captures_dir(archive: str | os.PathLike, configured: str | os.PathLike | None = None) -> Path:
    """The folder the archive's captures go to: `configured` (`WARC_DIR`) when given, else the
    archive's own folder beside it, named after its file (`data/dw.db` -> `data/dw.db-warc/`).

    Raises ValueError for a path `problem` refuses: a temporary archive has no captures folder.
    """
    if configured:
        return Path(configured)
    why = problem(archive)
    if why:
        raise ValueError(why)
    path = Path(archive)
    return path.with_name(path.name + CAPTURES_SUFFIX)


def legacy_captures_dir(archive: str | os.PathLike) -> Path:
    """`warc/` beside the archive: where captures went before each archive had its own folder."""
    return Path(archive).parent / LEGACY_CAPTURES


def _warcs_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted({p for pattern in WARC_PATTERNS for p in folder.glob(pattern) if p.is_file()})


def named_captures(archive: str | os.PathLike) -> set[str]:
    """File names of the WARCs the archive's articles say they were read from (`warc_file`);
    empty when the archive does not exist or has no such column. Read-only."""
    path = Path(archive)
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return set()
    try:
        rows = conn.execute("SELECT DISTINCT warc_file FROM articles WHERE warc_file IS NOT NULL")
        return {Path(name).name for (name,) in rows}
    except sqlite3.Error:
        return set()
    finally:
        conn.close()


def capture_files(archive: str | os.PathLike, configured: str | os.PathLike | None = None) -> list[Path]:
    """Every WARC file that holds this archive's captures, and no other archive's: the files
    of its captures folder (`captures_dir`), and, from an archive made before captures had a
    folder of their own, the files of the shared `warc/` beside it that belong to a run of this
    archive (one of the run's files is named by an article; a run's files share the
    `dw-<start>-<pid>-` part of their name)."""
    own = _warcs_in(captures_dir(archive, configured))
    legacy = legacy_captures_dir(archive)
    if configured or not legacy.is_dir():
        return own
    named = named_captures(archive)
    runs = {_run_of(name) for name in named}
    taken = {p.name for p in own}
    old = [p for p in _warcs_in(legacy)
           if p.name not in taken and (p.name in named or _run_of(p.name) in runs)]
    return own + old


def _run_of(name: str) -> str:
    """`dw-20261205170405-13699-` of `dw-20261205170405-13699-00001.warc.gz`: one crawl's files."""
    return name.rsplit("-", 1)[0] + "-" if name.count("-") >= 3 else name
