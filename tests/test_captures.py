"""Each archive's captures are its own: two archives in one folder each get a captures folder
named after them, `python -m crawler.reextract --archive A` reads only A's, and an archive made
before (captures in the `warc/` folder it shared) keeps finding its own there and no other's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, query, running_mirror
from tests.test_outcomes import snapshot

EDITED = 16825046
PAGE = "en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046"
URL = f"https://www.dw.com/{PAGE}"
OLD, NEW = "Hezbollah troops die in siege", "Hezbollah fighters die in Qusair siege"


def sites(tmp_path: Path) -> tuple[Path, Path]:
    """The sample site, and a copy in which DW edited one headline."""
    edited = tmp_path / "edited-site"
    shutil.copytree(ROOT / "data" / "sample-site", edited)
    page = edited / f"{PAGE}.html"
    text = page.read_text(encoding="utf-8")
    assert OLD in text
    page.write_text(text.replace(OLD, NEW), encoding="utf-8")
    return ROOT / "data" / "sample-site", edited


def crawl_site(site: Path, db: Path, log: Path, *args: str) -> None:
    with running_mirror(site, log) as origin:
        run = crawl(Mirror(origin, log), db, *args)
    assert run.returncode == 0, run.stderr[-2000:]


def reextract(db: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """`python -m crawler.reextract --archive DB`, no WARC named: the archive's own captures."""
    run = forkserver.run([sys.executable, "-m", "crawler.reextract", "--archive", str(db),
                          "--workers", "1"], cwd=ROOT, timeout=300)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run, (json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else {})


def title(db: Path) -> str:
    return query(db, "SELECT title FROM articles WHERE id = ?", EDITED)[0][0]


def test_two_archives_in_one_folder_reextract_only_their_own_captures(tmp_path):
    original, edited = sites(tmp_path)
    folder, log = tmp_path / "archives", tmp_path / "access.log"
    a, b = folder / "a.db", folder / "b.db"
    crawl_site(edited, a, log, "-a", f"urls={URL}")    # A holds DW's edited headline
    crawl_site(original, b, log, "-a", f"urls={URL}")  # B, a later capture of the older page
    assert title(a) == NEW and title(b) == OLD
    a_files = sorted(p.name for p in (folder / "a.db-warc").iterdir())
    b_files = sorted(p.name for p in (folder / "b.db-warc").iterdir())
    assert a_files and b_files and not set(a_files) & set(b_files)
    assert not (folder / "warc").exists()  # no folder the two share
    before = snapshot(folder)
    run, counts = reextract(a)
    assert run.returncode == 0, run.stderr[-2000:]
    assert counts["files"] == len(a_files) and counts["article_responses"] == 1
    assert counts["unchanged"] == 1 and "updated" not in counts and "new" not in counts
    assert title(a) == NEW  # B's capture, newer but older in content, was never read
    assert query(a, "SELECT count(*) FROM revisions") == [(0,)]
    after = snapshot(folder)
    assert {k: v for k, v in after.items() if not k.startswith("a.db")} == {
        k: v for k, v in before.items() if not k.startswith("a.db")}  # B and its captures as they were
    assert {k for k in after if k.startswith("a.db-warc/")} == {f"a.db-warc/{n}" for n in a_files}


def test_an_archive_with_captures_in_the_old_shared_folder_keeps_finding_its_own(tmp_path):
    original, edited = sites(tmp_path)
    folder, log = tmp_path / "archives", tmp_path / "access.log"
    a, b, shared = folder / "a.db", folder / "b.db", folder / "warc"
    # Before the upgrade both archives wrote to `warc/` beside them (the old default).
    crawl_site(original, a, log, "-a", "lang=en", "-a", "sources=news", "-a", f"urls={URL}",
               "-s", f"WARC_DIR={shared}")
    a_old = {p.name for p in shared.iterdir()}
    crawl_site(original, b, log, "-a", "lang=de", "-a", "sources=news", "-s", f"WARC_DIR={shared}")
    b_old = {p.name for p in shared.iterdir()} - a_old
    assert a_old and b_old
    english = query(a, "SELECT count(*) FROM articles")[0][0]
    # After it: DW edits a page; A's next crawl keeps its new capture in A's own folder.
    crawl_site(edited, a, log, "-a", f"urls={URL}", "-a", "refresh=all")
    a_new = {p.name for p in (folder / "a.db-warc").iterdir()}
    assert a_new and title(a) == NEW
    before, history = snapshot(folder), query(a, "SELECT * FROM revisions ORDER BY id")
    assert len(history) == 1  # the edit, seen by the second crawl
    run, counts = reextract(a)
    assert run.returncode == 0, run.stderr[-2000:]
    # A's old files and its new one; not B's German ones, though they share A's old folder.
    assert counts["files"] == len(a_old) + len(a_new), json.dumps(counts)
    assert counts["article_responses"] == english + 1  # the edited page's older capture too
    assert "new" not in counts and "updated" not in counts
    # That older capture is the revision already kept: nothing reverted, nothing added.
    assert title(a) == NEW
    assert query(a, "SELECT * FROM revisions ORDER BY id") == history
    assert query(a, "SELECT count(*) FROM articles WHERE language != 'en'") == [(0,)]
    assert {k: v for k, v in snapshot(folder).items() if not k.startswith("a.db")} == {
        k: v for k, v in before.items() if not k.startswith("a.db")}
