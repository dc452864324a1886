"""Every DW language found as its readers type it: one crawl of a generated site with an article
in each of DW's 31 languages (tests/search/languages.json, real text), searched through datasette's
own client with the project's views: the list search (`?_search=`), the saved `search` query, the
ranked list's highlights, and the shell recipe (`python -m crawler.search ARCHIVE --search`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from urllib.parse import quote

import pytest

from crawler.dw import LANGUAGES
from devtools.sitegen import write_site
from tests.conftest import ROOT
from tests.crawling import crawl, served
from tests.datasette_archive import close_datasette, datasette_for

SPEC = json.loads((ROOT / "tests" / "search" / "languages.json").read_text(encoding="utf-8"))
ID = {article["language"]: article["id"] for article in SPEC["articles"]}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("languages")
    write_site(SPEC, folder / "site")
    with served(folder / "site", folder / "access.log") as mirror:
        run = crawl(mirror, folder / "dw.db", "-a", f"lang={','.join(LANGUAGES)}")
    assert run.returncode == 0, run.stderr[-2000:]
    return folder / "dw.db"


@pytest.fixture(scope="module")
def client(archive):
    loop = asyncio.new_event_loop()
    ds = datasette_for(archive)
    loop.run_until_complete(ds.invoke_startup())

    def get(path: str):
        response = loop.run_until_complete(ds.client.get(path))
        assert response.status_code == 200, response.text[:800]
        return response

    yield get
    close_datasette(ds)
    loop.close()


def found(client, typed: str) -> set[str]:
    """The languages of the articles datasette's list search finds for what was typed."""
    rows = client(f"/dw/articles.json?_search={quote(typed)}&_shape=array&_size=100").json()
    by_id = {v: k for k, v in ID.items()}
    return {by_id[row["id"]] for row in rows}


# One word of each article, typed as a reader of that service would (lower case, without
# the marks a keyboard may lack where the language has them).
WORD = {
    "sq": "pjesemarrja", "am": "ጀርመን", "ar": "سودان", "bn": "আদালত", "bs": "pogodeno",
    "bg": "еврото", "zh": "习近平", "zh-hant": "特斯拉", "hr": "potrosnje", "fa-af": "وزیران",
    "en": "organizers", "fr": "agriculteurs", "de": "oberburgermeister", "el": "ψηφοφοροι",
    "ha": "kasar", "hi": "मतदाताओं", "id": "jakarta", "sw": "mvua", "mk": "скопје", "ps": "غونډه",
    "fa-ir": "دانشگاهها", "pl": "lodzi", "pt-002": "luanda", "pt-br": "deslizamentos",
    "ro": "bucuresti", "ru": "москве", "sr": "gradani", "es": "chilenos", "tr": "kuyruklar",
    "uk": "києві", "ur": "تعلقات",
}  # fmt: skip


