"""The archive through the real `scrapy crawl dw`: feed exports, whole revisions, upgrades, a held
write lock, resumed runs."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import time

import pytest

from devtools.demo import SAMPLE_LANGUAGES, crawl_command
from devtools.sitegen import write_site
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, last_run, query, running_mirror

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
ARTICLES = {a["id"]: a for a in SPEC["articles"]}
LISTS = ("subheads", "authors", "topics", "agencies", "images")


def summary_counts(stderr: str) -> dict[str, int]:
    """The counts of the crawl's closing line: `Crawl finished (ok): found 8, fetched 8, ...`."""
    line = re.search(r"Crawl \w+ \(.*?\): (.*?); reasons:", stderr)
    assert line, stderr[-2000:]
    return {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", line.group(1))}


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_feed_export_holds_one_record_per_article_and_reads_back(mirror, tmp_path, kind):
    db, out = tmp_path / "dw.db", tmp_path / f"articles.{kind}"
    run = crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}", "-O", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    text = out.read_text(encoding="utf-8")
    if kind == "jsonl":
        records = [json.loads(line) for line in text.splitlines()]
    else:
        records = list(csv.DictReader(text.splitlines()))
        for record in records:
            for name in LISTS:
                record[name] = json.loads(record[name])  # JSON text, not `a,b`
            record["id"] = int(record["id"])
    assert sorted(r["id"] for r in records) == sorted(ARTICLES)  # no bookkeeping records
    assert last_run(db)["stats"]["item_scraped_count"] == len(ARTICLES)
    archived = {row[0]: row[1:] for row in query(
        db, f"SELECT id, title, {', '.join(LISTS)} FROM articles")}
    for record in records:
        title, *lists = archived[record["id"]]
        assert record["title"] == title
        assert [record[name] for name in LISTS] == [json.loads(value) for value in lists]
    seed = next(r for r in records if r["id"] == 16825046)
    assert seed["images"][0]["credit"] and "," in seed["credit_line"]  # commas survive CSV


def _article(spec: dict, article_id: int) -> dict:
    return next(a for a in spec["articles"] if a["id"] == article_id)


EDITS = [  # one field of the page alone, as the site generator writes it; what then differs
    ("images", lambda a: a["images"].append({"url": "https://static.dw.com/image/79010107_6.jpg",
                                             "caption": "The staircase", "credit": "DW"}),
     ["images"]),
    ("topics", lambda a: a["topics"].append("Architecture"), ["topics"]),
    ("subheads", lambda a: a["blocks"].append("## A school of design"),
     ["body", "subheads"]),  # a subhead is a paragraph of the body too
    ("credit_line", lambda a: a.update(credit_line="This article was first written in German."),
     ["body", "credit_line"]),  # the page prints it under the text
]


def test_a_revision_keeps_every_edited_fields_previous_value(tmp_path):
    site, db, log = tmp_path / "site", tmp_path / "dw.db", tmp_path / "access.log"
    spec = json.loads(json.dumps(SPEC))
    article = _article(spec, 79010006)
    url = "urls=https://www.dw.com/en/a-new-museum-for-bauhaus-design/a-79010006"
    write_site(spec, site)
    with running_mirror(site, log) as origin:
        mirror = Mirror(origin, log)
        assert crawl(mirror, db, "-a", url).returncode == 0
        before = []
        for field, edit, _ in EDITS:
            before.append(query(db, f"SELECT {field} FROM articles WHERE id = 79010006")[0][0])
            edit(article)
            write_site(spec, site)
            assert crawl(mirror, db, "-a", url, "-a", "refresh=all").returncode == 0
    revisions = query(db, "SELECT changed, images, topics, subheads, credit_line, title, body"
                          " FROM revisions WHERE article_id = 79010006 ORDER BY id")
    assert [json.loads(r[0]) for r in revisions] == [changed for _, _, changed in EDITS]
    for n, (field, _, _) in enumerate(EDITS):
        kept = revisions[n][1 + [f for f, _, _ in EDITS].index(field)]
        assert kept == before[n], field
        assert kept is not None
        assert revisions[n][5] == article["title"] and revisions[n][6]  # the rest of it, whole
    assert json.loads(revisions[0][1])[0]["caption"] == "The museum at night"
    assert json.loads(revisions[1][2]) == ["Culture", "Germany"]
    assert json.loads(revisions[2][3]) == []
    assert revisions[3][4] == "This article was originally written in German."


def test_columns_an_upgrade_adds_are_filled_on_the_next_fetch(mirror, tmp_path):
    db = tmp_path / "dw.db"
    assert crawl(mirror, db, "-a", "lang=en").returncode == 0
    expected = dict(query(db, "SELECT id, short_url FROM articles"))
    images = query(db, "SELECT count(*) FROM images")[0][0]
    with sqlite3.connect(db) as conn:  # as an archive written before these columns existed
        conn.execute("ALTER TABLE articles DROP COLUMN short_url")
        conn.execute("ALTER TABLE articles DROP COLUMN images")
        conn.execute("DELETE FROM images")
    run = crawl(mirror, db, "-a", "lang=en", "-a", "refresh=all")
    assert run.returncode == 0, run.stderr[-2000:]
    assert dict(query(db, "SELECT id, short_url FROM articles")) == expected
    assert query(db, "SELECT count(*) FROM articles WHERE images IS NULL") == [(0,)]
    assert query(db, "SELECT count(*) FROM images")[0][0] == images > 0
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]  # filling in is not an edit


