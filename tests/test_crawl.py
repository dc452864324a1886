"""`scrapy crawl dw` end to end: the real command, the mirror on loopback, a real SQLite file."""

from __future__ import annotations

import json
import os

import pytest

from crawler import dw
from devtools.demo import SAMPLE_LANGUAGES
from tests.conftest import REAL_PAGES, ROOT, needs_shared
from tests.crawling import Mirror, crawl, last_run, query, running_mirror
from tests.test_reliability import report

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
ARTICLES = {a["id"]: a for a in SPEC["articles"]}
OTHERS = {o["id"]: o for o in SPEC["others"]}


def code(content_id: int) -> str:
    return dw.encode_short_code(content_id)


def test_sample_crawl_archives_every_article_once(mirror, tmp_path):
    db = tmp_path / "dw.db"
    run = crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert {row[0] for row in query(db, "SELECT id FROM articles")} == set(ARTICLES)
    # Stored URLs name dw.com, never the mirror.
    assert query(db, "SELECT count(*) FROM articles WHERE url NOT LIKE 'https://www.dw.com/%'") == [(0,)]
    assert sorted(query(db, "SELECT code, article_id FROM short_links")) == sorted(
        (code(i), i) for i in ARTICLES)
    pages = mirror.article_pages()
    assert len(pages) == len(set(pages)) == len(ARTICLES)  # each article fetched exactly once
    stats = last_run(db)["stats"]
    for kind in ("video", "gallery", "topic", "live"):
        assert stats[f"dw/skipped/type/{kind}"] == 1
    assert not any(f"-{other}" in path for other in OTHERS for path in mirror.paths())
    assert last_run(db)["outcome"] == "ok" and last_run(db)["new"] == len(ARTICLES)
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "PRAGMA foreign_key_check") == []


def test_second_run_over_unchanged_site_fetches_no_article(mirror, tmp_path):
    db = tmp_path / "dw.db"
    crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}")
    mirror.clear()
    run = crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}")
    assert run.returncode == 0
    assert mirror.article_pages() == []
    assert last_run(db)["stats"]["dw/skipped/archived_up_to_date"] > 0
    assert query(db, "SELECT count(*) FROM articles") == [(len(ARTICLES),)]


def test_since_and_until_skip_pages_without_downloading_them(mirror, tmp_path):
    db = tmp_path / "dw.db"
    run = crawl(mirror, db, "-a", "lang=en,de", "-a", "since=2026-11-06", "-a", "until=2026-11-18")
    assert run.returncode == 0
    wanted = {i for i, a in ARTICLES.items() if a["language"] in ("en", "de")
              and "2026-11-06" <= a["published_at"][:10] <= "2026-11-18"}
    assert len(wanted) >= 4
    assert {row[0] for row in query(db, "SELECT id FROM articles")} == wanted
    fetched = {int(path.rsplit("-", 1)[1]) for path in mirror.article_pages()}
    assert fetched == wanted


def test_short_links_are_followed_once_and_recorded(mirror, tmp_path):
    db = tmp_path / "dw.db"
    links = [f"https://p.dw.com/p/{code(16825046)}", f"https://p.dw.com/p/{code(79020003)}"]
    run = crawl(mirror, db, "-a", "urls=" + ",".join(links))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(query(db, "SELECT code, article_id FROM short_links")) == sorted(
        [("18axi", 16825046), (code(79020003), 79020003)])
    assert query(db, "SELECT url FROM articles WHERE id = 16825046") == [
        ("https://www.dw.com/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046",)]
    assert sorted(p for p in mirror.paths() if p.startswith("/p/")) == sorted(
        ["/p/18axi", f"/p/{code(79020003)}"])

    mirror.clear()
    again = crawl(mirror, db, "-a", "urls=" + ",".join(links))
    assert again.returncode == 0
    assert [p for p in mirror.paths() if p != "/robots.txt"] == []  # archived: no request at all
    assert last_run(db)["stats"]["dw/skipped/short_link_already_archived"] == 2


