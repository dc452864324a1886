"""An operator's slips that reach the archive's file, refused through the real commands before
anything is written: a damaged write-ahead log (committed transactions after a bad frame, which
SQLite would drop for good at the next checkpoint), a file that is no dw-archive archive (another
application's database, a WARC, a FIFO), an emptied archive whose captures show what it held,
and backups that would replace another archive's backup or nest in the archive's own captures.

Each asserts the exit status, the last line, and the archive's folder (and the backup's) byte for
byte as it was. One crawl of the sample site's English articles is shared by the module.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crawler.archive import backup, integrity
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import crawl, crawled_sample_site
from tests.test_outcomes import last_line, snapshot

TRANSACTIONS = 30  # committed while the writer's -wal was never checkpointed
BAD_FRAME = 10


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """The sample site's English articles, crawled once for the module: dw.db and dw.db-warc/."""
    return crawled_sample_site(tmp_path_factory, "en")


def python(*args: str) -> subprocess.CompletedProcess:
    run = forkserver.run([sys.executable, *args], cwd=ROOT, timeout=180)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run


def runs_seen(db: Path) -> int:
    """crawl_runs rows SQLite itself reads from `db` and its -wal, from a copy (never the file)."""
    with_copy = db.parent.parent / f"seen-{db.parent.name}"
    shutil.rmtree(with_copy, ignore_errors=True)
    with_copy.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{db}{suffix}", with_copy / f"dw.db{suffix}")
    conn = sqlite3.connect(with_copy / "dw.db")
    try:
        return conn.execute("SELECT count(*) FROM crawl_runs").fetchone()[0]
    finally:
        conn.close()
        shutil.rmtree(with_copy)


