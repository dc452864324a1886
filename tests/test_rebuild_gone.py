"""`gone_articles` rebuilt from captures (crawler/warc/reextract.py `GoneLog`, `remember_gone`;
crawler/archive/gone.py `record_captured`): what each exchange says, by its request record,
and the crawl's rule applied run by run, on a real SQLite archive. The crawl's archive and one
rebuilt from its WARCs are compared in tests/test_rebuild.py."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from crawler.archive import Archive, gone
from crawler.warc.read import Entry
from crawler.warc.reextract import GoneLog, capture_run, remember_gone
from tests.conftest import ROOT

URL = "https://www.dw.com/en/some-story/a-{}"
SEED = (ROOT / "data" / "sample-site" / "en" / "syrian-activists-hezobollah-fighters-killed-in-siege"
        / "a-16825046.html")


def day(n: int) -> str:
    return f"2026-01-{n:02d}T00:00:00Z"


def exchange(article: int, status: int, at: str, asked: dict | None, kind: str = "response",
             truncated: str = "") -> tuple[Entry, Entry]:
    """A response (or revisit) record of the article's page and its request record."""
    response = Entry("a.warc.gz", 0, kind, URL.format(article), at, status, truncated=truncated,
                     record_id="<urn:uuid:1>")
    request = Entry("a.warc.gz", 10, "request", URL.format(article), at, concurrent_to="<urn:uuid:1>",
                    asked=json.dumps(asked) if asked is not None else "")
    return response, request


def asked(article: int, source: str = "articles") -> dict:
    return {"source": source, "article": article, "url": URL.format(article)}


@pytest.mark.parametrize(("status", "kind", "what", "truncated", "found", "answers", "unknown"), [
    (404, "response", asked(1), "", {1}, 0, 0),
    (410, "response", asked(1, "feeds"), "", {1}, 0, 0),
    (404, "response", asked(1, "revisits"), "", {1}, 0, 0),  # a revisit of the archive's own
    (404, "response", asked(1, "urls"), "", set(), 0, 0),  # the operator named it: a failure
    (404, "response", asked(1, "short_links"), "", set(), 0, 0),
    (404, "response", None, "", set(), 0, 1),  # a WARC that does not say: not taken as gone
    (404, "response", "not json", "", set(), 0, 1),
    (404, "response", {"source": "articles"}, "", set(), 0, 0),  # a listing's own request
    (500, "response", asked(1), "", set(), 0, 0),  # a failure, not gone
    (200, "response", asked(1), "", set(), 1, 0),
    (200, "response", asked(1), "disconnect", set(), 0, 0),  # cut short: failed, retried
    (304, "revisit", asked(1), "", set(), 1, 0),
    (301, "response", asked(1), "", set(), 0, 0),  # a redirect: its end answers
])
def test_an_exchange_says_what_its_request_record_asked(status, kind, what, truncated, found, answers,
                                                         unknown):
    log = GoneLog(set())
    response, request = exchange(1, status, day(1), None if what is None else {}, kind, truncated)
    if what is not None:
        request = Entry(**{**request.__dict__, "asked": what if isinstance(what, str) else json.dumps(what)})
    log.note("run", response, request, response.uri)
    (seen,) = log.runs.values()
    assert set(seen.gone) == found and seen.answers == answers and seen.unknown == unknown
    if found:
        assert seen.gone[1] == gone.Gone(1, URL.format(1), status, day(1))


@pytest.fixture
def archive(tmp_path):
    archive = Archive(tmp_path / "dw.db")
    yield archive
    archive.close()


def replay(archive: Archive, *runs: list[tuple[int, int, str, str]]) -> Counter:
    """Each run: (article, status, date, source) of its exchanges; `remember_gone` over them."""
    log = GoneLog(set(gone.load(archive.db.conn)))
    for number, run in enumerate(runs):
        for article, status, at, source in run:
            response, request = exchange(article, status, at, asked(article, source),
                                         "revisit" if status == 304 else "response")
            log.note(f"run{number}", response, request, response.uri)
    counts = Counter()
    remember_gone(archive, log, counts)
    return counts


def rows(archive: Archive) -> list[tuple]:
    return archive.db.execute("SELECT id, status, first_gone_at, checked_at FROM gone_articles"
                              " ORDER BY id").fetchall()


def test_a_run_in_which_some_article_page_answered_remembers_its_gone(archive):
    counts = replay(archive, [(1, 404, day(1), "articles"), (2, 200, day(1), "news")])
    assert rows(archive) == [(1, 404, day(1), day(1))]
    assert counts == {"gone": 1, "gone_remembered": 1}


def test_a_run_in_which_no_article_page_answered_remembers_nothing(archive):
    """As the crawl: every page 404 may be the wrong site or a broken route."""
    counts = replay(archive, [(1, 404, day(1), "articles"), (2, 410, day(1), "feeds")])
    assert rows(archive) == []
    assert counts == {"gone": 2, "gone_not_remembered": 2}


def test_runs_apply_in_order_first_check_kept_and_an_answer_forgets(archive):
    counts = replay(archive,
                    [(1, 404, day(1), "articles"), (2, 404, day(1), "articles"),
                     (3, 200, day(1), "articles")],
                    [(1, 404, day(5), "articles"), (2, 200, day(5), "articles")])
    assert rows(archive) == [(1, 404, day(1), day(5))]
    assert counts["gone"] == 3


def test_captures_older_than_what_the_archive_knows_never_undo_it(archive):
    """A re-read in place of an earlier run's captures: an answer before the archive's check of
    a gone article does not forget it; a 404 before the article's last sighting is not written."""
    from crawler.extract import extract

    gone.record(archive.db.conn, [gone.Gone(1, URL.format(1), 404, day(9))], [])
    article = {**extract(SEED.read_bytes()).to_dict(), "fetched_at": day(9)}
    archive.write_batch([article], cause="crawl")
    counts = replay(archive, [(1, 200, day(2), "articles"), (article["id"], 404, day(3), "articles"),
                              (4, 200, day(3), "articles")])
    assert rows(archive) == [(1, 404, day(9), day(9))]
    assert counts == {"gone": 1}


def test_a_run_is_named_by_the_file_name_its_warcinfo_gives(tmp_path):
    from crawler.warc.capture import WarcFiles

    files = WarcFiles(tmp_path, 1, {"software": "test"})
    files.append([])
    files.append([])  # rotated: the run's second file
    files.close()
    first, second = sorted(tmp_path.glob("*.warc.gz"))
    renamed = first.rename(tmp_path / "renamed.warc.gz")
    assert capture_run(renamed) == capture_run(second) == second.name.removesuffix("-00002.warc.gz")
    other = tmp_path / "other.warc.gz"
    other.write_bytes(b"not a WARC")
    assert capture_run(other) == "other.warc.gz"
