"""The archive never replaces a version with an older fetch (crawler/archive/store.py, history.py):
fetches written in any order, each with its capture time, on a real SQLite archive."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.archive import Archive
from crawler.extract import extract
from tests.conftest import ROOT

SEED = (ROOT / "data" / "sample-site" / "en" / "syrian-activists-hezobollah-fighters-killed-in-siege"
        / "a-16825046.html")
BASE = extract(SEED.read_bytes()).to_dict()


def version(title: str, at: str, **extra) -> dict:
    """The seed article with another headline, fetched at `at`."""
    return {**BASE, "title": title, "fetched_at": at, **extra}


def day(n: int) -> str:
    return f"2020-01-{n:02d}T00:00:00Z"


@pytest.fixture
def archive(tmp_path):
    archive = Archive(tmp_path / "dw.db")
    yield archive
    archive.close()


def timeline(archive: Archive) -> tuple[list[tuple[str, str, str]], dict]:
    """(title, seen_at, cause) of each revision in (seen_at, id) order, and the article row."""
    revisions = archive.db.execute("SELECT title, seen_at, cause FROM revisions"
                                   " ORDER BY seen_at, id").fetchall()
    return revisions, archive.db["articles"].get(BASE["id"])


def test_an_older_fetch_of_other_content_is_an_earlier_revision_not_the_article(archive):
    archive.write_batch([version("Newer", day(10))], cause="crawl")
    counts = archive.write_batch([version("Older", day(3))], cause="wayback")
    assert counts["earlier"] == 1 and counts["updated"] == 0
    revisions, row = timeline(archive)
    assert row["title"] == "Newer" and row["fetched_at"] == day(10)
    assert (row["first_seen_at"], row["last_seen_at"]) == (day(3), day(10))
    assert revisions == [("Older", day(10), "wayback")]


def test_a_newer_fetch_updates_and_keeps_the_old_version_with_its_capture(archive):
    archive.write_batch([version("First", day(3), warc_file="a.warc.gz", warc_offset=7)])
    counts = archive.write_batch([version("Second", day(5))], cause="commoncrawl")
    assert counts["updated"] == 1
    (revision,) = archive.db["revisions"].rows
    assert (revision["title"], revision["seen_at"], revision["cause"]) == ("First", day(5), "commoncrawl")
    assert (revision["fetched_at"], revision["warc_file"], revision["warc_offset"]) == (
        day(3), "a.warc.gz", 7)
    assert json.loads(revision["changed"]) == ["title"]


def test_an_older_fetch_of_the_same_content_moves_only_first_seen_back(archive):
    archive.write_batch([version("Same", day(10))])
    assert archive.write_batch([version("Same", day(2))])["unchanged"] == 1
    revisions, row = timeline(archive)
    assert revisions == [] and (row["first_seen_at"], row["last_seen_at"]) == (day(2), day(10))
    archive.write_batch([version("Same", day(6))])  # between: neither end moves
    assert (archive.db["articles"].get(BASE["id"])["first_seen_at"],
            archive.db["articles"].get(BASE["id"])["last_seen_at"]) == (day(2), day(10))


def test_an_older_fetch_between_two_versions_goes_between_them(archive):
    archive.write_batch([version("One", day(1))])
    archive.write_batch([version("Three", day(9))])
    archive.write_batch([version("Two", day(5))], cause="cc-news")
    revisions, row = timeline(archive)
    assert row["title"] == "Three"
    assert revisions == [("One", day(5), "crawl"), ("Two", day(9), "cc-news")]
    changed = [json.loads(c) for (c,) in archive.db.execute("SELECT changed FROM revisions ORDER BY seen_at")]
    assert changed == [["title"], ["title"]]


def test_an_edit_undone_between_two_sightings_is_kept_both_ways(archive):
    archive.write_batch([version("Kept", day(1))])
    archive.write_batch([version("Kept", day(9))])
    archive.write_batch([version("Briefly", day(5))], cause="wayback")
    revisions, row = timeline(archive)
    assert row["title"] == "Kept" and row["last_seen_at"] == day(9)
    assert revisions == [("Kept", day(5), "wayback"), ("Briefly", day(9), "wayback")]


def test_one_batch_holding_an_article_twice_in_either_order_ends_alike(tmp_path):
    results = []
    for order in ((day(2), day(8)), (day(8), day(2))):
        archive = Archive(tmp_path / f"{order[0]}.db")
        archive.write_batch([version(f"at {at}", at) for at in order])
        results.append(timeline(archive)[0] + [archive.db["articles"].get(BASE["id"])["title"]])
        archive.close()
    assert results[0] == results[1] == [(f"at {day(2)}", day(8), "crawl"), f"at {day(8)}"]


def test_a_304_older_than_the_last_sighting_does_not_move_it_back(archive):
    from crawler.archive import Fetched

    archive.write_batch([version("Same", day(10))])
    archive.write_batch([], fetches=[Fetched(BASE["id"], not_modified=True, fetched_at=day(4))])
    assert archive.db["articles"].get(BASE["id"])["last_seen_at"] == day(10)


# A 304 carries the current representation's validators (RFC 9110 §15.4.5, RFC 9111 §4.3.4):
# the archive keeps them for the next conditional request; a header the 304 did not send keeps
# the stored one; an answer older than the last sighting never replaces a later one's.
STORED = ('"v1"', "Mon, 06 Jan 2020 00:00:00 GMT")


@pytest.mark.parametrize(("etag", "last_modified", "at", "expected"), [
    ('"v2"', None, day(12), ('"v2"', STORED[1])),  # a new ETag, no Last-Modified sent
    (None, "Sun, 12 Jan 2020 00:00:00 GMT", day(12), (STORED[0], "Sun, 12 Jan 2020 00:00:00 GMT")),
    ('W/"v2"', "Sun, 12 Jan 2020 00:00:00 GMT", day(12), ('W/"v2"', "Sun, 12 Jan 2020 00:00:00 GMT")),
    (None, None, day(12), STORED),  # a 304 with no validators
    ('"v0"', "Fri, 03 Jan 2020 00:00:00 GMT", day(4), STORED),  # older than the last sighting
])
def test_a_304s_own_validators_are_kept_for_the_next_conditional_request(
        archive, etag, last_modified, at, expected):
    from crawler.archive import Fetched

    archive.write_batch([version("Same", day(10), etag=STORED[0], last_modified=STORED[1])])
    archive.write_batch([], fetches=[Fetched(BASE["id"], etag=etag, last_modified=last_modified,
                                             not_modified=True, fetched_at=at)])
    stored = archive.stored(BASE["id"])
    assert (stored.etag, stored.last_modified) == expected


def test_rereading_an_earlier_capture_keeps_a_later_304s_validators(archive):
    where = {"warc_file": "/x/dw-1.warc.gz", "warc_offset": 1234}
    from crawler.archive import Fetched

    archive.write_batch([version("Read badly", day(3), etag='"v1"', **where)])
    archive.write_batch([], fetches=[Fetched(BASE["id"], etag='"v2"', not_modified=True,
                                             fetched_at=day(7))])
    archive.write_batch([version("Read well", day(3), etag='"v1"', **where)], cause="reextract")
    assert archive.stored(BASE["id"]).etag == '"v2"'


def test_rereading_the_capture_of_the_stored_version_is_a_reading_not_an_older_fetch(archive):
    where = {"warc_file": "/x/dw-1.warc.gz", "warc_offset": 1234}
    archive.write_batch([version("Read badly", day(3), **where)])
    archive.write_batch([version("Read badly", day(7))])  # seen again, unchanged, later
    counts = archive.write_batch([version("Read well", day(3), **where)], cause="reextract")
    assert counts["updated"] == 1
    revisions, row = timeline(archive)
    assert row["title"] == "Read well" and row["last_seen_at"] == day(7)
    assert revisions == [("Read badly", day(3), "reextract")]


# -- what the tester found (tester-backfill.md 6, 7, 8) ---------------------------------------

def test_identical_fetches_in_one_batch_move_the_last_sighting(archive):
    counts = archive.write_batch([version("Same", day(2)), version("Same", day(20))])
    assert (counts["new"], counts["unchanged"]) == (1, 1)
    row = archive.db["articles"].get(BASE["id"])
    assert (row["first_seen_at"], row["last_seen_at"]) == (day(2), day(20))


def test_an_edit_undone_later_is_the_current_version_in_any_order(tmp_path):
    fetches = [("A", day(4)), ("B", day(5)), ("A", day(6))]
    for n, order in enumerate(([0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1])):
        archive = Archive(tmp_path / f"{n}.db")
        for i in order:
            archive.write_batch([version(*fetches[i])], cause="wayback")
        revisions, row = timeline(archive)
        archive.close()
        assert row["title"] == "A" and (row["first_seen_at"], row["last_seen_at"]) == (day(4), day(6))
        assert [(t, s) for t, s, _ in revisions] == [("A", day(5)), ("B", day(6))], order


def test_older_captures_learnt_after_a_newer_crawl_keep_their_own_capture(tmp_path):
    def capture(title, at, offset):
        return version(title, at, warc_file=f"/w/{offset}.warc.gz", warc_offset=offset)

    for n, order in enumerate(((1, 2), (2, 1))):
        archive = Archive(tmp_path / f"{n}.db")
        archive.write_batch([capture("V", day(25), 25)])  # the crawl
        older = {1: capture("V", day(1), 1), 2: capture("Edited", day(6), 6)}
        for which in order:
            archive.write_batch([older[which]], cause="wayback")
        rows = archive.db.execute("SELECT title, seen_at, fetched_at, warc_offset FROM revisions"
                                  " ORDER BY seen_at, id").fetchall()
        article = archive.db["articles"].get(BASE["id"])
        archive.close()
        assert rows == [("V", day(6), day(1), 1), ("Edited", day(25), day(6), 6)], order
        assert (article["title"], article["fetched_at"], article["warc_offset"]) == ("V", day(25), 25)
        assert (article["first_seen_at"], article["last_seen_at"]) == (day(1), day(25))


def test_an_archive_without_sightings_keeps_what_its_versions_prove(archive):
    archive.write_batch([version("One", day(1), warc_file="/w/a", warc_offset=1)])
    archive.write_batch([version("Two", day(9), warc_file="/w/b", warc_offset=9)])
    archive.db.execute("DELETE FROM sightings")  # as an archive made before they were kept
    archive.write_batch([version("Two", day(5))], cause="wayback")  # Two seen sooner
    archive.write_batch([version("Other", day(7))], cause="wayback")  # inside Two: Two resumes at 9
    revisions, row = timeline(archive)
    assert [(t, s) for t, s, _ in revisions] == [("One", day(5)), ("Two", day(7)), ("Other", day(9))]
    assert row["title"] == "Two" and (row["fetched_at"], row["warc_offset"]) == (day(9), 9)


# -- the invariants, over fetches in any order -------------------------------------------------

fetches = st.lists(st.tuples(st.integers(1, 28), st.sampled_from("ABC")), min_size=1, max_size=8,
                   unique_by=lambda fetch: fetch[0])


def folded(fetches: list[tuple[int, str]]) -> list[tuple[str, int]]:
    """The history the fetches make, told in time order: (content, day of its first fetch) of
    each run of equal content."""
    runs = []
    for at, title in sorted(fetches):
        if not runs or runs[-1][0] != title:
            runs.append((title, at))
    return runs


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fetches=fetches, order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(1, 7), max_size=3))
def test_any_order_and_batching_of_fetches_gives_the_history_in_time_order(tmp_path, fetches, order, cuts):
    applied = list(fetches)
    order.shuffle(applied)
    bounds = sorted({0, len(applied), *[c for c in cuts if c < len(applied)]})
    archive = Archive(tmp_path / f"h{abs(hash((tuple(applied), tuple(bounds))))}.db")
    try:
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            archive.write_batch([version(title, day(at), warc_file=f"/w/{at}.warc.gz", warc_offset=at)
                                 for at, title in applied[lo:hi]])
        revisions = archive.db.execute("SELECT title, seen_at, fetched_at, warc_offset FROM revisions"
                                       " ORDER BY seen_at, id").fetchall()
        row = archive.db["articles"].get(BASE["id"])
    finally:
        archive.close()
    runs = folded(fetches)
    # every version is one run of equal content, in time order, until the next run began,
    # each with the capture of its first fetch
    assert [(t, s) for t, s, _, _ in revisions] == [(t, day(runs[i + 1][1]))
                                                    for i, (t, _) in enumerate(runs[:-1])]
    assert [(f, o) for _, _, f, o in revisions] == [(day(at), at) for _, at in runs[:-1]]
    last, since = runs[-1]
    assert (row["title"], row["fetched_at"], row["warc_offset"]) == (last, day(since), since)
    assert (row["first_seen_at"], row["last_seen_at"]) == (day(min(fetches)[0]), day(max(fetches)[0]))
