"""The archive and the pipelines on a temporary database."""

from __future__ import annotations

import json
import sqlite3
import unicodedata

import pytest
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler import search as search_index
from crawler.archive import Archive, ArchiveExtension, Fetched
from crawler.extract import extract
from crawler.extract.normalize import normalize
from crawler.items import Article
from pipelines import ArchivePipeline, NormalizePipeline
from tests.conftest import ROOT, project_crawler

SITE = ROOT / "data" / "sample-site"


def sample(path: str) -> Article:
    return extract((SITE / path).read_bytes())


SEED = "en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046.html"
GERMAN = "de/lokfuehrer-streiken-erneut/a-79020002.html"
ARABIC = "ar/ألمانيا-تستقبل-طلاب-من-سوريا/a-79030003.html"


def as_row(article: Article) -> dict:
    adapter = ItemAdapter(article)
    normalize(adapter)
    return adapter.asdict()


@pytest.fixture
def archive(tmp_path):
    archive = Archive(tmp_path / "sub" / "dw.db")
    yield archive
    archive.close()


def test_schema_is_created_twice_without_error(tmp_path):
    first = Archive(tmp_path / "dw.db")
    tables = set(first.db.table_names())
    first.close()
    second = Archive(tmp_path / "dw.db")
    assert set(second.db.table_names()) == tables
    assert {"articles", "agencies", "article_agencies", "authors", "article_authors", "images",
            "short_links", "revisions", "articles_search", "crawl_runs"} <= tables
    assert second.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert second.check() == []


def test_same_article_twice_is_one_row_and_no_revision(archive):
    row = as_row(sample(SEED))
    assert archive.write_batch([row])["new"] == 1
    assert archive.write_batch([row])["unchanged"] == 1
    assert archive.count("articles") == 1
    assert archive.count("revisions") == 0


def test_changed_article_is_one_row_plus_one_revision(archive):
    first = as_row(sample(SEED))
    archive.write_batch([first])
    edited = dict(first, title="Hezbollah fighters die in siege of Qusair",
                  modified_at="2013-05-21T08:00:00Z")
    assert archive.write_batch([edited])["updated"] == 1
    assert archive.count("articles") == 1
    revision = next(archive.db["revisions"].rows)
    assert revision["title"] == "Hezbollah troops die in siege"
    assert json.loads(revision["changed"]) == ["title"]
    stored = archive.db["articles"].get(16825046)
    assert stored["title"] == "Hezbollah fighters die in siege of Qusair"
    assert stored["first_seen_at"] <= stored["last_seen_at"]


def test_whitespace_and_tracking_changes_are_not_changes(archive):
    archive.write_batch([as_row(sample(SEED))])
    noisy = sample(SEED)
    noisy.title = "  Hezbollah\u00a0troops  die in\u200b siege "
    noisy.body = noisy.body.replace(". ", ".  ", 3)
    noisy.url += "?maca=en-rss-en-all-1573-rdf&at_medium=RSS"
    assert archive.write_batch([as_row(noisy)])["unchanged"] == 1
    assert archive.count("revisions") == 0


def test_seed_agency_tags(archive):
    archive.write_batch([as_row(sample(SEED))])
    tags = set(archive.db.execute(
        "SELECT agency, role FROM article_agencies WHERE article_id = 16825046").fetchall())
    assert tags == {("AP", "text"), ("AFP", "text"), ("Reuters", "text"), ("dpa", "text"),
                    ("AFP", "photo")}


def test_rearchiving_replaces_join_rows(archive):
    row = as_row(sample(SEED))
    archive.write_batch([row])
    archive.write_batch([dict(row, agencies=["Reuters"], authors=["Jane Doe"], images=[], photo_agencies=[])])
    tags = archive.db.execute("SELECT agency, role FROM article_agencies").fetchall()
    assert tags == [("Reuters", "text")]
    assert archive.db.execute("SELECT author FROM article_authors").fetchall() == [("Jane Doe",)]
    assert archive.count("images") == 0


