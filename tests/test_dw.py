"""DW knowledge: URL forms, base-62 short codes, canonical URLs, agencies and credit lines."""

from __future__ import annotations

import pytest

from crawler import dw

# Real pairs from FACTS.md.
SHORT_CODES = {"18axi": 16825046, "4boRv": 68117411, "5FLOV": 77538843, "HAhR": 4092709}


@pytest.mark.parametrize("code,content_id", sorted(SHORT_CODES.items()))
def test_short_codes_both_ways(code, content_id):
    assert dw.decode_short_code(code) == content_id
    assert dw.encode_short_code(content_id) == code
    assert dw.short_url(content_id) == f"https://p.dw.com/p/{code}"


def test_short_code_round_trip_and_bad_codes():
    for n in (0, 1, 61, 62, 3843, 3844, 99_999_999):
        assert dw.decode_short_code(dw.encode_short_code(n)) == n
    for bad in ("", "18a-xi", "ü"):
        with pytest.raises(ValueError):
            dw.decode_short_code(bad)


@pytest.mark.parametrize("url,kind,content_id,lang", [
    ("https://www.dw.com/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046",
     "article", 16825046, "en"),
    ("https://www.dw.com/de/russland-wahl-nadeschdin-setzt-auf-ein-ende-der-putin-%C3%A4ra/a-68117411",
     "article", 68117411, "de"),
    ("https://www.dw.com/pt-br/x/a-1", "article", 1, "pt-br"),
    ("https://www.dw.com/fa-ir/x/a-2?maca=fa-rss", "article", 2, "fa-ir"),
    ("https://www.dw.com/en/0/a-3", "article", 3, "en"),
    ("https://amp.dw.com/en/x/a-4", "article", 4, "en"),
    ("https://www.dw.com/en/x/video-5", "video", 5, "en"),
    ("https://www.dw.com/en/x/av-6", "media", 6, "en"),
    ("https://www.dw.com/en/x/live-7", "live", 7, "en"),
    ("https://www.dw.com/de/klimawandel/t-8", "topic", 8, "de"),
    ("https://www.dw.com/en/x/g-9", "gallery", 9, "en"),
    ("http://www.dw.de/hezbollah-troops-die-in-siege/a-16825046", "article", 16825046, None),
    ("http://www.dw-world.de/dw/article/0,,4092709,00.html", "article", 4092709, None),
    ("https://p.dw.com/p/18axi", "shortlink", 16825046, None),
])
def test_parse_url(url, kind, content_id, lang):
    parsed = dw.parse_url(url)
    assert (parsed.kind, parsed.id, parsed.language) == (kind, content_id, lang)


@pytest.mark.parametrize("url", [
    "https://example.com/en/x/a-1", "file:///etc/passwd", "http://169.254.169.254/en/x/a-1",
    "https://www.dw.com/xx/x/a-1", "https://www.dw.com/en/x/zz-1", "https://www.dw.com/en/",
    "https://p.dw.com/p/", "not a url", "https://www.dw.com.evil.example/en/x/a-1",
    "gopher://www.dw.com/en/x/a-1", "ftp://p.dw.com/p/18axi", "//www.dw.com/en/x/a-1",
])
def test_parse_url_refuses_what_is_not_dw_content(url):
    assert dw.parse_url(url) is None


def test_canonical_url_strips_tracking_and_encodes_as_dw_prints():
    raw = ("http://dw.com/de/russland-wahl-nadeschdin-setzt-auf-ein-ende-der-putin-ära/a-68117411"
           "?maca=de-rss-de-all-1119-xml-mrss&at_medium=RSS&at_campaign=x#top")
    assert dw.canonical_url(raw) == (
        "https://www.dw.com/de/russland-wahl-nadeschdin-setzt-auf-ein-ende-der-putin-%C3%A4ra/a-68117411")
    assert dw.canonical_url("https://www.dw.com/en/x/a-1?page=2&maca=x") == "https://www.dw.com/en/x/a-1?page=2"


def test_languages():
    assert len(dw.LANGUAGES) == len(set(dw.LANGUAGES)) == 31
    assert dw.RTL_LANGUAGES == {"ar", "fa-af", "fa-ir", "ps", "ur"}


@pytest.mark.parametrize("line,agencies,unknown", [
    ("kms/ccp (AP, AFP, Reuters, dpa)", ["AP", "AFP", "Reuters", "dpa"], []),
    ("mm, tg, rc/msh (Reuters, AP)", ["Reuters", "AP"], []),
    ("pg/AR/kle (dpa, afp)", ["dpa", "AFP"], []),
    ("kle/jj (kna, dpa, rtr, afp)", ["KNA", "dpa", "Reuters", "AFP"], []),
    ("FEW (dpa, EFE)", ["dpa", "EFE"], []),
    ("ab/cd (ots, AFP)", ["ots", "AFP"], ["ots"]),
    ("ع.ش/ ح.ز (رويترز، أ ف ب)", ["Reuters", "AFP"], []),
    ("Edited by: Wesley Dockery", [], []),
    ("This article was written using material from the DPA news agency.", ["dpa"], []),
    ("This article was originally written in German.", [], []),
])
def test_credit_lines(line, agencies, unknown):
    assert dw.parse_credit_line(line) == (agencies, unknown)


@pytest.mark.parametrize("sentence", [
    "He said (AFP)", "The company said (in a statement)", "It was 2 (two)",
    "Nagelsmann said afterwards that the break came at a good time (for them).",
    "", "kms/ccp", "(AP, AFP)",
])
def test_ordinary_sentences_are_not_credit_lines(sentence):
    assert dw.parse_credit_line(sentence) is None


def test_photo_agencies():
    assert dw.photo_agencies("Joseph Eid/AFP/Getty Images") == ["AFP"]
    assert dw.photo_agencies("Mikhail Sinitsyn/TASS/dpa/picture alliance") == ["TASS", "dpa"]
    assert dw.photo_agencies("Phil Noble/REUTERS") == ["Reuters"]
    assert dw.photo_agencies("Jonas Fischer/DW") == []
