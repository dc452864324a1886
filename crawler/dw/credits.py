"""Who made a DW article: news agencies, their printed forms, credit lines, photo credits, people.

Source of the facts: `../shared/dw/FACTS.md` ("The closing credit line").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Agencies: canonical name -> full name; and the forms they are printed in.
AGENCIES: dict[str, str] = {
    "AP": "Associated Press",
    "AFP": "Agence France-Presse",
    "Reuters": "Reuters",
    "dpa": "Deutsche Presse-Agentur",
    "KNA": "Katholische Nachrichten-Agentur",
    "EFE": "Agencia EFE",
    "epd": "Evangelischer Pressedienst",
    "SID": "Sport-Informations-Dienst",
    "dts": "dts Nachrichtenagentur",
    "ANSA": "Agenzia Nazionale Stampa Associata",
    "Lusa": "Agência Lusa",
    "Xinhua": "Xinhua News Agency",
    "TASS": "TASS",
    "Interfax": "Interfax",
    "AA": "Anadolu Agency",
    "IRNA": "Islamic Republic News Agency",
    "PTI": "Press Trust of India",
    "Kyodo": "Kyodo News",
    "Yonhap": "Yonhap News Agency",
    "Europa Press": "Europa Press",
    "Agência Brasil": "Agência Brasil",  # Brazil's public news agency (EBC)
    "Prensa Latina": "Prensa Latina",  # Cuba's news agency
}
_AGENCY_ALIASES: dict[str, str] = {full.casefold(): name for name, full in AGENCIES.items()} | {
    name.casefold(): name for name in AGENCIES} | {
    "rtr": "Reuters", "reuters": "Reuters", "ap": "AP", "afp": "AFP", "dpa": "dpa",
    "kna": "KNA", "efe": "EFE", "epd": "epd", "sid": "SID", "anadolu": "AA",
    "associated press": "AP", "ap photo": "AP", "deutsche presse-agentur": "dpa",
    # EPA (European Pressphoto Agency, EPA Images) is majority-owned by EFE and credits its
    # pictures `EPA-EFE`: both forms are EFE's pictures.
    "epa": "EFE", "epa-efe": "EFE", "epa images": "EFE", "european pressphoto agency": "EFE",
    # Arabic pages spell the agencies out: Reuters, AFP, dpa, AP, EFE.
    "رويترز": "Reuters", "أ ف ب": "AFP", "ا ف ب": "AFP", "د ب أ": "dpa", "د.ب.أ": "dpa",
    "أ ب": "AP", "إفي": "EFE",
    # Agencies as other languages and their own picture services name them: Anadolu (Turkish
    # name, picture service), Xinhua (French, Chinese, Russian, Arabic), dpa's picture service
    # Zentralbild (`ZB`, `dpa-Zentralbild`).
    "anadolu ajansı": "AA", "anadolu ajansi": "AA", "anadolu images": "AA", "anadolu agency": "AA",
    "chine nouvelle": "Xinhua", "xinhua news agency": "Xinhua", "新华社": "Xinhua", "新華社": "Xinhua",
    "синьхуа": "Xinhua", "شينخوا": "Xinhua",
    "zb": "dpa", "zentralbild": "dpa", "dpa-zentralbild": "dpa", "dpa zentralbild": "dpa",
    "agencia brasil": "Agência Brasil", "abr": "Agência Brasil",
}  # fmt: skip
# The publisher itself, printed among the sources and bylines of some pages: not an agency.
PUBLISHER_NAMES = frozenset({"dw", "deutsche welle", "dw.com", "dw news"})
# Bylines that name the publisher or a desk, not a person.
NOT_PEOPLE = PUBLISHER_NAMES | {"redaktion", "newsroom"}
# Tokens printed among the agencies that have no full name here, and why (datasette shows it).
AGENCY_NOTES = {"ots": "news aktuell's Originaltext-Service: press releases passed on as sent, not an agency"}
# A word that makes a byline an organisation or a desk ("DW Nachrichten", "Redaktion Politik",
# "Newsdesk", "Online-Team"), in the languages whose old-layout rows carry such desks.
_ORGANISATION_WORDS = frozenset({
    "dw", "welle", "redaktion", "newsroom", "newsdesk", "desk", "team", "staff", "agency",
    "agentur", "nachrichten", "nachrichtenagentur", "news", "editorial", "editors", "redacción",
    "rédaction", "redação", "redazione", "redakcja", "редакция", "редакція", "التحرير", "编辑部",
})  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+")


def agency_key(text: str) -> str:
    """How agency names are compared: blanks collapsed, case, outer dots and accents ignored
    (Latin accents, Arabic hamza marks: `agencia lusa` is `Agência Lusa`, `د ب ا` is `د ب أ`),
    a leading English article dropped (`The Associated Press` is `Associated Press`)."""
    key = " ".join(text.split()).strip(".").casefold()
    key = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return key[4:] if key.startswith("the ") else key


_AGENCY_KEYS = {agency_key(form): name for form, name in _AGENCY_ALIASES.items()}


def canonical_agency(token: str) -> str | None:
    """The canonical name of a printed agency token, or None when it is not a known agency;
    compared as `agency_key` compares (`the Associated Press`, `agencia lusa`, `ا ف ب`)."""
    return _AGENCY_KEYS.get(agency_key(token))


def names_agency(typed: str | None, name: str, full_name: str | None = None) -> bool:
    """Whether what a reader typed names the agency an archive holds as `name` (with
    `full_name`): a known agency's printed form, in any case or accents, names its canonical
    name; any other text names an agency whose name or full name it equals as `agency_key`
    compares (`OTS` names `ots`). The one resolver of the archive's views (list filter, agency
    page, saved queries)."""
    if not typed or not typed.strip():
        return False
    canonical = canonical_agency(typed)
    if canonical is not None:
        return canonical == name
    key = agency_key(typed)
    return key == agency_key(name) or (full_name is not None and key == agency_key(full_name))


def printed_forms(name: str) -> list[str]:
    """Every form (casefolded) that `canonical_agency` reads as the agency `name`, sorted."""
    return sorted(form for form, canonical in _AGENCY_ALIASES.items() if canonical == name)


def canonical_agencies(tokens: Iterable[str | None]) -> tuple[list[str], list[str]]:
    """Printed agency tokens as (names, unknown): each agency once, in printed order.

    Known agencies get their canonical name (`rtr` -> `Reuters`); the publisher (`DW`) is left
    out; any other token is kept as written in `names` and repeated in `unknown`.
    """
    names: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        token = " ".join(token.split()) if isinstance(token, str) else ""
        if not token or token.casefold() in PUBLISHER_NAMES:
            continue
        name = canonical_agency(token)
        if name is None:
            name = token
            unknown.append(token)
        if name not in names:
            names.append(name)
    return names, unknown


def is_person(name: str) -> bool:
    """False for a byline that is not a person: DW itself, a desk or another organisation, a
    news agency, or a date or place line (a byline with a digit: `14.03.2023`, `Bonn, 5.3.`)."""
    folded = name.casefold()
    if folded in NOT_PEOPLE or canonical_agency(name) is not None or any(c.isdigit() for c in name):
        return False
    return "deutsche welle" not in folded and not any(
        word in _ORGANISATION_WORDS for word in _WORD.findall(folded))


# Staff initials then agencies: `kms/ccp (AP, AFP, Reuters, dpa)`, `FEW (dpa, EFE)`.
_CREDIT_LINE = re.compile(r"^(?P<staff>[^()（）]{1,60}?)\s*[(（](?P<agencies>[^()（）]{1,200})[)）]\s*\.?$")
_STAFF_SPLIT = re.compile(r"\s*[,/]\s*|\s+")
_AGENCY_SPLIT = re.compile(r"\s*(?:[,;/،]|\s(?:und|and|y|e)\s)\s*")
_EDITED_BY = re.compile(r"^(?:Edited by|Redaktion|Redigiert von|Editado por|Édité par)\s*:\s*\S",
                        re.IGNORECASE)
_WRITTEN_USING = re.compile(
    r"^This article (?:was (?:written|compiled) using material from|was originally written in)\b",
    re.IGNORECASE,
)


# Lower-case words inside a source's name: `The Times of India`, `Agence de presse`.
_NAME_LINKS = frozenset({"of", "the", "for", "and", "de", "des", "du", "la", "le", "del", "da", "do",
                         "der", "die", "für", "&"})


def _looks_like_source_name(token: str) -> bool:
    # Up to three words as they come (any script); up to six when each is capitalised or a
    # linking word, as a multi-word name is (`The New York Times`, `Press Trust of India`).
    words = token.split()
    if len(token) > 40 or len(words) > 6:
        return False
    return len(words) <= 3 or all(w.casefold() in _NAME_LINKS or w[0].isupper() or w[0].isdigit()
                                  for w in words)


def _looks_like_initials(token: str) -> bool:
    # DW initials: "kms", "AR", "FEW", Arabic "ع.ش", "م.أ.م"; never an ordinary word.
    if "." in token:
        return len(token) <= 8 and all(part.isalpha() for part in token.split(".") if part)
    return token.isalpha() and (len(token) <= 3 or (token.isupper() and len(token) <= 5))


def parse_credit_line(text: str) -> tuple[list[str], list[str]] | None:
    """If `text` is a closing credit line, (agencies, unknown); else None.

    `agencies` is every agency in printed order, known ones under their canonical name and
    others as written; `unknown` repeats the latter so that callers can count them.
    """
    text = " ".join(text.split())
    if not text or len(text) > 260:
        return None
    if _EDITED_BY.match(text):
        return [], []
    if _WRITTEN_USING.match(text):
        return [a for a in (canonical_agency(w) for w in re.findall(r"[\w-]+", text)) if a], []
    m = _CREDIT_LINE.match(text)
    if not m:
        return None
    staff = [tok for tok in _STAFF_SPLIT.split(m["staff"].strip()) if tok]
    if not staff or len(staff) > 8 or not all(_looks_like_initials(tok) for tok in staff):
        return None
    tokens = _AGENCY_SPLIT.split(m["agencies"].strip())
    # An unknown "agency" that is no name means the brackets hold words, not sources.
    if any(canonical_agency(t) is None and not _looks_like_source_name(t) for t in tokens):
        return None
    agencies, unknown = canonical_agencies(tokens)
    return (agencies, unknown) if agencies else None


# -- photo credits -------------------------------------------------------------------------
# DW prints who took and who supplied a picture in many forms: `Joseph Eid/AFP/Getty Images`,
# `Jim Watson/AFP via Getty Images`, `REUTERS/Fabrizio Bensch`, `© Reuters`, `EPA-EFE/Filip
# Singer`, `Jens Büttner/dpa-Zentralbild/picture alliance`, `picture-alliance/AP Photo/M. Name`,
# `Li Xin/XinHua/dpa/picture alliance`, `Mikhail Sinitsyn/TASS/dpa/picture alliance`.
# A credit is split into parts at `/`, `|`, `,`, `;`, colons, brackets and the word `via`; a part is an
# agency (any printed form), a compound naming one (`dpa-Zentralbild`, `AP Photo`, `EPA-EFE`,
# `ITAR-TASS`: the agency is the word printed as the agency prints it), a picture service or
# source that is no news agency (`PHOTO_SOURCES`), or a person's name; anything else is an
# unknown token, which the crawl counts and logs (`dw/extract/unknown_photo_credit`).

# Picture services, archives and sources printed in credits that are not news agencies (case-folded).
PHOTO_SOURCES = frozenset({
    "picture alliance", "picture-alliance", "picturealliance", "getty images", "getty", "imago",
    "imago images", "imago stock&people", "imago stock", "zuma press", "zuma wire", "zumapress.com", "zuma",
    "sopa images", "nurphoto", "photothek", "photothek.net", "abaca", "abacapress.com", "sipa", "sipa usa",
    "maxppp", "hans lucas", "pacific press", "eibner", "geisler-fotopress", "bildagentur-online",
    "westend61", "shutterstock", "zoonar", "panthermedia", "wirestock", "photoshot", "newscom",
    "dw", "deutsche welle", "privat", "private", "handout", "screenshot", "archiv", "archive",
    "collage", "youtube", "x", "twitter", "facebook", "instagram", "telegram", "tiktok",
    "public domain", "wikipedia", "wikimedia commons", "pool", "pool photo",
    # who took it, when not named: a stringer (`STR/AFP`), a handout (`HO/AFP`), staff, a file photo
    "stringer", "str", "ho", "staff", "file", "file photo",
})  # fmt: skip
# The label DW prints before a picture credit, in its languages, case-folded: `Image: …`, `Bild:
# …`, `صورة من: …` (Arabic pages: "picture from"), `ምስል፦ …` (Amharic, with the preface colon).
PHOTO_CREDIT_LABELS = frozenset({
    "image", "images", "bild", "foto", "fotos", "photo", "photos", "imagen", "imagem", "fotografia",
    "fotografía", "fotoğraf", "görsel", "zdjęcie", "fotografija", "slika", "imagine", "φωτογραφία",
    "εικόνα", "фото", "снимка", "фотографија", "фотографія", "світлина", "صورة", "صورة من",
    "الصورة", "عکس", "عكس", "عکس از", "تصویر", "تصوير", "انځور", "ምስል", "फोटो", "फ़ोटो", "तस्वीर",
    "छवि", "ছবি", "picha", "hoto", "gambar", "图片", "图像", "圖片", "圖像", "照片", "图片来源",
    "圖片來源", "credit", "credits", "source", "quelle", "fuente", "fonte",
})  # fmt: skip
# Colons of the scripts DW writes in: ASCII, full-width and small (CJK), Ethiopic (wordspace,
# colon, preface colon), the modifier letter colon.
CREDIT_LABEL_COLONS = ":：﹕︓፡፥፦꞉"
_CREDIT_LABEL = re.compile(rf"^\s*(?P<label>[^{CREDIT_LABEL_COLONS}/|(),]{{1,30}}?)\s*"
                           rf"[{CREDIT_LABEL_COLONS}]\s*")


def strip_credit_label(credit: str) -> str:
    """A picture credit without the label printed before it (`Image: `, `صورة من: `, `ምስል፦ `):
    a label of `PHOTO_CREDIT_LABELS`, or any one word, before a colon of any script; never a
    word that names the credit's source (`Reuters: …`, `Getty: …` keep theirs)."""
    m = _CREDIT_LABEL.match(credit)
    if not m:
        return credit
    label = " ".join(m["label"].split()).casefold()
    if label in PHOTO_CREDIT_LABELS or (
            len(label.split()) == 1 and canonical_agency(label) is None and label not in PHOTO_SOURCES):
        return credit[m.end():]
    return credit


