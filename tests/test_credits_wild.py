"""Picture credits in every language and form: DW's label before the credit stripped in every
script (`صورة من:`, `ምስل፦`, `Bild:`), agencies named in other languages and by their picture
services tagged, and any other token that is no person's name counted and logged. Through the
real `scrapy crawl dw` against a loopback server (`tests/wire.py`); the forms as tests of the
pure functions."""

from __future__ import annotations

import json

import pytest

from crawler.dw import read_photo_credit, strip_credit_label
from tests.crawling import archived_ids, crawl, last_run, query
from tests.wire import article_page, response, serving


@pytest.mark.parametrize("printed, credit", [
    ("صورة من: picture-alliance/dpa/M. Scholz", "picture-alliance/dpa/M. Scholz"),  # Arabic, two words
    ("صورة من : Mohammed Hamoud/AFP", "Mohammed Hamoud/AFP"),
    ("ምስል፦ Reuters/Tiksa Negeri", "Reuters/Tiksa Negeri"),  # Amharic preface colon
    ("ምስል፡ Reuters/Tiksa Negeri", "Reuters/Tiksa Negeri"),  # Ethiopic wordspace as a colon
    ("Bild: picture alliance/dpa", "picture alliance/dpa"), ("Foto: Kay Nietfeld/dpa", "Kay Nietfeld/dpa"),
    ("Image: Joseph Eid/AFP/Getty Images", "Joseph Eid/AFP/Getty Images"),
    ("Фото: picture-alliance/dpa", "picture-alliance/dpa"), ("عکس از: Atta Kenare/AFP", "Atta Kenare/AFP"),
    ("图片来源：Xinhua", "Xinhua"), ("Fotoğraf: Murat Kula/AA", "Murat Kula/AA"),
    ("तस्वीर: Sajjad Hussain/AFP", "Sajjad Hussain/AFP"), ("Picha: Tony Karumba/AFP", "Tony Karumba/AFP"),
    # no label: a source's own name before a colon stays
    ("Reuters: Fabrizio Bensch", "Reuters: Fabrizio Bensch"), ("Getty: Sean Gallup", "Getty: Sean Gallup"),
    ("Sven Hoppe/dpa/picture alliance", "Sven Hoppe/dpa/picture alliance"),
])
def test_dws_credit_label_is_stripped_in_every_script(printed, credit):
    assert strip_credit_label(printed) == credit


@pytest.mark.parametrize("credit, agencies, unknown", [
    ("صورة من: picture-alliance/dpa/M. Scholz", ["dpa"], []),  # the label is no unknown token
    ("صورة من: picture-alliance", [], []),
    ("ምስል፦ Reuters/Tiksa Negeri", ["Reuters"], []),
    ("Ali Atmaca/Anadolu Ajansı/picture alliance", ["AA"], []),
    ("Anadolu Images/Getty Images", ["AA"], []),
    ("Zhang Yu/Chine Nouvelle/SIPA/picture alliance", ["Xinhua"], []),
    ("新华社/picture alliance", ["Xinhua"], []),
    ("picture-alliance/ZB", ["dpa"], []), ("Jens Büttner/ZB/picture alliance", ["dpa"], []),
    ("Ricardo Stuckert/Agência Brasil/AFP", ["Agência Brasil", "AFP"], []),
    ("Marcelo Camargo/ABr", ["Agência Brasil"], []),
    ("Yamil Lage/Prensa Latina/REUTERS", ["Prensa Latina", "Reuters"], []),
    ("Reuters: Fabrizio Bensch", ["Reuters"], []),
    # neither an agency nor a person's name: counted, whatever its script or shape
    ("Iranian Presidency/WANA/REUTERS", ["Reuters"], ["Iranian Presidency", "WANA"]),
    ("KCNA via KNS/AP/picture alliance", ["AP"], ["KCNA", "KNS"]),
    ("Agencia Andina/AFP", ["AFP"], ["Agencia Andina"]),
    ("Ukrinform/NurPhoto/picture alliance", [], ["Ukrinform"]),
    ("Russian Defence Ministry/AP", ["AP"], ["Russian Defence Ministry"]),
    ("Turkish Presidency/Murat Cetinmuhurdar/Handout/REUTERS", ["Reuters"], ["Turkish Presidency"]),
    ("وكالة الأنباء السعودية/AFP", ["AFP"], ["وكالة الأنباء السعودية"]),
    # people stay people
    ("Michael Kappeler/dpa/picture alliance", ["dpa"], []), ("Kay Nietfeld/dpa", ["dpa"], []),
    ("Jean-Christophe Verhaegen/AFP", ["AFP"], []), ("Ursula von der Leyen/EU", [], ["EU"]),
])
def test_agencies_in_other_languages_and_forms(credit, agencies, unknown):
    assert read_photo_credit(credit) == (agencies, unknown)