def dead_writers_archive(crawled: Path, folder: Path) -> Path:
    """`folder/dw.db` as a writer left it when it died: the crawled archive with TRANSACTIONS
    committed transactions (runs) still in its -wal, never checkpointed."""
    live = folder.parent / f"{folder.name}-live"
    shutil.copytree(crawled, live)
    conn = sqlite3.connect(live / "dw.db", isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    for n in range(TRANSACTIONS):
        conn.execute("INSERT INTO crawl_runs (started_at, finished_at, outcome) VALUES (?, ?, 'ok')",
                     [f"2026-12-05T10:{n:02d}:00Z", f"2026-12-05T10:{n:02d}:30Z"])
    shutil.copytree(live, folder)  # while it is open: the -wal holds every transaction
    conn.close()
    shutil.rmtree(live)
    return folder / "dw.db"


def flip_in_frame(db: Path, frame: int) -> None:
    """One bit of one WAL frame's page flipped (frame numbers from 1, as SQLite's)."""
    wal = Path(f"{db}-wal")
    data = bytearray(wal.read_bytes())
    page_size = struct.unpack(">I", data[8:12])[0]
    data[32 + (frame - 1) * (24 + page_size) + 24 + 200] ^= 0x10
    wal.write_bytes(bytes(data))


def test_a_damaged_wal_is_refused_by_crawl_reextract_backfill_and_backup(crawled, mirror, tmp_path):
    db = dead_writers_archive(crawled, tmp_path / "wal")
    before_damage = runs_seen(db)
    kept = tmp_path / "kept"  # a good backup of this archive, taken before the damage
    saved = python("-m", "crawler.archive.backup", "save", str(db), str(kept))
    assert saved.returncode == 0, saved.stderr
    flip_in_frame(db, BAD_FRAME)
    # The premise: SQLite alone reads up to the bad frame and drops every transaction after it.
    assert runs_seen(db) < before_damage - TRANSACTIONS // 2
    folder, backup_before = snapshot(db.parent), snapshot(kept)

    said = "its write-ahead log dw.db-wal is damaged at frame 10 of "
    recover = f"; run `sqlite3 {db} .recover | sqlite3 {db}.recovered`"
    run = crawl(mirror, db, "-a", "lang=en")
    assert run.returncode == 3, run.stderr[-2000:]
    assert last_line(run).startswith(
        f"dw crawl failed: the archive could not be written: the archive is damaged ({said}")
    assert last_line(run).endswith(recover)
    assert snapshot(db.parent) == folder and mirror.paths() == []  # nothing checkpointed

    again = python("-m", "crawler.reextract", "--archive", str(db))
    assert again.returncode == 3
    assert last_line(again).startswith(f"dw reextract failed: the archive is damaged ({said}"), \
        last_line(again)
    assert last_line(again).endswith(recover)

    backfill = python("-m", "crawler.backfill", "cc-news", "--month", "2024-01", "--archive", str(db),
                      "-s", "BACKFILL_COMMONCRAWL_DATA=http://127.0.0.1:9")
    assert backfill.returncode == 3 and said in last_line(backfill), last_line(backfill)

    refused = python("-m", "crawler.archive.backup", "save", str(db), str(kept))
    assert refused.returncode == 3
    assert last_line(refused).startswith(f"save: the archive is damaged ({said}")
    assert last_line(refused).endswith("; the previous backup was kept")
    assert snapshot(kept) == backup_before  # the good backup, all its runs, as it was
    assert snapshot(db.parent) == folder


def test_wal_damage_is_committed_frames_after_a_bad_one(crawled, tmp_path):
    db = dead_writers_archive(crawled, tmp_path / "wal")
    assert integrity.wal_damage(db) is None
    pristine = Path(f"{db}-wal").read_bytes()
    frames = (len(pristine) - 32) // (24 + struct.unpack(">I", pristine[8:12])[0])
    flip_in_frame(db, frames)  # the last frame: a write torn by the crash, which SQLite drops
    assert integrity.wal_damage(db) is None
    for frame in (1, BAD_FRAME, frames - 1):
        Path(f"{db}-wal").write_bytes(pristine)
        flip_in_frame(db, frame)
        said = integrity.wal_damage(db)
        assert said is not None and f"damaged at frame {frame} of {frames}:" in said, (frame, said)
    Path(f"{db}-wal").write_bytes(pristine[:-100])  # cut inside its last frame: a torn end
    assert integrity.wal_damage(db) is None
    header = bytearray(pristine)
    header[28] ^= 1  # the header's own checksum: SQLite ignores the whole log
    Path(f"{db}-wal").write_bytes(bytes(header))
    assert "is damaged at its header:" in integrity.wal_damage(db)
    header = bytearray(pristine)
    header[0] ^= 0xFF  # its magic number
    Path(f"{db}-wal").write_bytes(bytes(header))
    assert "has a damaged header" in integrity.wal_damage(db)


def test_what_is_no_archive_is_refused_and_left_as_it_was(crawled, mirror, tmp_path):
    app = tmp_path / "app" / "app.db"  # another application's database
    app.parent.mkdir()
    with sqlite3.connect(app) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.close()
    warc = tmp_path / "warc" / "x.warc.gz"  # a capture named as the archive
    warc.parent.mkdir()
    shutil.copy(sorted((crawled / "dw.db-warc").glob("*.warc.gz"))[0], warc)
    emptied = tmp_path / "emptied" / "dw.db"  # `: > dw.db`, or a full disk: its captures remain
    shutil.copytree(crawled, emptied.parent)
    emptied.write_bytes(b"")
    fifo = tmp_path / "fifo" / "dw.db"  # opened, it would block the crawl for ever
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    cases = [
        (app, f"{app} is a SQLite database but not a dw-archive archive (its tables: users; no"
              " articles or crawl_runs table); give the archive's file"),
        (warc, f"{warc} is not a SQLite archive (it does not begin with SQLite's header)"),
        (emptied, f"the archive {emptied} is empty but its captures folder {emptied}-warc/ holds"
                  " 1 WARC file: restore a backup (make restore) or rebuild it with"
                  f" `python -m crawler.reextract --archive {emptied}`"),
        (fifo, f"bad setting: ARCHIVE_PATH={fifo} is a FIFO (named pipe), not a regular file"),
    ]
    before = {path: snapshot(path.parent) for path, _ in cases}
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda case: crawl(mirror, case[0], "-a", "lang=en", timeout=90), cases))
    for (path, said), run in zip(cases, runs, strict=True):
        assert run.returncode == 3, (path, run.stderr[-1500:])
        assert last_line(run).startswith("dw crawl failed: "), last_line(run)
        assert said in last_line(run), last_line(run)
        assert snapshot(path.parent) == before[path], path  # no tables added, no -warc/ made
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["dw.db"]
    assert mirror.paths() == []