# A colon left after the label is stripped also parts a credit (`Reuters: Fabrizio Bensch`).
_CREDIT_PARTS = re.compile(rf"\s*(?:[/|,;()\[\]{CREDIT_LABEL_COLONS}]|\bvia\b)\s*", re.IGNORECASE)
_COPYRIGHT = re.compile(r"^(?:(?:©|\(c\)|copyright\b:?|(?:photo|foto|image|bild)\s*:)\s*)+(?:\d{4}\b)?\s*",
                        re.IGNORECASE)
_COMPOUND_SPLIT = re.compile(r"[\s\-–]+")
_LICENCE = re.compile(r"^(?:cc\b|creative commons)", re.IGNORECASE)
# Words that make a part an organisation, not a person's name ("SOPA Images", "Press Service").
# In the languages agencies and offices name themselves in: `Anadolu Ajansı`, `Agência Brasil`,
# `Prensa Latina`, `Iranian Presidency`, `وكالة الأنباء`.
_SOURCE_WORDS = frozenset({
    "images", "image", "photo", "photos", "foto", "fotos", "pictures", "picture", "press", "presse",
    "wire", "agency", "agentur", "news", "media", "service", "services", "pool", "tv", "archive",
    "archiv", "studio", "office", "ministry", "ministerium", "government", "police", "polizei",
    "army", "forces", "handout", "museum", "institute", "institut", "university", "universität",
    # agency, press, news
    "ajansı", "ajansi", "ajans", "agência", "agencia", "agence", "agenzia", "agencja", "agentschap",
    "агентство", "агенція", "وكالة", "خبرگزاری", "通讯社", "通訊社", "prensa", "imprensa", "stampa",
    "basın", "pressedienst", "noticias", "notícias", "nouvelles", "notizie", "haber", "haberleri",
    "новости", "новини", "nachrichten", "أنباء", "الأنباء", "خبر",
    # offices of state
    "presidency", "presidencia", "presidência", "présidence", "presidenza", "präsidialamt",
    "cumhurbaşkanlığı", "kremlin", "ministerio", "ministério", "ministère", "ministero",
    "bakanlığı", "министерство", "gobierno", "governo", "gouvernement", "regierung", "hükümeti",
    "bureau", "büro", "oficina", "gabinete", "cabinet", "parliament", "parlament", "embassy",
    "botschaft", "military", "navy", "militär", "armée", "ejército", "ordu",
})  # fmt: skip
_NAME_PARTICLES = frozenset({"van", "von", "der", "den", "de", "da", "di", "del", "della", "dos", "du",
                             "la", "le", "al", "el", "bin", "ibn", "ter", "ten", "zu", "y", "e"})


