"""A search's cost is bounded whatever is typed (#27): through datasette's own client with the
project's views, on an archive whose matched articles hold long texts of repeated words.

A search of 1,000 repeated words took 76 s of Python work (finding the words in each matched
article's text, once per query word) in datasette's event loop, and every other request waited
that long. Now a search reads its first `MAX_QUERY_WORDS` words, says so on the page, and finds
them in one pass over the text.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from urllib.parse import quote

import pytest
from sqlite_utils import Database

from crawler import search
from tests.datasette_archive import close_datasette, datasette_for, edited_archive

# Words repeated in the long texts: the searches below match them all.
WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "and"]
# A bound for each page, for a busy machine three times slower: each takes about 1 s here.
PAGE_SECONDS = 15
# The plain request made while the searches run: about as long as one search's slice of the
# loop here; before, as long as the whole search (76 s).
BESIDE_SECONDS = 10


@pytest.fixture(scope="module")
def long_texts(tmp_path_factory):
    db = tmp_path_factory.mktemp("search-cost") / "dw.db"
    shutil.copy(edited_archive(tmp_path_factory)[0], db)
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM articles WHERE language = 'en' LIMIT 4")]
        body = " ".join(WORDS[n % len(WORDS)] for n in range(60_000))  # 60,000 words, 300 KB
        conn.executemany("UPDATE articles SET body = ? WHERE id = ?", [(body, i) for i in ids])
        other = conn.execute(f"SELECT id FROM articles WHERE id NOT IN ({','.join('?' * len(ids))})"
                             " LIMIT 1", ids).fetchone()[0]
    search.rebuild(Database(db))
    return db, ids, other


def timed_pages(db, paths: list[str], beside: str, delay: float = 0.3):
    """Each of `paths` and, `delay` seconds after they start, `beside`, all at once through one
    datasette: (path, status, text, seconds) of each, `beside` last."""
    async def run():
        ds = datasette_for(db)
        try:
            await ds.invoke_startup()

            async def one(path: str, wait: float = 0.0):
                await asyncio.sleep(wait)
                started = time.monotonic()
                response = await ds.client.get(path)
                return path, response.status_code, response.text, time.monotonic() - started
            return await asyncio.gather(*(one(p) for p in paths), one(beside, delay))
        finally:
            close_datasette(ds)
    return asyncio.run(run())


def test_the_query_is_cut_at_its_64th_word_whatever_the_script():
    assert search.searched("the " * 64) == ("the " * 64, False)
    assert search.searched("the " * 65) == ("the " * 64, True)
    assert search.searched("中" * 70) == ("中" * 64, True)  # a Han character is a word
    assert search.searched('"' + "a* " * 500 + '"') == ('"' + "a* " * 64, True)
    assert search.searched("x" * 5000 + " the")[1]  # past the characters read
    assert search.match_query("the " * 3000) == search.match_query("the " * 64)


def test_spans_are_found_in_one_pass_whatever_the_query():
    text = " ".join(WORDS[n % len(WORDS)] for n in range(60_000))
    started = time.process_time()
    found = search.spans(text, '"the cat" ' + "the " * 3000, "en")
    assert time.process_time() - started < 5  # 38 s for two such texts before, at 300 words
    assert len(found) == 60_000 // len(WORDS) * 2  # every "the" and every "cat", nothing else
    assert {text[a:b] for a, b in found} == {"the", "cat"}


def test_long_searches_answer_in_time_say_what_was_searched_and_block_no_one(long_testimony):
    results = long_testimony
    *searches, beside = results
    for path, status, text, seconds in searches:
        assert status == 200, (path, text[:500])
        assert seconds < PAGE_SECONDS, (path, seconds)
        assert "Only the first 64 words of a search are searched" in text, path
    # The ranked list shows the long articles with the words found in them.
    assert searches[0][2].count("<mark>the</mark>") >= 4
    path, status, text, seconds = beside
    assert status == 200 and seconds < BESIDE_SECONDS, (path, seconds)


@pytest.fixture(scope="module")
def long_testimony(long_texts):
    db, ids, other = long_texts
    name = db.stem
    return timed_pages(db, [f"/{name}/articles?_search={quote('the ' * 3000)}",
                            f"/{name}/articles?_search={quote('a* ' * 500)}",
                            f"/{name}/search?q={quote('the ' * 1000)}"],
                       f"/{name}/articles/{other}")