def test_a_backup_never_replaces_another_archives_nor_nests_in_the_captures(crawled, tmp_path):
    first, second, folder = tmp_path / "x1" / "dw.db", tmp_path / "x2" / "dw.db", tmp_path / "bk"
    shutil.copytree(crawled, first.parent)
    second.parent.mkdir()
    shutil.copy(first, second)
    with sqlite3.connect(second) as conn:  # another archive of the same file name
        conn.execute("DELETE FROM crawl_runs WHERE id > 1")
        conn.execute("INSERT INTO crawl_runs (started_at, outcome) VALUES ('2026-01-01T00:00:00Z', 'ok')")
    conn.close()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    made = subprocess.run(["make", "--no-print-directory", "-s", "backup", f"ARCHIVE={first}",
                           f"BACKUP={folder}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert made.returncode == 0, made.stderr
    assert (folder / "dw.db.backup-of").read_text() == f"{first.resolve()}\n"
    kept = snapshot(folder)

    other = subprocess.run(["make", "--no-print-directory", "-s", "backup", f"ARCHIVE={second}",
                            f"BACKUP={folder}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300, env=env)
    assert other.returncode == 2  # make's own status for the backup's refusal
    assert f"save: {folder}/dw.db is the backup of another archive, {first.resolve()}; a backup of" \
           f" {second} never replaces it: give another BACKUP folder" in other.stderr, other.stderr
    assert snapshot(folder) == kept  # x1's backup and captures, nothing of x2's mixed in

    archive_before = snapshot(first.parent)
    nested = python("-m", "crawler.archive.backup", "save", str(first), str(first) + "-warc")
    assert nested.returncode == 2
    assert last_line(nested) == (
        f"save: BACKUP={first}-warc is inside the archive's captures folder {first.resolve()}-warc/;"
        " give a folder outside what the backup protects")
    assert snapshot(first.parent) == archive_before


def test_backups_made_before_they_named_their_archive(crawled, tmp_path):
    archive, folder = tmp_path / "a" / "dw.db", tmp_path / "bk"
    shutil.copytree(crawled, archive.parent)
    backup.save(archive, folder)
    (folder / "dw.db.backup-of").unlink()  # as an older version left it
    backup.save(archive, folder)  # its runs are all in the archive: the same archive's
    (folder / "dw.db.backup-of").unlink()
    with sqlite3.connect(folder / "dw.db") as conn:  # a run the archive never had: another's
        conn.execute("INSERT INTO crawl_runs (started_at, outcome) VALUES ('2020-01-01T00:00:00Z', 'ok')")
    conn.close()
    with pytest.raises(backup.Refused, match="is a backup of another archive"):
        backup.save(archive, folder)


def test_two_backups_into_one_folder_at_once(crawled, tmp_path):
    archive, folder = tmp_path / "a" / "dw.db", tmp_path / "bk"
    shutil.copytree(crawled, archive.parent)
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a backup writing into it holds it
        with pytest.raises(backup.Refused, match="another backup is writing into"):
            backup.save(archive, folder)
    finally:
        os.close(fd)
    assert list(folder.iterdir()) == []


def test_a_restored_run_in_progress_says_so(crawled, tmp_path):
    archive, folder, restored = tmp_path / "a" / "dw.db", tmp_path / "bk", tmp_path / "r" / "dw.db"
    shutil.copytree(crawled, archive.parent)
    with sqlite3.connect(archive) as conn:  # a crawl writing when the backup is taken
        conn.execute("INSERT INTO crawl_runs (started_at, outcome)"
                     " VALUES ('2026-12-05T11:00:00Z', 'running')")
    conn.close()
    assert python("-m", "crawler.archive.backup", "save", str(archive), str(folder)).returncode == 0
    run = python("-m", "crawler.archive.backup", "restore", str(folder), str(restored))
    assert run.returncode == 0, run.stderr
    with sqlite3.connect(restored) as conn:
        rows = conn.execute("SELECT outcome, finish_reason FROM crawl_runs WHERE started_at ="
                            " '2026-12-05T11:00:00Z'").fetchall()
    conn.close()
    assert rows == [(backup.IN_PROGRESS, "backed_up")]
    assert backup.IN_PROGRESS.startswith("in progress when backed up")


def damage_search_index(db: Path) -> None:
    """Bytes in the middle of the search index's largest block changed through SQL: the b-trees
    stay sound (`PRAGMA integrity_check` says ok), the FTS5 index inside them does not."""
    with sqlite3.connect(db) as conn:
        rowid, block = conn.execute("SELECT id, block FROM articles_search_data"
                                    " ORDER BY length(block) DESC LIMIT 1").fetchone()
        block = bytearray(block)
        middle = len(block) // 2
        block[middle:middle + 16] = bytes(b ^ 0x5A for b in block[middle:middle + 16])
        conn.execute("UPDATE articles_search_data SET block = ? WHERE id = ?", [bytes(block), rowid])
    conn.close()


def test_a_damaged_search_index_is_refused_though_integrity_check_passes(crawled, mirror, tmp_path):
    folder = tmp_path / "fts"
    shutil.copytree(crawled, folder)
    db = folder / "dw.db"
    damage_search_index(db)
    assert not Path(f"{db}-wal").exists()
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?immutable=1", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]  # SQLite's own: blind
    conn.close()
    before = snapshot(folder)
    run = crawl(mirror, db, "-a", "lang=en")
    assert run.returncode == 3, run.stderr[-2000:]
    assert last_line(run).startswith("dw crawl failed: the archive could not be written: the archive"
                                     " is damaged (its search index articles_search: "), last_line(run)
    assert f"rebuild the index from them with `python -m crawler.search {db}`" in last_line(run)
    assert snapshot(folder) == before and mirror.paths() == []
    # The advice works: rebuilt from the articles, the archive is sound and the crawl runs.
    rebuilt = python("-m", "crawler.search", str(db))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert integrity.damage(db) is None


def test_make_demo_never_writes_into_an_archive_it_did_not_make(crawled, tmp_path):
    from devtools.demo import not_the_demos

    site = ROOT / "data" / "sample-site"
    assert not_the_demos(crawled / "dw.db", site) is None  # the sample site's articles only
    operators = tmp_path / "data" / "dw.db"  # an operator's archive at the demo's default path
    shutil.copytree(crawled, operators.parent)
    with sqlite3.connect(operators) as conn:
        conn.execute("INSERT INTO articles (id, url, language, title) VALUES"
                     " (70000001, 'https://www.dw.com/en/x/a-70000001', 'en', 'Not a sample')")
    conn.close()
    before = snapshot(operators.parent)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    run = subprocess.run(["make", "--no-print-directory", "-s", "demo", f"ARCHIVE={operators}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2, run.stderr  # make's status for the demo's refusal (2)
    assert run.stderr.strip().splitlines()[0] == (
        f"demo: {operators} holds 1 article not from the sample site (e.g. 70000001): the demo"
        " never writes into an archive it did not make; give it its own: make demo"
        " ARCHIVE=data/demo.db")
    assert "Mirror of" not in run.stdout  # refused before the mirror or the crawl started
    assert snapshot(operators.parent) == before


def test_ctrl_c_again_after_the_outcome_is_recorded_keeps_its_status(mirror, tmp_path):
    import signal
    import time

    from devtools.demo import crawl_command

    db = tmp_path / "dw.db"
    process = forkserver.start(
        crawl_command(mirror.origin, db, "-a", "lang=en", "-a", "sources=news",
                      "-s", "DOWNLOAD_DELAY=0.5", "-s", "CONCURRENT_REQUESTS=1"),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def outcome() -> str | None:
        try:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT outcome FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not mirror.article_pages() and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None and mirror.article_pages(), "the crawl never reached an article"
    process.send_signal(signal.SIGINT)  # graceful
    while time.monotonic() < deadline and outcome() in (None, "running") and process.poll() is None:
        time.sleep(0.005)
    # The outcome is recorded: Ctrl-C again and again, through every step of the process's end.
    while process.poll() is None:
        process.send_signal(signal.SIGINT)
        time.sleep(0.002)
    stderr = process.stderr.read()
    process.wait()
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    assert outcome() == "stopped: shutdown (you stopped it: Ctrl-C or SIGTERM)"
    assert process.returncode == 0, stderr[-2000:]  # what the recorded outcome says, never 130


@pytest.mark.parametrize(("value", "languages"), [
    ("en,", ["en"]), (" en , de ,", ["en", "de"]), ("EN", ["en"]), ("de,,en", ["de", "en"]),
    (",", None), (" , ", None), ("en,xx", None),
])
def test_one_rule_for_language_lists_in_crawl_and_backfill(value, languages):
    from scrapy.utils.project import get_project_settings

    from crawler.arguments import ArgumentError, parse_languages
    from crawler.backfill.cli import BadArgument, job_from, parse

    args = parse(["cc-news", "--month", "2024-01", "--lang", value])
    if languages is None:
        with pytest.raises(ArgumentError):
            parse_languages(value)
        with pytest.raises(BadArgument):
            job_from(args, get_project_settings())
    else:
        assert parse_languages(value) == languages
        assert job_from(args, get_project_settings()).languages == languages


def test_a_refused_backup_leaves_nothing_beside_a_damaged_archive(crawled, tmp_path):
    folder, kept = tmp_path / "archive", tmp_path / "bk"
    shutil.copytree(crawled, folder)
    db = folder / "dw.db"
    assert python("-m", "crawler.archive.backup", "save", str(db), str(kept)).returncode == 0
    data = bytearray(db.read_bytes())
    data[5 * 4096:8 * 4096] = bytes(3 * 4096)  # three pages zeroed
    db.write_bytes(bytes(data))
    for leftover in ("-wal", "-shm"):  # the good backup's reading left these: a clean start
        Path(f"{db}{leftover}").unlink(missing_ok=True)
    before, backup_before = snapshot(folder), snapshot(kept)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    run = subprocess.run(["make", "--no-print-directory", "-s", "backup", f"ARCHIVE={db}",
                          f"BACKUP={kept}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=env)
    assert run.returncode == 2  # make's status; the backup's own is 3
    line = next(line for line in run.stderr.splitlines() if line.startswith("save: "))
    assert line.startswith("save: the archive is damaged (") and line.endswith(
        f"run `sqlite3 {db} .recover | sqlite3 {db}.recovered`; the previous backup was kept"), line
    assert "Error 3" in run.stderr.strip().splitlines()[-1]
    assert snapshot(folder) == before  # no -wal, no -shm left beside it
    assert snapshot(kept) == backup_before


def test_a_backup_is_never_replaced_by_a_copy_holding_less(crawled, tmp_path):
    archive, folder = tmp_path / "a" / "dw.db", tmp_path / "bk"
    shutil.copytree(crawled, archive.parent)
    older = tmp_path / "older.db"
    shutil.copy(archive, older)
    with sqlite3.connect(archive) as conn:  # a run after the older copy was taken
        conn.execute("INSERT INTO crawl_runs (started_at, outcome) VALUES ('2026-12-05T12:00:00Z', 'ok')")
    conn.close()
    assert python("-m", "crawler.archive.backup", "save", str(archive), str(folder)).returncode == 0
    shutil.copy(older, archive)  # the archive put back from an older copy
    kept = snapshot(folder)
    run = python("-m", "crawler.archive.backup", "save", str(archive), str(folder))
    assert run.returncode == 2
    assert last_line(run).startswith(f"save: {folder}/dw.db holds 1 run that {archive} does not"), \
        last_line(run)
    assert snapshot(folder) == kept


def test_a_backup_of_what_is_no_archive_is_refused(tmp_path):
    app = tmp_path / "app.db"
    with sqlite3.connect(app) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.close()
    before = snapshot(tmp_path)
    run = python("-m", "crawler.archive.backup", "save", str(app), str(tmp_path / "bk"))
    assert run.returncode == 3
    assert last_line(run) == (f"save: {app} is a SQLite database but not a dw-archive archive (its"
                              " tables: users; no articles or crawl_runs table); give the archive's"
                              " file; the previous backup was kept")
    assert snapshot(tmp_path) == before


def test_a_run_in_progress_in_the_backup_is_the_same_run_when_it_ends(crawled, tmp_path):
    archive, folder = tmp_path / "a" / "dw.db", tmp_path / "bk"
    shutil.copytree(crawled, archive.parent)
    with sqlite3.connect(archive) as conn:  # a crawl writing when the first backup is taken
        run_id = conn.execute("INSERT INTO crawl_runs (started_at, outcome)"
                              " VALUES ('2026-12-05T11:00:01Z', 'running')").lastrowid
    conn.close()
    backup.save(archive, folder)
    with sqlite3.connect(archive) as conn:  # it ends: its row rewritten, its own start time
        conn.execute("UPDATE crawl_runs SET started_at = '2026-12-05T11:00:00Z', outcome = 'ok'"
                     " WHERE id = ?", [run_id])
    conn.close()
    assert backup.save(archive, folder).startswith(f"Backed up {archive} (")
    with sqlite3.connect(folder / "dw.db") as conn:
        assert conn.execute("SELECT outcome FROM crawl_runs WHERE id = ?", [run_id]).fetchone() == ("ok",)
    conn.close()