def _printed_as_agency(word: str) -> str | None:
    """An agency named by one word of a compound part, when printed as agencies print their
    names (`dpa`, `AFP`, `REUTERS`, `Reuters`, `XinHua`), not as a name (`Sid`, `Ap`)."""
    name = canonical_agency(word)
    if name is None:
        return None
    if word.isupper() or word.islower() or word == name or not word[1:].islower():
        return name
    return None


def _person_shaped(part: str) -> bool:
    words = part.split()
    if not 2 <= len(words) <= 5 or any(w.casefold().strip(".") in _SOURCE_WORDS for w in words):
        return False
    for word in words:
        letters = word.replace(".", "").replace("'", "").replace("’", "").replace("-", "")
        if not letters or not letters.isalpha():
            return False
        if not (word[0].isupper() or word.casefold() in _NAME_PARTICLES or not word[0].islower()):
            return False
    return True


def read_photo_credit(credit: str | None) -> tuple[list[str], list[str]]:
    """An image credit as (agencies, unknown): the agencies it names, canonical, once each, in
    printed order; and the parts that are neither an agency, a picture service or source
    (`PHOTO_SOURCES`, the publisher), nor a person's name, as printed.

    `Jim Watson/AFP via Getty Images` -> (["AFP"], []); `EPA-EFE/Filip Singer` -> (["EFE"], []);
    `© Reuters` -> (["Reuters"], []); `Geomar/dpa/picture alliance` -> (["dpa"], ["Geomar"]).
    """
    agencies: list[str] = []
    unknown: list[str] = []
    credit = _COPYRIGHT.sub("", strip_credit_label(" ".join((credit or "").split())))
    for part in _CREDIT_PARTS.split(credit):
        part = _COPYRIGHT.sub("", part.strip()).strip(" .:-–")
        if not part:
            continue
        whole = canonical_agency(part)
        if whole is not None:
            names = [whole]
        else:
            names = [n for n in map(_printed_as_agency, _COMPOUND_SPLIT.split(part)) if n]
        if names:
            agencies += [n for n in names if n not in agencies]
        elif (part.casefold() in PHOTO_SOURCES or part.casefold() in PUBLISHER_NAMES
              or _LICENCE.match(part) or _person_shaped(part)):
            continue
        else:
            unknown.append(part)
    return agencies, unknown


def photo_agencies(credit: str) -> list[str]:
    """Known agencies named in an image credit such as `Joseph Eid/AFP/Getty Images` -> `[AFP]`
    (see `read_photo_credit`)."""
    return read_photo_credit(credit)[0]