def test_a_write_lock_held_when_a_run_starts_stops_it_before_any_request(mirror, tmp_path):
    db = tmp_path / "dw.db"
    assert crawl(mirror, db, "-a", "lang=de").returncode == 0
    before = query(db, "SELECT id, content_hash FROM articles")
    mirror.clear()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
    try:
        run = crawl(mirror, db, "-a", "lang=en", "-s", "ARCHIVE_TIMEOUT=1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == (
        "dw crawl failed: the archive could not be written: database is locked")
    assert mirror.paths() == []  # its crawl_runs row could not be written: nothing fetched
    assert query(db, "SELECT id, content_hash FROM articles") == before


def test_a_write_lock_held_past_the_timeout_counts_the_articles_not_stored(tmp_path):
    db, log, faults = tmp_path / "dw.db", tmp_path / "access.log", tmp_path / "faults.json"
    # The sitemap waits two seconds: the run has written its crawl_runs row, and the lock is
    # taken before its first batch.
    faults.write_text(json.dumps({"/en/news-sitemap.xml": "delay=2"}))
    with running_mirror(ROOT / "data" / "sample-site", log, faults) as origin:
        mirror = Mirror(origin, log)
        assert crawl(mirror, db, "-a", "lang=de").returncode == 0
        before = query(db, "SELECT id, content_hash FROM articles")
        process = forkserver.start(
            crawl_command(origin, db, "-a", "lang=en", "-a", "sources=news",
                          "-s", "ARCHIVE_TIMEOUT=1", "-s", "ARCHIVE_BATCH_SIZE=2"),
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "/en/news-sitemap.xml" not in mirror.paths():
            time.sleep(0.05)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
        try:
            _, stderr = process.communicate(timeout=120)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert process.returncode == 3
    assert "database is locked" in stderr and "Traceback" not in stderr
    counts = summary_counts(stderr)
    assert counts["fetched"] >= 2 and counts["new"] == 0
    # Every fetched article, none stored: not_stored, apart from failed (the counts add up).
    assert counts["not_stored"] == counts["fetched"] and counts["failed"] == 0
    assert query(db, "SELECT id, content_hash FROM articles") == before


def test_a_resumed_run_counts_what_it_found_and_did(mirror, tmp_path):
    db, jobdir = tmp_path / "dw.db", tmp_path / "job"
    first = crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}", "-s", f"JOBDIR={jobdir}",
                  "-s", "CLOSESPIDER_PAGECOUNT=25", "-s", "CONCURRENT_REQUESTS=1")
    stored_first = query(db, "SELECT count(*) FROM articles")[0][0]
    assert 0 < stored_first < len(ARTICLES), first.stderr[-2000:]
    mirror.clear()
    resumed = crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}", "-s", f"JOBDIR={jobdir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    run = last_run(db)
    fetched_now = len(mirror.article_pages())
    assert run["found"] == run["fetched"] == fetched_now > 0
    assert run["found"] == run["new"] + run["updated"] + run["unchanged"] + run["failed"]
    assert run["new"] == len(ARTICLES) - stored_first
    assert summary_counts(resumed.stderr)["found"] == run["found"]


def test_a_damaged_archive_is_refused_in_one_line_and_left_as_it_was(mirror, tmp_path):
    db = tmp_path / "dw.db"
    assert crawl(mirror, db, "-a", "lang=de").returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    data[page:] = bytes(0x55 for _ in range(len(data) - page))  # header and schema page intact
    db.write_bytes(bytes(data))
    mirror.clear()
    run = crawl(mirror, db, "-a", "lang=en")
    assert run.returncode == 3
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("dw crawl failed:") and "the archive is damaged" in last, last
    assert f"sqlite3 {db} .recover | sqlite3 {db}.recovered" in last
    assert mirror.article_pages() == []
    assert db.read_bytes() == bytes(data)


def test_an_archive_path_that_cannot_be_created_is_refused_in_one_line(mirror, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    run = crawl(mirror, tmp_path / "file" / "sub" / "dw.db", "-a", "lang=en")
    assert run.returncode == 3
    last = run.stderr.strip().splitlines()[-1]
    # A bad setting naming why, as WARC_DIR's (was "…: Not a directory" once the archive was
    # opened; tester try26, item 8).
    assert last == (f"dw crawl failed: bad setting: ARCHIVE_PATH={tmp_path / 'file' / 'sub' / 'dw.db'}"
                    f" cannot be made: {tmp_path / 'file'} is a regular file, so no folder can be made"
                    " under it; give the archive's file in a folder"), last
    assert mirror.article_pages() == []
