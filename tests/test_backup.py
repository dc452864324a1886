"""`make backup` while a crawl writes, and `make restore`: the backup is a sound snapshot holding
every batch committed before it began (those still in `-wal` too), each of its articles' captures
beside it; the restored archive is the backup, re-extracts from its own restored captures, and a
restore never overwrites an archive. `make clean` keeps every archive and its captures.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, article_count, crawl, query, running_mirror
from tests.test_outcomes import snapshot


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-s", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def rows(db: Path) -> list[tuple]:
    return query(db, "SELECT id, content_hash, warc_file, warc_offset FROM articles ORDER BY id")


def test_make_backup_while_a_crawl_writes_then_make_restore(tmp_path):
    live, backup, restored = tmp_path / "live" / "dw.db", tmp_path / "backup", tmp_path / "restored" / "dw.db"
    log = tmp_path / "access.log"
    with running_mirror(ROOT / "data" / "sample-site", log) as origin:
        assert crawl(Mirror(origin, log), live, "-a", "lang=de").returncode == 0
        german = article_count(live)
        # A slow crawl, one article per batch: it commits while the backup is taken.
        crawling = forkserver.start(
            crawl_command(origin, live, "-a", "lang=en,es,ar,pt-br", "-a", "sources=news,articles",
                          "-s", "DOWNLOAD_DELAY=0.4", "-s", "RANDOMIZE_DOWNLOAD_DELAY=False",
                          "-s", "CONCURRENT_REQUESTS=1", "-s", "ARCHIVE_BATCH_SIZE=1"),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and article_count(live) < german + 3:
            time.sleep(0.05)
        committed = article_count(live)
        assert Path(f"{live}-wal").stat().st_size > 0  # some of them only in the -wal yet
        saved = make("backup", f"ARCHIVE={live}", f"BACKUP={backup}")
        still_running = crawling.poll() is None
        _, stderr = crawling.communicate(timeout=300)
    assert crawling.returncode == 0, stderr[-2000:]
    assert still_running, "the crawl ended before the backup: nothing was written meanwhile"
    assert saved.returncode == 0, saved.stderr
    assert re.fullmatch(rf"Backed up {live} \(\d+ articles, \d+ runs, integrity ok\) to {backup}/dw.db;"
                        rf" captures: \d+ WARC files? copied, 0 already there, in {backup}/dw.db-warc/",
                        saved.stdout.strip()), saved.stdout
    copy = backup / "dw.db"
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    backed_up, final = rows(copy), {row[0]: row for row in rows(live)}
    assert german + 3 <= committed <= len(backed_up) < len(final)  # a snapshot taken mid-crawl
    assert all(final[row[0]] == row for row in backed_up)  # each row as the crawl wrote it
    # Every backed-up article's response record is in the backup's captures.
    for content_id, _, warc_file, offset in backed_up:
        with open(backup / "dw.db-warc" / Path(warc_file).name, "rb") as handle:
            handle.seek(offset)
            head = _record_head(handle)
        assert "WARC-Type: response" in head and f"/a-{content_id}\r\n" in head, head

    # Restore, as after losing the disk: the backup, and its captures in the new archive's folder.
    done = make("restore", f"BACKUP={backup}", f"ARCHIVE={restored}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(f"Restored {restored} (")
    assert rows(restored) == backed_up
    assert sorted(p.name for p in (restored.parent / "dw.db-warc").iterdir()) == sorted(
        p.name for p in (backup / "dw.db-warc").iterdir())
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(restored),
                          "--workers", "1"], cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    assert counts["unchanged"] == len(backed_up)  # every article found in its own captures
    assert "updated" not in counts
    # The captures were copied after the snapshot: pages the crawl stored after it are in them,
    # and re-extraction adds those articles, as the live archive has them.
    added = {row[0] for row in rows(restored)} - {row[0] for row in backed_up}
    assert len(added) == counts.get("new", 0) and added <= set(final)

    # A restore never overwrites an archive.
    before = snapshot(live.parent)
    refused = make("restore", f"BACKUP={backup}", f"ARCHIVE={live}")
    assert refused.returncode == 2
    assert f"restore: {live} exists: a restore never overwrites an archive" in refused.stderr
    assert snapshot(live.parent) == before

    # The next backup, with the crawl done: the WARC files that grew are copied again.
    again = make("backup", f"ARCHIVE={live}", f"BACKUP={backup}")
    assert again.returncode == 0, again.stderr
    assert rows(copy) == sorted(final.values())
    assert snapshot(backup / "dw.db-warc") == snapshot(live.parent / "dw.db-warc")


def _record_head(handle) -> str:
    """The WARC headers of the gzip member at the handle's position."""
    import zlib

    data = zlib.decompressobj(31).decompress(handle.read(1 << 16))
    return data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace") + "\r\n"


def test_make_clean_keeps_every_archive_and_its_captures(tmp_path):
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    kept = {"data/dw.db": b"SQLite format 3\x00archive", "data/dw.db-wal": b"wal",
            "data/dw.db-shm": b"shm", "data/dw.db.lock": b"",
            "data/dw.db-warc/dw-1-2-00001.warc.gz": b"capture",
            "data/warc/dw-0-1-00001.warc.gz": b"older capture", "data/other.db": b"another archive",
            "backup/dw.db": b"backup", "backup/dw.db-warc/dw-1-2-00001.warc.gz": b"capture"}
    built = [".venv/bin/python", ".pytest_cache/v", ".ruff_cache/x", "benchmarks/work/archive-1000.db",
             "data/mirror-access.log"]
    for name, data in kept.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    for name in built:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    run = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert not [name for name in built if (tmp_path / name).exists()]  # it cleaned
    assert {k: v for k, v in snapshot(tmp_path).items() if k.startswith(("data/", "backup/"))} == kept


def test_no_make_target_deletes_an_archive_or_its_captures():
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1).split()
    assert {"clean", "crawl", "backup", "restore", "demo"} <= set(phony)
    for target in phony:
        # -n prints every recipe line (of the target and what it depends on) without running it.
        run = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        for line in run.stdout.splitlines():
            words = line.replace(";", " ").replace("&&", " ").split()
            removing = False
            for word in words:
                if word in ("rm", "mv", "shred", "truncate", "unlink"):
                    removing = True
                elif removing and not word.startswith("-"):
                    # an archive, its -wal, its captures, the old shared warc/, a backup, data/
                    assert not re.search(r"\.db\b|\.db-|warc|^backup|^data/?\*?$", word), (target, line)
