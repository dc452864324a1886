"""Back up an archive with its captures, and restore it: safe while a crawl or datasette has it open.

    python -m crawler.archive.backup save ARCHIVE FOLDER       # make backup  [ARCHIVE=… BACKUP=…]
    python -m crawler.archive.backup restore FOLDER ARCHIVE    # make restore [BACKUP=… ARCHIVE=…]

`save` writes FOLDER/<name> (`backup/dw.db` for `data/dw.db`), FOLDER/<name>-warc/ (its
captures) and FOLDER/<name>.backup-of (the archive's full path: whose backup it is). It never
replaces the backup of another archive, nor one holding runs the archive does not (a copy
holding less), and refuses a FOLDER inside the archive's captures; the source is checked first
as a crawl checks it (`integrity.refuse`: no archive, a damaged `-wal` or file), read-only.
The archive is copied with SQLite's backup API in one step, under one read
transaction: a consistent snapshot of every committed batch, the ones still in `-wal` too,
while a crawl goes on writing (WAL: the crawl is not held up). `cp data/dw.db` is not that:
it misses what is in `-wal` and can copy a page half-written. The copy is checked
(`PRAGMA integrity_check`) before it replaces the previous backup, so a damaged archive never
overwrites a good backup. Captures are copied after the snapshot: every record an article of
the snapshot names was on disk before that article was written; WARC files only grow, so a file
is copied again only when it grew, and a file the backup holds is never deleted.

`restore` puts a backup in place of an archive that does not exist (it never overwrites one:
move a damaged archive aside first), checks it first, and copies its captures into the
archive's own captures folder, without overwriting one that is there.

Exit status: 0 done; 2 refused before anything was written (a bad or missing path, an archive
in the way); 3 the archive or the backup is damaged, or a copy failed (the line says which).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import sqlite3
import sys
from pathlib import Path

from crawler.archive import integrity, paths
from crawler.outcome import RUNNING

EXIT_REFUSED, EXIT_FAILED = 2, 3


class Refused(Exception):
    """Nothing was done; the message says why."""


def _configured_captures() -> str | None:
    from scrapy.utils.project import get_project_settings

    return get_project_settings().get("WARC_DIR") or None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _snapshot(source: Path, target: Path, journal_mode: str, restoring: bool = False) -> None:
    """Copy the SQLite file `source` into `target` (replaced atomically), checked. `restoring`:
    the copy's `running` runs were running when the backup was taken (`IN_PROGRESS`)."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer)  # pages=-1: one step, one read transaction, consistent
            if restoring:
                _mark_in_progress(writer)
            writer.execute(f"PRAGMA journal_mode = {journal_mode}")
        finally:
            writer.close()
    finally:
        reader.close()
    problems = integrity.damage(partial)
    if problems:
        partial.unlink(missing_ok=True)
        raise integrity.ArchiveDamaged(source, problems)
    _fsync(partial)
    for leftover in ("-wal", "-shm", "-journal"):  # of the file replaced: never of the new one
        Path(f"{target}{leftover}").unlink(missing_ok=True)
    os.replace(partial, target)
    _fsync(target.parent)


IN_PROGRESS = ("in progress when backed up: this archive holds what the run had written by"
               " then, and the run went on in the archive that was backed up")


def _mark_in_progress(db: sqlite3.Connection) -> None:
    """A restored archive's `running` rows were runs in progress when the backup was taken: said
    so, rather than left for the next run to call them killed."""
    try:
        with db:
            db.execute("UPDATE crawl_runs SET outcome = ?, finish_reason = 'backed_up'"
                       " WHERE outcome = ?", [IN_PROGRESS, RUNNING.text])
    except sqlite3.OperationalError:  # no crawl_runs table: nothing ran
        pass


def _copy_captures(files: list[Path], folder: Path) -> tuple[int, int]:
    """Copy WARC files into `folder`: a file missing there or shorter there (it grew since);
    never one that is as long or longer there. (copied, left as they were)."""
    copied = kept = 0
    for file in files:
        target = folder / file.name
        if target.exists() and target.stat().st_size >= file.stat().st_size:
            kept += 1
            continue
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{file.name}.partial-{os.getpid()}"
        shutil.copyfile(file, partial)
        _fsync(partial)
        os.replace(partial, target)
        copied += 1
    if copied:
        _fsync(folder)
    return copied, kept