# -- one crawl: pages in Arabic, Amharic and English with such credits -------------------------------

CREDITS = {  # content id: (language, credits as sitegen prints them, the label DW's pages print)
    79800101: ("ar", ["picture-alliance/dpa/M. Scholz", "Mohammed Hamoud/AFP"], "صورة من"),
    79800102: ("am", ["Reuters/Tiksa Negeri"], "ምስል፦"),
    79800103: ("en", ["Ali Atmaca/Anadolu Ajansı/picture alliance", "Anadolu Images/Getty Images",
                      "Zhang Yu/Chine Nouvelle/SIPA/picture alliance", "picture-alliance/ZB"], None),
    79800104: ("en", ["Yamil Lage/Prensa Latina/REUTERS", "Iranian Presidency/WANA/REUTERS"], None),
}
TAGS = {79800101: {"dpa", "AFP"}, 79800102: {"Reuters"}, 79800103: {"AA", "Xinhua", "dpa"},
        79800104: {"Prensa Latina", "Reuters"}}


def _credited_page(content_id: int) -> bytes:
    lang, credits, label = CREDITS[content_id]
    images = [{"url": f"https://static.dw.com/image/{79800200 + n}_6.jpg", "caption": f"Picture {n}",
               "credit": credit} for n, credit in enumerate(credits)]
    html = article_page(content_id, lang=lang, images=images).decode()
    if label:  # sitegen prints `صورة: ` and `Image: `; DW's pages print these
        printed = f"{label} " if label.endswith("፦") else f"{label}: "
        html = html.replace("صورة: ", printed).replace("Image: ", printed)
    return html.encode()


@pytest.fixture(scope="module")
def credited(tmp_path_factory):
    work = tmp_path_factory.mktemp("credits")

    def respond(hit):
        content_id = int(hit.path.rsplit("a-", 1)[1]) if "/a-" in hit.path else None
        if content_id not in CREDITS:
            return None
        return response("200 OK", [("Content-Type", "text/html; charset=utf-8")], _credited_page(content_id))

    urls = ",".join(f"https://www.dw.com/{CREDITS[i][0]}/story/a-{i}" for i in CREDITS)
    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}")
    return run, work / "dw.db"


def test_credits_are_stored_without_their_label(credited):
    run, db = credited
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == set(CREDITS)
    stored = {cid: [image["credit"] for image in json.loads(images)]
              for cid, images in query(db, "SELECT id, images FROM articles")}
    assert stored == {cid: credits for cid, (_, credits, _) in CREDITS.items()}


def test_each_credit_tags_its_agencies_and_unknown_tokens_are_counted(credited):
    run, db = credited
    tags: dict[int, set[str]] = {}
    for cid, agency in query(db, "SELECT article_id, agency FROM article_agencies WHERE role = 'photo'"):
        tags.setdefault(cid, set()).add(agency)
    assert tags == TAGS
    assert last_run(db)["stats"]["dw/extract/unknown_photo_credit"] == 2  # Iranian Presidency, WANA
    assert "'Iranian Presidency' in the image credit 'Iranian Presidency/WANA/REUTERS'" in run.stderr
    assert "صورة من" not in run.stderr  # no label taken for a token
