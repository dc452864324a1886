"""Who made a DW article: news agencies, their printed forms, credit lines, photo credits, people.

Source of the facts: `../shared/dw/FACTS.md` ("The closing credit line").
"""

from __future__ import annotations

import re
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
}
_AGENCY_ALIASES: dict[str, str] = {full.casefold(): name for name, full in AGENCIES.items()} | {
    name.casefold(): name for name in AGENCIES} | {
    "rtr": "Reuters", "reuters": "Reuters", "ap": "AP", "afp": "AFP", "dpa": "dpa",
    "kna": "KNA", "efe": "EFE", "epd": "epd", "sid": "SID", "anadolu": "AA",
    "associated press": "AP", "ap photo": "AP", "deutsche presse-agentur": "dpa",
    # Arabic pages spell the agencies out: Reuters, AFP, dpa, AP, EFE.
    "رويترز": "Reuters", "أ ف ب": "AFP", "ا ف ب": "AFP", "د ب أ": "dpa", "د.ب.أ": "dpa",
    "أ ب": "AP", "إفي": "EFE",
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


def canonical_agency(token: str) -> str | None:
    """The canonical name of a printed agency token, or None when it is not a known agency.
    A leading English article is not part of the name (`The Associated Press` is AP)."""
    key = " ".join(token.split()).strip(".").casefold()
    return _AGENCY_ALIASES.get(key) or (_AGENCY_ALIASES.get(key[4:]) if key.startswith("the ") else None)


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


def photo_agencies(credit: str) -> list[str]:
    """Known agencies named in an image credit such as `Joseph Eid/AFP/Getty Images` -> `[AFP]`."""
    names, unknown = canonical_agencies(re.split(r"[/,|]", credit))
    return [name for name in names if name not in unknown]