def test_full_text_search_in_german_and_arabic(archive):
    archive.write_batch([as_row(sample(p)) for p in (SEED, GERMAN, ARABIC)])

    def search(word):
        return [r[0] for r in archive.db.execute(
            "SELECT rowid FROM articles_search WHERE articles_search MATCH ?",
            [search_index.match_query(word)])]

    assert search("Ausstand") == [79020002]  # a word of the German body only
    assert search("الجامعات") == [79030003]  # "the universities", in the Arabic body only
    assert search("Qusair") == [16825046]
    assert search("lokfuhrer") == [79020002]  # diacritics folded: not an English-only stemmer


def test_an_older_archive_loses_its_second_index_and_keeps_search(tmp_path):
    path = tmp_path / "old.db"
    Archive(path).write_batch([as_row(sample(GERMAN))])
    conn = sqlite3.connect(path)  # the index and triggers archives had before 2026-11-29
    conn.execute("CREATE VIRTUAL TABLE articles_fts USING fts5(title, teaser, body, content=articles)")
    conn.execute("CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN"
                 " INSERT INTO articles_fts (rowid, title) VALUES (new.rowid, new.title); END")
    conn.commit()
    conn.close()
    archive = Archive(path)
    names = {r[0] for r in archive.db.execute("SELECT name FROM sqlite_master")}
    assert not {n for n in names if n.startswith("articles_fts") or n == "articles_ai"}
    archive.write_batch([as_row(sample(SEED))])
    assert archive.count() == 2 and archive.check() == []
    found = archive.db.execute("SELECT rowid FROM articles_search WHERE articles_search MATCH ?",
                               [search_index.match_query("Ausstand")]).fetchall()
    assert found == [(79020002,)]


def test_marking_seen_or_new_validators_leave_the_search_index_alone(archive):
    row = as_row(sample(GERMAN))
    archive.write_batch([row])

    def index_rows():  # every FTS5 write adds or rewrites rows of its data table
        return archive.db.execute("SELECT id, block FROM articles_search_data").fetchall()

    before = index_rows()
    archive.write_batch([dict(row, etag='"v2"')])  # fetched again, unchanged
    archive.write_batch([], fetches=[Fetched(79020002, etag='"v3"', not_modified=True)])
    assert index_rows() == before
    archive.write_batch([dict(row, teaser="Ein neuer Vorspann")])  # content: indexed again
    assert index_rows() != before


def test_the_search_index_finds_the_same_after_merging(archive):
    pages = [SEED, GERMAN, ARABIC]
    for page in pages:  # one batch each: one segment each, automerge being off
        archive.write_batch([as_row(sample(page))])

    def hits(word):
        return archive.db.execute("SELECT rowid FROM articles_search WHERE articles_search MATCH ?"
                                  " ORDER BY rowid", [search_index.match_query(word)]).fetchall()

    words = ["Ausstand", "الجامعات", "Qusair", "Reuters"]
    found = {word: hits(word) for word in words}
    assert all(found.values())
    archive.merge_search_index()
    assert {word: hits(word) for word in words} == found
    assert archive.db.execute(
        "SELECT v FROM articles_search_config WHERE k = 'automerge'").fetchone() == (0,)


def test_archive_is_consistent_after_writes(archive):
    archive.write_batch([as_row(sample(p)) for p in (SEED, GERMAN, ARABIC)],
                        short_links=[("18axi", 16825046), ("zzzz", 123)])
    assert archive.check() == []
    links = archive.db.execute("SELECT code, article_id FROM short_links").fetchall()
    assert ("18axi", 16825046) in links
    assert not archive.has_short_link("zzzz")  # an unknown article gets no dangling link


@pytest.mark.parametrize("bad_id", [None, 0, 2**63, "16825046"])
def test_a_bad_article_is_refused_and_the_rest_of_its_batch_written(archive, bad_id):
    good = as_row(sample(SEED))
    bad = dict(as_row(sample(GERMAN)), id=bad_id)  # SQLite would invent a rowid for None
    counts = archive.write_batch([bad, good])
    assert counts["refused"] == 1 and counts["new"] == 1
    assert archive.count("articles") == 1
    assert {row[0] for row in archive.db.execute("SELECT article_id FROM article_agencies")} == {good["id"]}


