"""The search index (crawler/search.py): Arabic folding, queries, and the table in a real archive."""

from __future__ import annotations

import pytest

from crawler import search
from crawler.archive import Archive


@pytest.mark.parametrize("typed,written", [
    ("سودان", "السودان"),  # without the article
    ("سودان", "والسودان"),  # and the Sudan
    ("سودان", "بالسودان"),  # in the Sudan
    ("طلاب", "للطلاب"),  # for the students (ل + ال)
    ("المانيا", "ألمانيا"),  # hamza on alef written bare
    ("اسلام", "إسلام"),  # hamza under alef
    ("اسيا", "آسيا"),  # madda
    ("مدرسه", "مدرسة"),  # ta marbuta
    ("مستشفي", "مستشفى"),  # alef maksura
    ("مسوول", "مسؤول"),  # hamza on waw
    ("مدرسة", "مُدَرِّسَةٌ"),  # harakat and shadda
    ("القاهرة", "القاهـــرة"),  # tatweel
    ("لا", "\ufefb"),  # a presentation form (lam-alef ligature)
])
def test_arabic_forms_fold_alike(typed, written):
    assert search.fold(typed) == search.fold(written)


@pytest.mark.parametrize("text", ["Lokführer streiken erneut", "Reuters, AFP", "COP31 — São Paulo"])
def test_other_scripts_are_left_to_the_tokenizer(text):
    assert search.fold(text) == text


def test_known_limit_no_stemming():
    assert search.fold("طالب") != search.fold("طلاب")  # singular and broken plural


def test_known_limit_a_word_beginning_with_al_loses_it_like_the_article():
    assert search.fold("الله") == search.fold("له")


@pytest.mark.parametrize("typed,expression", [
    ("Reuters AFP", '"Reuters" "AFP"'),
    ('"climate target" EU', '"climate target" "EU"'),
    ('"unbalanced', '"unbalanced"'),
    ("Bayern OR Dortmund", '"Bayern" "OR" "Dortmund"'),
    ("الأزمة في السودان", '"ازمه" "في" "سودان"'),
    ("  ", ""),
])
def test_match_query(typed, expression):
    assert search.match_query(typed) == expression


ARTICLES = [
    {"id": 1, "url": "https://www.dw.com/ar/x/a-1", "title": "قمة عربية طارئة لبحث الأزمة في السودان",
     "teaser": "", "body": "", "credit_line": "ع.ش/ ح.ز (رويترز، أ ف ب)", "authors": [],
     "agencies": ["Reuters", "AFP"]},
    {"id": 2, "url": "https://www.dw.com/de/x/a-2", "title": "Lokführer streiken erneut",
     "teaser": "Der Ausstand trifft Pendler", "body": "Mehr dazu.", "credit_line": "jj/kle (afp, rtr)",
     "authors": ["Anna Weber"], "agencies": ["AFP", "Reuters"]},
    {"id": 3, "url": "https://www.dw.com/en/x/a-3", "title": "Pope calls for ceasefire in Sudan",
     "teaser": "", "body": "The Pope spoke on Sunday.", "credit_line": "kle/jj (kna, dpa)",
     "authors": [], "agencies": ["KNA", "dpa"]},
]


@pytest.fixture
def archive(tmp_path):
    archive = Archive(tmp_path / "dw.db")
    archive.write_batch([dict(a) for a in ARTICLES])
    yield archive
    archive.close()


def found(archive: Archive, typed: str) -> list[int]:
    return [row[0] for row in archive.db.execute(
        f"SELECT rowid FROM {search.TABLE} WHERE {search.TABLE} MATCH ? ORDER BY rowid",
        [search.match_query(typed)])]


@pytest.mark.parametrize("typed,ids", [
    ("ازمة", [1]), ("سودان", [1]), ("Sudan", [3]),
    ("Reuters", [1, 2]),  # printed رويترز and rtr
    ("Agence France-Presse", [1, 2]), ("Katholische", [3]),
    ("lokfuhrer", [2]), ("Ausstand", [2]), ("anna weber", [2]), ("kle", [2, 3]),
    ("Berlin", []),
])
def test_archive_writes_the_search_row_with_each_article(archive, typed, ids):
    assert found(archive, typed) == ids


def test_an_edited_article_is_found_by_its_new_words_only(archive):
    archive.write_batch([dict(ARTICLES[2], title="Pope calls for peace in Sudan")])
    assert found(archive, "ceasefire") == [] and found(archive, "peace") == [3]
    assert archive.db.execute(f"SELECT count(*) FROM {search.TABLE}").fetchone()[0] == 3


def test_an_archive_made_without_the_table_or_with_an_older_one_is_indexed_on_opening(archive):
    path = archive.path
    archive.db.execute(f"DROP TABLE {search.TABLE}")
    archive.close()
    reopened = Archive(path)
    assert found(reopened, "Reuters") == [1, 2]
    reopened.db.execute(f"DROP TABLE {search.TABLE}")
    reopened.db.execute(f"CREATE VIRTUAL TABLE {search.TABLE} USING fts5(title, body)")
    reopened.close()
    again = Archive(path)
    assert [c[1] for c in again.db.execute(f"PRAGMA table_info({search.TABLE})")] == list(search.COLUMNS)
    assert found(again, "سودان") == [1]
    again.close()


def test_rows_written_around_the_archive_are_found_after_a_rebuild(archive):
    archive.db.execute("INSERT INTO articles (id, url, title, body, agencies, authors)"
                       " VALUES (4, 'https://www.dw.com/en/x/a-4', 'By raw SQL', 'Qusair', '[]', '[]')")
    assert found(archive, "Qusair") == []
    assert search.rebuild(archive.db) == 4
    assert found(archive, "Qusair") == [4]