def _files(n: int) -> str:
    return f"{n} WARC file{'' if n == 1 else 's'}"


def _counts(db: Path) -> str:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM crawl_runs").fetchone()[0]
    except sqlite3.Error:
        return "integrity ok"
    finally:
        conn.close()
    return f"{articles} articles, {runs} runs, integrity ok"


def save(archive: Path, folder: Path, configured: str | None = None) -> str:
    """Back up `archive` and its captures into `folder`; one line saying what was done.
    Raises Refused, integrity.ArchiveDamaged, sqlite3.Error, OSError.

    Refused, before anything is written: a source that is no archive (`integrity.refuse`), a
    damaged one (a damaged `-wal` too: SQLite's copy would quietly lack what follows the bad
    frame), a folder inside the archive's captures, and a folder that holds the backup of another
    archive (`<name>.backup-of` says whose; a backup made before it existed is the same
    archive's when its runs are all in the archive). Two backups into one folder at once: the
    second is refused (the folder is locked)."""
    why = paths.problem(archive, "ARCHIVE")
    if why:
        raise Refused(why)
    if not archive.exists() or (archive.is_file() and archive.stat().st_size == 0):
        raise Refused(f"no archive at {archive}")
    if folder.exists() and not folder.is_dir():
        raise Refused(f"BACKUP={folder} is a file; give a folder")
    captures_of_archive = paths.captures_dir(archive, configured).resolve()
    for captures in (captures_of_archive, paths.legacy_captures_dir(archive).resolve()):
        if folder.resolve() == captures or captures in folder.resolve().parents:
            raise Refused(f"BACKUP={folder} is inside the archive's captures folder {captures}/;"
                          " give a folder outside what the backup protects")
    target = folder / archive.name
    if target.resolve() == archive.resolve():
        raise Refused(f"BACKUP={folder} is the archive's own folder; give another")
    integrity.refuse(archive)  # no regular file, not an archive, damaged: before it is opened
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        _refuse_another_archives(archive, target)
        _snapshot(archive, target, "DELETE")  # one self-contained file: no -wal to forget
        _write_record(target, archive)
        captures = folder / (archive.name + paths.CAPTURES_SUFFIX)
        copied, kept = _copy_captures(paths.capture_files(archive, configured), captures)
    return (f"Backed up {archive} ({_counts(target)}) to {target}; captures: {_files(copied)}"
            f" copied, {kept} already there, in {captures}/")


RECORD_SUFFIX = ".backup-of"  # beside the backup's file: the archive it is a backup of


def _record(target: Path) -> Path:
    return target.with_name(target.name + RECORD_SUFFIX)


def _write_record(target: Path, archive: Path) -> None:
    record = _record(target)
    partial = record.with_name(f".{record.name}.partial-{os.getpid()}")
    partial.write_text(f"{archive.resolve()}\n", encoding="utf-8")
    os.replace(partial, record)


