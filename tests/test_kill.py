"""A crawl killed with SIGKILL mid-run, then run again, leaves the archive an uninterrupted run leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from devtools.demo import crawl_command
from devtools.sitegen import synthetic_spec, write_site
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, article_count, crawl, query, running_mirror

ARTICLES = 300
LANGS = "lang=en,de,es,pt-br,ar"


@pytest.fixture(scope="module")
def big_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    write_site(synthetic_spec(ARTICLES), site)
    return site


def archived(db) -> dict[int, str]:
    return dict(query(db, "SELECT id, content_hash FROM articles"))


def consistent(db) -> None:
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "PRAGMA foreign_key_check") == []
    # No partial article: every row has its body, its images and its agency tags.
    assert query(db, "SELECT count(*) FROM articles WHERE body = '' OR title IS NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM articles a WHERE (SELECT count(*) FROM images i"
                     " WHERE i.article_id = a.id) != json_array_length(a.images)") == [(0,)]
    assert query(db, "SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM"
                     " article_agencies g WHERE g.article_id = a.id AND g.role = 'text')") == [(0,)]


def test_sigkill_mid_crawl_then_rerun_matches_an_uninterrupted_run(big_site, tmp_path):
    log = tmp_path / "access.log"
    with running_mirror(big_site, log) as origin:
        mirror = Mirror(origin, log)
        reference = tmp_path / "reference.db"
        assert crawl(mirror, reference, "-a", LANGS).returncode == 0
        assert len(archived(reference)) == ARTICLES

        db = tmp_path / "killed.db"
        command = crawl_command(origin, db, "-a", LANGS, "-s", "ARCHIVE_BATCH_SIZE=7",
                                "-s", "CONCURRENT_REQUESTS=2")
        process = forkserver.start(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if db.exists() and article_count(db) >= 20:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the crawl ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        partial = archived(db)
        assert 0 < len(partial) < ARTICLES
        consistent(db)

        assert crawl(mirror, db, "-a", LANGS).returncode == 0
    assert archived(db) == archived(reference)
    consistent(db)


def test_a_stopped_run_resumes_from_its_job_directory(big_site, tmp_path):
    log, db, jobdir = tmp_path / "access.log", tmp_path / "dw.db", tmp_path / "job"
    with running_mirror(big_site, log) as origin:
        mirror = Mirror(origin, log)
        first = crawl(mirror, db, "-a", LANGS, "-s", f"JOBDIR={jobdir}",
                      "-s", "CLOSESPIDER_PAGECOUNT=80", "-s", "CONCURRENT_REQUESTS=2")
        # Stopped at a limit the user set: exit 0, and the outcome says it did not finish.
        assert first.returncode == 0, first.stderr[-2000:]
        assert query(db, "SELECT outcome FROM crawl_runs") == [
            ("stopped: closespider_pagecount (a limit you set: CLOSESPIDER_PAGECOUNT)",)]
        done = len(archived(db))
        assert 0 < done < ARTICLES
        resumed = crawl(mirror, db, "-a", LANGS, "-s", f"JOBDIR={jobdir}")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    pages = mirror.article_pages()
    assert len(archived(db)) == ARTICLES
    assert sorted(pages) == sorted(set(pages)) and len(pages) == ARTICLES  # each page fetched once
    consistent(db)