# -- the pipelines ----------------------------------------------------------------------------

@pytest.fixture
def crawler(tmp_path):
    crawler = project_crawler(ARCHIVE_PATH=str(tmp_path / "dw.db"), ARCHIVE_BATCH_SIZE=2,
                              EXTENSIONS={"crawler.archive.ArchiveExtension": 100})
    crawler.stats.open_spider()
    return crawler


def test_normalize_cleans_fields(crawler):
    article = sample(SEED)
    article.title = unicodedata.normalize("NFD", "Café\u200b  crème\u00a0") + " "
    article.agencies = ["rtr", "afp", "AP", "DPA", "Tanjug", "kna", "efe"]
    article.authors = ["Anna Weber", "Anna Weber", "Deutsche Welle", "dpa"]
    article.published_at = "2024-01-30T15:13:12.269+01:00"
    article.url = "https://dw.com/en/x/a-16825046?maca=en-rss&at_medium=x"
    article.normalized, article.unknown_agencies = normalize(article)  # as extract() does
    NormalizePipeline.from_crawler(crawler).process_item(article)
    assert article.title == "Café crème" and unicodedata.is_normalized("NFC", article.title)
    assert article.agencies == ["Reuters", "AFP", "AP", "dpa", "Tanjug", "KNA", "EFE"]
    assert crawler.stats.get_value("agencies/unknown") == 1
    assert article.authors == ["Anna Weber"]
    assert article.published_at == "2024-01-30T14:13:12Z"
    assert article.url == "https://www.dw.com/en/x/a-16825046"


@pytest.mark.parametrize("field", ["id", "url", "title"])
def test_normalize_drops_articles_missing_required_fields(crawler, field):
    article = sample(SEED)
    setattr(article, field, None)
    with pytest.raises(DropItem):
        NormalizePipeline.from_crawler(crawler).process_item(article)
    assert crawler.stats.get_value(f"dw/dropped/missing_{field}") == 1


def test_repeats_within_a_run_are_deduplicated_by_the_archive(archive):
    # One home for deduplication: the archive's in-transaction decision, within a batch too.
    first, again = as_row(sample(SEED)), as_row(sample(SEED))
    changed = as_row(sample(SEED))
    changed["teaser"] = "A new teaser"
    counts = archive.write_batch([first, again, changed])
    assert (counts["new"], counts["unchanged"], counts["updated"]) == (1, 1, 1)
    assert archive.count("articles") == 1
    assert archive.db["articles"].get(16825046)["teaser"] == "A new teaser"  # a new version goes on
    assert archive.count("revisions") == 1


def test_archive_pipeline_writes_in_batches_and_on_close(crawler, tmp_path):
    pipeline = ArchivePipeline.from_crawler(crawler)
    pipeline.open_spider()
    for path in (SEED, GERMAN, ARABIC):
        pipeline.process_item(sample(path))
    extension = crawler.get_extension(ArchiveExtension)
    extension.record_short_link("018axi", 16825046)
    extension.written()  # the batches handed to the writer's thread are written (not the buffer)
    reader = Archive(tmp_path / "dw.db")
    assert reader.count("articles") == 2  # one full batch of two is written, one waits
    pipeline.close_spider()
    assert reader.count("articles") == 3
    assert reader.has_short_link("018axi")
    assert crawler.stats.get_value("dw/articles/new") == 3