def _runs(db: Path) -> dict[int, tuple[str, str]]:
    """{id: (started_at, outcome)} of the `crawl_runs` rows of the SQLite file `db`."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {row[0]: (row[1], row[2])
                for row in conn.execute("SELECT id, started_at, outcome FROM crawl_runs")}
    finally:
        conn.close()


def _runs_missing(backup: Path, archive: Path) -> int:
    """How many of the backup's runs the archive does not hold: by id and start time, or by id
    alone for a run still `running` in the backup (its row is rewritten when it ends, its start
    time from the run's own clock)."""
    have = _runs(archive)
    return sum(1 for run_id, (started_at, outcome) in _runs(backup).items()
               if run_id not in have or (outcome != RUNNING.text and have[run_id][0] != started_at))


def _refuse_another_archives(archive: Path, target: Path) -> None:
    """Refused when `target` is the backup of an archive other than `archive`."""
    record = _record(target)
    if record.is_file():
        of = record.read_text(encoding="utf-8").strip()
        if of != str(archive.resolve()):
            raise Refused(f"{target} is the backup of another archive, {of}; a backup of"
                          f" {archive} never replaces it: give another BACKUP folder")
    if not target.exists():
        return
    try:  # every run the backup holds is in the archive: the archive is it, or grew from it
        missing = _runs_missing(target, archive)
    except sqlite3.Error:
        missing = None
    if missing is None or (missing and not record.is_file()):
        # Made before backups said whose they are (or unreadable): another archive's.
        raise Refused(f"{target} is a backup of another archive (its runs are not in {archive});"
                      " give another BACKUP folder, or move it aside")
    if missing:  # this archive's, but fuller than the archive is now: never replaced by less
        raise Refused(f"{target} holds {missing} run{'s' if missing != 1 else ''} that {archive}"
                      " does not (the archive was replaced by an older copy, or lost them): a"
                      " backup is never replaced by a copy holding less; move it aside if you"
                      " mean to")


@contextlib.contextmanager
def _locked(folder: Path):
    """The backup folder, locked (flock on the folder itself: no file made) while one backup
    writes into it; Refused when another one is."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(f"another backup is writing into {folder}; try again when it is done") from None
        yield
    finally:
        os.close(fd)


def restore(source: Path, archive: Path, configured: str | None = None) -> str:
    """Restore the backup `source` (a backup's file, or the folder holding `<archive name>`) as
    `archive`, with its captures; one line saying what was done. Raises Refused,
    integrity.ArchiveDamaged, sqlite3.Error, OSError."""
    why = paths.problem(archive, "ARCHIVE")
    if why:
        raise Refused(why)
    if source.is_dir():
        source = source / archive.name
    if not source.is_file():
        raise Refused(f"no backup at {source}")
    in_the_way = [p for p in (archive, Path(f"{archive}-wal")) if p.exists() and p.stat().st_size]
    if in_the_way:
        raise Refused(f"{in_the_way[0]} exists: a restore never overwrites an archive; move it"
                      f" (and its -wal) aside first")
    problems = integrity.damage(source)
    if problems:
        raise integrity.ArchiveDamaged(source, problems)
    archive.parent.mkdir(parents=True, exist_ok=True)
    counts = _counts(source)
    _snapshot(source, archive, "WAL", restoring=True)
    saved = source.with_name(source.name + paths.CAPTURES_SUFFIX)
    files = (sorted(p for pattern in paths.WARC_PATTERNS for p in saved.glob(pattern))
             if saved.is_dir() else [])
    captures = paths.captures_dir(archive, configured)
    copied, kept = _copy_captures(files, captures)
    return (f"Restored {archive} ({counts}) from {source}; captures: {_files(copied)}"
            f" copied, {kept} already there, in {captures}/")


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m crawler.archive.backup",
                                     description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    saving = commands.add_parser("save", help="back up ARCHIVE and its captures into FOLDER")
    saving.add_argument("archive", metavar="ARCHIVE")
    saving.add_argument("folder", metavar="FOLDER")
    restoring = commands.add_parser("restore", help="restore ARCHIVE from the backup in FOLDER")
    restoring.add_argument("folder", metavar="FOLDER")
    restoring.add_argument("archive", metavar="ARCHIVE")
    args = parser.parse_args(argv)
    configured = _configured_captures()
    try:
        # Checked as given: Path("") would be the current folder.
        why = paths.problem(args.archive, "ARCHIVE") or (
            "BACKUP= is empty; give a folder, e.g. BACKUP=backup" if not args.folder.strip() else None)
        if why:
            raise Refused(why)
        if args.command == "save":
            said = save(Path(args.archive), Path(args.folder), configured)
        else:
            said = restore(Path(args.folder), Path(args.archive), configured)
    except Refused as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except integrity.ArchiveRefused as exc:  # damaged, or no archive
        kept = " the previous backup was kept" if args.command == "save" else " nothing restored"
        print(f"{args.command}: {exc};{kept}", file=sys.stderr)
        return EXIT_FAILED
    except (sqlite3.Error, OSError) as exc:
        print(f"{args.command}: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(said)
    return 0


if __name__ == "__main__":
    sys.exit(main())