def test_the_site_has_an_article_in_every_dw_language():
    assert sorted(ID) == sorted(LANGUAGES) and sorted(WORD) == sorted(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_is_found_by_one_of_its_words(client, language):
    assert found(client, WORD[language]) == {language}


# (typed, languages whose article it must find), per family and per form a reader may type.
@pytest.mark.parametrize("typed,languages", [
    # Chinese: a word inside an unspaced sentence, simplified or traditional, Latin inside
    ("德国", {"zh", "zh-hant"}), ("北京", {"zh"}), ("柏林", {"zh-hant"}), ("乌克兰", {"zh"}),
    ("关税", {"zh-hant"}), ("工厂", {"zh-hant"}), ("習近平", {"zh"}), ("Tesla", {"zh-hant"}),
    ("上海", set()),
    # Japanese and Korean names inside Russian text
    ("石破", {"ru"}), ("서울", {"ru"}),
])
def test_unsegmented_scripts(client, typed, languages):
    assert found(client, typed) == languages


@pytest.mark.parametrize("typed,languages", [
    ("میخواهد", {"fa-ir"}), ("می\u200cخواهد", {"fa-ir"}), ("می خواهد", {"fa-ir"}),  # ZWNJ, none, space
    ("رئيس جمهور", {"fa-ir"}), ("رئيسجمهور", {"fa-ir"}),  # Arabic yeh for Farsi yeh
    ("كتابخانه", {"fa-ir"}),  # Arabic kaf for keheh; the word before its plural's half-space
    ("هستهای", {"fa-ir"}), ("گفتوگو", {"fa-af", "fa-ir"}),
    ("پاكستان", {"ur"}), ("بهارت", {"ur"}),  # Urdu: Arabic kaf, heh for do-chashmi heh
    ("گډون", {"ps"}), ("سولي", {"ps"}),  # Pashto: gaf for ګ, yeh for ې
    ("القاهره", {"ar"}), ("الازمة", {"ar"}),  # Arabic: ta marbuta, bare alef
    ("র্যাব", {"bn"}),  # Bengali without its ZWJ
])
def test_perso_arabic_and_indic_keyboard_forms(client, typed, languages):
    assert found(client, typed) == languages


@pytest.mark.parametrize("typed,languages", [
    ("елка", {"ru"}), ("ЁЛКА", {"ru"}),  # Cyrillic ё as е, either case
    ("αθηνα", {"el"}), ("ΑΘΗΝΑ", {"el"}), ("Αθηνα", {"el"}), ("εκλογες", {"el"}),  # tonos
    ("ΕΚΛΟΓΕΣ", {"el"}),  # final sigma
    ("istanbul", {"tr"}), ("İSTANBUL", {"tr"}), ("ISIK", {"tr"}), ("isik", {"tr"}), ("Işık", {"tr"}),
    ("lodzi", {"pl"}), ("ŁODZI", {"pl"}), ("gradani", {"sr"}), ("pogodeno", {"bs"}),  # ł, đ
    ("strasse", {"de"}), ("STRASSE", {"de"}),  # ß as ss
    ("Munchen", {"de"}), ("Muenchen", {"de"}), ("grunen", {"de"}),  # umlauts without and as ae/oe/ue
    ("kasar", {"ha"}), ("bucuresti", {"ro"}), ("sao paulo", {"pt-br"}), ("regles", {"fr"}),
])
def test_letters_typed_in_another_form(client, typed, languages):
    assert found(client, typed) == languages


@pytest.mark.parametrize("typed,languages", [
    ("strike", {"en"}), ("strikes", {"en"}), ("pupil", {"en"}),  # striking, strikes, pupils
    ("Wahl", {"de"}), ("Ergebnisse", {"de"}),  # Wahlen; Ergebnis
    ("agriculteur", {"fr"}), ("eleccion", {"es"}), ("elección", {"es"}), ("angolano", {"pt-002"}),
    ("выборы", {"ru"}), ("seçim", {"tr"}), ("secim", {"tr"}), ("wyborach", {"pl"}),
    ("evakuasi", {"id"}), ("चुनाव", {"hi"}),
    ('"climate strikes"', {"en"}), ('"climate strike"', set()),  # a phrase is exact
    ('"strikes spread"', {"en"}), ('"spread strikes"', set()),
])
def test_word_forms_and_exact_phrases(client, typed, languages):
    assert found(client, typed) == languages


def test_the_saved_search_query_folds_alike_and_marks_the_passage(client):
    rows = client(f"/dw/search.json?q={quote('关税')}&_shape=array").json()
    assert [row["id"] for row in rows] == [ID["zh-hant"]]
    assert "[關稅]" in rows[0]["snippet"]
    rows = client(f"/dw/search.json?q={quote('strike')}&_shape=array").json()
    assert [row["id"] for row in rows] == [ID["en"]] and "the [striking] pupils" in rows[0]["snippet"]


def test_the_ranked_list_highlights_the_words_as_printed(client):
    html = client(f"/dw/articles?_search={quote('رئيس جمهور')}").text
    # Found in the teaser only (its half-spaced word typed with a space): the teaser's passage,
    # the word marked as printed (a search that finds must mark what it found).
    assert "<mark>رئیس\u200cجمهور</mark>" in html
    html = client(f"/dw/articles?_search={quote('دانشگاهها')}").text
    assert "<mark>دانشگاه\u200cها</mark>" in html
    assert 'value="دانشگاهها"' in html  # the search box keeps the words as typed
    html = client(f"/dw/articles?_search={quote('工厂')}").text
    assert "<mark>工廠</mark>" in html


def test_the_shell_recipe_finds_what_datasette_finds(archive):
    run = subprocess.run([sys.executable, "-m", "crawler.search", str(archive), "--search", "德国"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    ids = {int(line.split("\t")[0]) for line in run.stdout.splitlines()}
    assert ids == {ID["zh"], ID["zh-hant"]}
    assert "[德國]" in run.stdout and "[德国]" in run.stdout


@pytest.mark.parametrize("named, status", [("ZH", 0), ("zh,zh-hant", 0), ("pt", 2), ("english", 2)])
def test_the_shell_search_takes_language_codes_in_any_case_and_refuses_others(archive, named, status):
    run = subprocess.run([sys.executable, "-m", "crawler.search", str(archive), "--search", "德国",
                          "--language", named], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == status and "Traceback" not in run.stderr
    if status:  # said, with DW's codes, not an empty answer
        assert "not a DW language code" in run.stderr and "pt-br" in run.stderr and not run.stdout
    else:
        assert ID["zh"] in {int(line.split("\t")[0]) for line in run.stdout.splitlines()}


def test_the_reading_view_opened_from_a_search_marks_its_words_as_printed(client):
    html = client(f"/dw/articles/{ID['fa-ir']}?_search={quote('میخواهد كتابخانه')}").text
    assert "<mark>می\u200cخواهد</mark>" in html  # typed without its half-space
    assert "<mark>کتابخانه\u200cها</mark>" in html  # the plural, by its Persian stem
    html = client(f"/dw/articles/{ID['de']}?_search=wahl").text
    assert "<mark>Wahlen</mark>" in html
    html = client(f"/dw/articles?_search={quote('关税')}").text
    assert f"/dw/articles/{ID['zh-hant']}?_search=%E5%85%B3%E7%A8%8E" in html