def test_a_failed_batch_stops_writing_and_every_article_after_it_is_counted_not_stored(tmp_path):
    # The batches go to the writer's thread: the one that fails the disk is rolled back, nothing
    # after it is written, and every article handed over is either archived or counted failed:
    # those queued behind it, one still buffered when its failure came back, one handed after.
    path = tmp_path / "dw.db"
    Archive(path).close()
    pages = Archive(path).db.execute("PRAGMA page_count").fetchone()[0]
    crawler = project_crawler(ARCHIVE_PATH=str(path), ARCHIVE_BATCH_SIZE=2, ARCHIVE_MAX_PAGES=pages + 800,
                              EXTENSIONS={"crawler.archive.ArchiveExtension": 100})
    crawler.stats.open_spider()
    crawler.engine = crawler._create_engine()  # Scrapy's own, with no spider open: nothing to close
    pipeline = ArchivePipeline.from_crawler(crawler)
    pipeline.open_spider()
    extension = crawler.get_extension(ArchiveExtension)
    german = as_row(sample(GERMAN))
    small = [sample(SEED), sample(ARABIC)]
    huge = [Article(**dict(german, id=79020100 + n, body="Ausstand " * 300_000)) for n in range(2)]
    # Another connection holds the write lock: the writer's thread waits at the first batch
    # (within ARCHIVE_TIMEOUT) until all are handed over and one more article is buffered.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    for item in small + huge:  # a batch that fits, then one (5 MiB) that cannot
        pipeline.process_item(item)
    pipeline.process_item(sample(GERMAN))  # buffered
    holder.execute("COMMIT")
    holder.close()
    extension.written()  # the failure comes back while that one waits in the buffer
    assert extension.error and "database or disk is full" in extension.error
    assert len(extension.articles) == 1  # still buffered: the failure was collected, not submitted
    pipeline.process_item(Article(**dict(german, id=79020200)))  # handed over after the failure
    pipeline.close_spider()
    extension.close()
    stats = crawler.stats
    assert Archive(path).count("articles") == 2
    assert stats.get_value("dw/articles/new") == 2
    assert stats.get_value("dw/archive/failed_articles") == 4  # the failed batch of 2, then 1 and 1
    assert Archive(path).check() == []


def test_an_older_archive_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, url TEXT NOT NULL, title TEXT)")
    old.execute("INSERT INTO articles VALUES (16825046, 'https://www.dw.com/en/x/a-16825046', 'Old')")
    old.execute("CREATE TABLE crawl_runs (id INTEGER PRIMARY KEY, started_at TEXT)")
    old.commit()
    old.close()
    archive = Archive(path)
    assert {"etag", "content_hash", "last_seen_at"} <= set(archive.db["articles"].columns_dict)
    assert "not_modified" in archive.db["crawl_runs"].columns_dict
    assert archive.db["articles"].get(16825046)["title"] == "Old"
    assert archive.check() == []


def test_a_full_disk_mid_batch_reports_the_real_error_and_keeps_the_archive(tmp_path):
    path = tmp_path / "dw.db"
    archive = Archive(path)
    archive.write_batch([as_row(sample(SEED))])
    archive.close()
    pages = Archive(path).db.execute("PRAGMA page_count").fetchone()[0]
    # Room for more than SQLite's page cache (2 MiB) but not for the batch (5 MiB): the disk
    # fills while dirty pages spill, where SQLite rolls the whole transaction back itself.
    full = Archive(path, max_pages=pages + 800)
    rows = [dict(as_row(sample(GERMAN)), id=79020002 + n, body="Ausstand " * 30000) for n in range(20)]
    for _ in range(3):  # whether SQLite rolls back by itself varies with the statement
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            full.write_batch(rows)
    assert full.count("articles") == 1
    assert not full.db.conn.in_transaction
    assert full.check() == []


def test_the_original_error_comes_out_when_sqlite_already_rolled_back(archive):
    # SQLite may end a transaction by itself on errors such as a full disk; the rollback
    # that follows must not replace the error that caused it.
    def work():
        archive.db.execute("ROLLBACK")  # as SQLite does on SQLITE_FULL while spilling
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        archive._in_transaction(work)
    assert not archive.db.conn.in_transaction


# -- one home per concern: whole revisions, atomic batches, a writer that derives nothing -------

