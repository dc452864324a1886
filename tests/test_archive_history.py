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


def test_rereading_the_capture_of_the_stored_version_is_a_reading_not_an_older_fetch(archive):
    where = {"warc_file": "/x/dw-1.warc.gz", "warc_offset": 1234}
    archive.write_batch([version("Read badly", day(3), **where)])
    archive.write_batch([version("Read badly", day(7))])  # seen again, unchanged, later
    counts = archive.write_batch([version("Read well", day(3), **where)], cause="reextract")
    assert counts["updated"] == 1
    revisions, row = timeline(archive)
    assert row["title"] == "Read well" and row["last_seen_at"] == day(7)
    assert revisions == [("Read badly", day(3), "reextract")]


# -- the invariants, over fetches in any order -------------------------------------------------

fetches = st.lists(st.tuples(st.integers(1, 28), st.sampled_from("ABC")), min_size=1, max_size=7,
                   unique_by=lambda fetch: fetch[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fetches=fetches, order=st.randoms(use_true_random=False))
def test_any_order_of_fetches_keeps_the_newest_current_and_every_content_in_time(tmp_path, fetches, order):
    applied = list(fetches)
    order.shuffle(applied)
    archive = Archive(tmp_path / f"h{abs(hash(tuple(applied)))}.db")
    try:
        for at, title in applied:
            archive.write_batch([version(title, day(at))])
        revisions, row = timeline(archive)
    finally:
        archive.close()
    newest = max(fetches)
    assert row["title"] == newest[1]
    assert (row["first_seen_at"], row["last_seen_at"]) == (day(min(fetches)[0]), day(newest[0]))
    seen = [s for _, s, _ in revisions]
    assert seen == sorted(seen) and all(row["first_seen_at"] <= s <= row["last_seen_at"] for s in seen)
    titles = [t for t, _, _ in revisions] + [row["title"]]
    assert set(titles) == {title for _, title in fetches}  # no content lost, none made up
    assert all(a != b for a, b in zip(titles, titles[1:], strict=False))  # each step is a change
    if applied == sorted(fetches):  # in time order: exactly the history as it happened
        expected = [title for i, (_, title) in enumerate(sorted(fetches))
                    if i == 0 or title != sorted(fetches)[i - 1][1]]
        assert titles == expected
