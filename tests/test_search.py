"""The search index (crawler/search.py): folding per script, queries, stems, highlights, and the
table in a real archive."""

from __future__ import annotations

import pytest

from crawler import search
from crawler.archive import Archive


# (typed, as printed): each pair must fold alike, in index and query.
@pytest.mark.parametrize("typed,written", [
    # Arabic
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
    # Persian, Dari, Urdu, Pashto keyboards
    ("كتاب", "کتاب"),  # Arabic kaf for keheh
    ("ايران", "ایران"),  # Arabic yeh for Farsi yeh
    ("رئيس", "رئیس"),
    ("خانه", "خانۀ"),  # heh with yeh above (ezafe)
    ("پاكستان", "پاکستان"),
    ("گروه", "گروہ"),  # Urdu heh goal
    ("بهارت", "بھارت"),  # Urdu do-chashmi heh
    ("هي", "ہے"),  # Urdu yeh barree
    ("ژوندي", "ژوندی"), ("ملي", "ملې"),  # Pashto yeh forms
    ("میخواهد", "می\u200cخواهد"),  # without the half-space (ZWNJ)
    ("هستهای", "هسته\u200cای"),
    ("2026", "۲۰۲۶"), ("2026", "٢٠٢٦"),  # Persian and Arabic-Indic digits
    # Indic
    ("র্যাব", "র\u200d্যাব"),  # Bengali without the ZWJ
    ("2026", "২০২৬"), ("2026", "२०२६"),
    # Cyrillic
    ("елка", "ёлка"), ("Елка", "ЁЛКА"), ("Новое", "новое"),
    # Greek
    ("αθηνα", "Αθήνα"), ("σοφος", "σοφός"), ("ΣΟΦΟΣ", "σοφός"), ("Ελλαδα", "ΕΛΛΆΔΑ"),
    # Turkish dotted and dotless i, both cases
    ("istanbul", "İstanbul"), ("ISIK", "ışık"), ("Işık", "isik"), ("İSTANBUL", "istanbul"),
    # Latin letters that do not decompose, and those that do
    ("lodz", "Łódź"), ("Dakovic", "Đaković"), ("oresund", "Øresund"), ("aeble", "Æble"),
    ("strasse", "Straße"), ("STRASSE", "straße"), ("oeuvre", "Œuvre"),
    ("barna", "ɓarna"), ("dan", "ɗan"), ("kasa", "ƙasa"),  # Hausa hooked letters
    ("lokfuhrer", "Lokführer"), ("sao paulo", "São Paulo"), ("cafe", "Café"),
    ("Tesla", "Ｔｅｓｌａ"),  # full-width
    # Chinese: traditional and simplified fold alike
    ("德国", "德國"), ("关税", "關稅"), ("习近平", "習近平"), ("台湾", "臺灣"),
])
def test_forms_fold_alike(typed, written):
    assert search.fold(typed) == search.fold(written)


@pytest.mark.parametrize("one,other", [
    ("طالب", "طلاب"),  # singular and broken plural: no Arabic stemmer in fold
    ("ban", "bán"),  # only a folded search: the index text is the same, fold is not a filter
])
def test_fold_is_not_a_stemmer(one, other):
    assert (search.fold(one) == search.fold(other)) == (one == "ban")


def test_known_limit_a_word_beginning_with_al_loses_it_like_the_article():
    assert search.fold("الله") == search.fold("له")


def test_chinese_is_one_token_per_character_and_latin_inside_it_stays_a_word():
    assert search.fold("德國總理默茨，Tesla特斯拉") == "德 国 总 理 默 茨,tesla 特 斯 拉"


def test_indic_words_keep_their_vowel_signs_and_viramas():
    for word in ("किताब", "पढ़ो", "সদস্যদের"):
        assert search.fold(word) == word


@pytest.mark.parametrize("typed,expression", [
    ("Reuters AFP", '"reuters" AND "afp"'),
    ('"climate target" EU', '"climate target" AND "eu"'),
    ('"unbalanced', '"unbalanced"'),
    ("Bayern OR Dortmund", '"bayern" AND "or" AND "dortmund"'),  # operators are words
    ("الأزمة في السودان", '"ازمه" AND "في" AND "سودان"'),
    ("北京 習近平", '"北 京" AND "习 近 平"'),  # a Chinese word: the phrase of its characters
    ("al-Assad", '"al assad"'),
    ("  ", ""), ('""', ""), ("- …", ""),
])
def test_match_query_without_stems(typed, expression):
    assert search.match_query(typed, stems=False) == expression


def test_a_quoted_phrase_is_matched_in_the_text_columns_only_and_never_stemmed():
    assert search.match_query('"climate strikes"') == (
        '{title teaser body credit_line authors agencies}: "climate strikes"')


def test_a_word_matches_its_stem_only_in_articles_of_the_stemmers_language():
    got = search.match_query("striking")
    assert got.startswith('("striking" OR ("strike" AND forms: ("\ue000english")')
    assert search.match_query("striking", ["en"]) == '("striking" OR ("strike" AND forms: ("\ue000english")))'
    assert search.match_query("striking", ["zh"]) == '"striking"'
    assert search.match_query("striking", stems=False) == '"striking"'


def test_forms_hold_stems_not_in_the_text_joiner_parts_and_umlaut_spellings():
    row = search.search_row({"language": "de", "title": "Wahlen in München", "body": "Die Wahl"})
    assert row["forms"].split() == ["\ue000german", "muenchen", "munch"]  # wahl: a word already
    row = search.search_row({"language": "fa-ir", "title": "ایران می\u200cخواهد"})
    assert {"مي", "خواهد"} <= set(row["forms"].split())
    assert search.search_row({"language": "zh", "title": "德国"})["forms"] == ""


@pytest.mark.parametrize("text,typed,language,marked", [
    ("Workers went on strike; strikes spread.", "striking", "en", ["strike", "strikes"]),
    ("Workers went on strike; strikes spread.", '"strike"', "en", ["strike"]),
    ("Die Wahlen in München", "wahl munchen", "de", ["Wahlen", "München"]),
    ("德國總理默茨週三抵達北京，Tesla特斯拉", "德国 北京 tesla", "zh-hant", ["德國", "北京", "Tesla"]),
    ("ایران می\u200cخواهد", "میخواهد", "fa-ir", ["می\u200cخواهد"]),
    ("Αθήνα και Θεσσαλονίκη", "αθηνα", "el", ["Αθήνα"]),
    ("Nothing here", "absent", "en", []),
])
def test_spans_mark_what_the_query_finds_in_the_stored_text(text, typed, language, marked):
    assert [text[a:b] for a, b in search.spans(text, typed, language)] == marked


def test_snippet_is_cut_from_the_stored_text_around_the_first_match():
    text = " ".join(f"word{n}" for n in range(100)) + " Lokführer streiken"
    got = search.snippet(text, "lokfuhrer", "de")
    assert got.startswith("…") and "[Lokführer] streiken" in got and len(got) < 200
    assert search.snippet(text, "absent", "de") is None


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