EDITABLE = {  # every content field, and an edit of it alone
    "title": "Hezbollah fighters die in siege of Qusair",
    "teaser": "A new teaser",
    "body": "One paragraph.\n\nAnother paragraph.",
    "subheads": ["A new subhead"],
    "authors": ["Jane Doe"],
    "topics": ["Syria", "Lebanon"],
    "credit_line": "jd/ab (Reuters)",
    "agencies": ["Reuters"],
    "images": [{"url": "https://static.dw.com/image/1_6.jpg", "caption": "A street", "credit": "DW"}],
}


def test_every_content_field_is_editable_here():
    from crawler.archive import CONTENT_FIELDS

    assert set(EDITABLE) <= set(CONTENT_FIELDS)


@pytest.mark.parametrize("field", sorted(EDITABLE))
def test_a_revision_keeps_the_previous_value_of_a_field_edited_alone(archive, field):
    first = as_row(sample(SEED))
    archive.write_batch([first])
    assert archive.write_batch([dict(first, **{field: EDITABLE[field]})])["updated"] == 1
    revision = next(archive.db["revisions"].rows)
    assert json.loads(revision["changed"]) == [field]
    old = first[field]
    assert revision[field] == (json.dumps(old, ensure_ascii=False) if isinstance(old, list) else old)
    assert revision["title"] == "Hezbollah troops die in siege"  # and the rest of it, whole
    assert json.loads(revision["images"])[0]["credit"] == first["images"][0]["credit"]


def test_a_batch_failing_midway_leaves_nothing_written(archive):
    archive.write_batch([as_row(sample(GERMAN))])
    before = {t: archive.count(t) for t in ("articles", "revisions", "images", "article_agencies")}
    archive.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON images WHEN new.caption = 'boom'"
                       " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    edited = dict(as_row(sample(GERMAN)), title="Lokführer streiken wieder")
    bad = as_row(sample(SEED))
    bad["images"] = [dict(bad["images"][0], caption="boom")]
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        archive.write_batch([edited, bad])  # fails after both articles are upserted
    assert {t: archive.count(t) for t in before} == before
    assert archive.db["articles"].get(79020002)["title"] == "Lokführer streiken erneut"
    assert not archive.db.conn.in_transaction


def test_the_writer_stores_what_the_item_carries_and_derives_nothing(archive):
    row = as_row(sample(SEED))  # a short URL, and images credited to AFP
    archive.write_batch([dict(row, photo_agencies=[])])
    assert archive.count("short_links") == 0  # codes come from the spider, never parsed here
    roles = {r[0] for r in archive.db.execute("SELECT role FROM article_agencies")}
    assert roles == {"text"}


def test_content_hashes_stored_by_earlier_versions_stay_valid():
    import hashlib

    from crawler.archive import CONTENT_FIELDS, content_hash

    first_fields = ("title", "teaser", "body", "subheads", "authors", "topics", "credit_line",
                    "agencies", "images")
    # The article as the first schema had it: any content field added since is empty.
    row = {name: value for name, value in as_row(sample(SEED)).items()
           if name in first_fields or name not in CONTENT_FIELDS}
    payload = json.dumps([row.get(f) for f in first_fields], ensure_ascii=False, sort_keys=True,
                         separators=(",", ":"))
    assert content_hash(row) == hashlib.sha256(payload.encode()).hexdigest()


def test_two_writers_on_one_archive_decide_against_what_it_holds(tmp_path):
    # Several workers, one archive: the verdict is taken inside each batch's write transaction,
    # so a second writer sees the first one's article and neither duplicates nor loses it.
    first, second = Archive(tmp_path / "dw.db"), Archive(tmp_path / "dw.db")
    row = as_row(sample(SEED))
    assert first.write_batch([row])["new"] == 1
    assert second.write_batch([row])["unchanged"] == 1
    assert second.write_batch([dict(row, teaser="A new teaser")])["updated"] == 1
    assert first.write_batch([row])["updated"] == 1  # the first writer's copy is now the edit
    assert first.count("articles") == 1 and first.count("revisions") == 2
    first.close()
    second.close()