def test_old_dw_de_and_dw_world_urls_are_resolved_by_id(mirror, tmp_path):
    db = tmp_path / "dw.db"
    urls = ["http://www.dw.de/hezbollah-troops-die-in-siege/a-16825046",
            "http://www.dw-world.de/dw/article/0,,79010006,00.html"]
    run = crawl(mirror, db, "-a", "urls=" + ",".join(urls))
    assert run.returncode == 0
    assert {row[0] for row in query(db, "SELECT id FROM articles")} == {16825046, 79010006}


def test_short_link_to_a_non_article_is_skipped(mirror, tmp_path):
    db = tmp_path / "dw.db"
    run = crawl(mirror, db, "-a", f"urls=https://p.dw.com/p/{code(79019001)}")
    assert run.returncode == 0
    assert query(db, "SELECT count(*) FROM articles") == [(0,)]
    assert last_run(db)["stats"]["dw/skipped/type/video"] == 1
    assert "/en/germany-beat-curacao-highlights/video-79019001" not in mirror.paths()


def test_urls_from_a_file(mirror, tmp_path):
    db = tmp_path / "dw.db"
    listing = tmp_path / "urls.txt"
    listing.write_text("# saved for later\nhttps://www.dw.com/de/x/a-79020005\n\nhttps://p.dw.com/p/18axi\n")
    run = crawl(mirror, db, "-a", f"urls=@{listing}")
    assert run.returncode == 0
    assert {row[0] for row in query(db, "SELECT id FROM articles")} == {79020005, 16825046}


@needs_shared(REAL_PAGES)
def test_saved_real_pages_are_archived_with_their_canonical_urls(tmp_path):
    expected = json.loads((REAL_PAGES / "expected.json").read_text())
    pages = {v["id"]: v["url"] for k, v in expected.items() if not k.startswith("_")}
    db = tmp_path / "dw.db"
    with running_mirror(REAL_PAGES, tmp_path / "access.log") as origin:
        # Any slug finds a page by its id, as on DW; the canonical URL comes from the page.
        urls = ",".join(f"https://www.dw.com/en/any-slug/a-{i}" for i in pages)
        run = crawl(Mirror(origin, tmp_path / "access.log"), db, "-a", f"urls={urls}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert dict(query(db, "SELECT id, url FROM articles")) == pages


def test_bad_arguments_end_the_run_with_a_clear_message(tmp_path, mirror):
    run = crawl(mirror, tmp_path / "dw.db", "-a", "lang=xx")
    assert run.returncode == 3
    assert "unknown language xx" in run.stderr
    assert mirror.paths() == []


@pytest.mark.parametrize("args", [["-a", "since=yesterday"], ["-a", "sources=tv"],
                                  ["-a", "urls=@/nonexistent/file"]])
def test_other_bad_arguments(tmp_path, mirror, args):
    run = crawl(mirror, tmp_path / "dw.db", *args)
    assert run.returncode == 3
    assert "Bad argument" in run.stderr


@pytest.mark.parametrize("named", ["as it is", "through a symlink", "through a hard link"])
def test_a_second_run_at_once_exits_at_once_with_a_clear_message(mirror, tmp_path, named):
    import fcntl

    db = tmp_path / "dw.db"
    db.touch()
    given = db
    if named != "as it is":  # the second run names the same archive by another path
        (tmp_path / "elsewhere").mkdir()
        given = tmp_path / "elsewhere" / "link.db"
        given.symlink_to(db) if named == "through a symlink" else given.hardlink_to(db)
    with open(db, "rb") as held:  # as a first, still running crawl holds its run lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = crawl(mirror, given, "-a", "lang=en")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == (  # this test's process holds it
        f"dw crawl failed: another crawl is running on this archive (lock {os.path.realpath(given)},"
        f" pid {os.getpid()})")
    assert [p for p in mirror.paths() if p != "/robots.txt"] == []
    assert crawl(mirror, db, "-a", "lang=en").returncode == 0  # released: the next run works
    report(f"two crawls at once on one archive (named {named})",
           "the second exits at once, exit 3, clear message",
           "exit 3, 'another crawl is running on this archive (lock …, pid N)', no request")
