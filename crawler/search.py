"""The archive's search index: which text of an article is searchable, and how every script is
folded, segmented and stemmed so that a word is found as its readers type it.

One FTS5 table, `articles_search`, one row per article (rowid = the article id). Its text columns
hold the *tokens* of the headline, teaser, body, credit line, authors and the agencies the
credit line names (canonical and full names: "Reuters" finds a credit line printing `rtr` or
رويترز), folded (see below) and separated by single spaces, so that FTS5's tokenizer splits
exactly where this module does. Two more columns hold what is never shown: `spellings`, the
other spellings under which the article's words are found as typed (ä typed ae, a half-spaced
word typed joined), and `stems`, the stems of its words, each marked with its stemmer, after a
tag token for the stemmer.

Every way in analyses what a reader typed with the same code: `match_query` (datasette's list
search, the saved `search` query through `dw_match`), `exact_query` (the ranking's first tier),
`spans` and `snippet` (highlights and passages cut from the stored text). The README's "Search
in every script" says per script what is done and what is not.

Analysis, word by word (Lucene's analyzers are the anchor: ICU folding, ASCII folding, the
Arabic, Persian, Hindi, Bengali and Indic normalisers, Greek and Turkish lower-casing, the
Persian analyzer's half-space, CJK analysis):

- A word is a run of letters, digits, combining marks and format characters; emoji, symbols,
  punctuation, apostrophes (`ʼ` too) and underscores separate words. Format characters (the
  direction marks and isolates, U+061C, soft hyphen, word joiner, tags) and variation
  selectors are folded away inside a word: they never join onto it or split it.
- NFKC, Unicode case folding (ß -> ss, ς -> σ, İ -> i), the combining accents of Latin, Greek and
  Cyrillic letters removed (é -> e, ά -> α, ё -> е, й -> и), ґ as г, the Latin letters that do
  not decompose (ł đ ø æ œ ı ɓ ...) to ASCII with ICU's Latin-ASCII, every decimal digit as 0-9.
- Arabic script: harakat, tatweel and hamza marks removed; alef forms as ا; ی ى ئ as ي; ک ڪ as
  ك; ة ۀ ە ۃ as ه (ۂ as ہ, ۓ as ے); ؤ as و; ګ as گ. The distinct letters of Urdu and Pashto stay
  distinct (ہ ھ ے ې ۍ). A half-space (ZWNJ) is a word boundary, as in Lucene's Persian
  analyzer, and the joined word is one of its `spellings`; the ezafe written ه‌ی is ۀ. The
  Arabic article (ال, وال, بال, فال, كال, لل) is dropped in Arabic-language articles only.
- Devanagari and Bengali: Lucene's Indic composition, then its Hindi normaliser (nukta, chandra
  and candrabindu, dead n, viramas, long and short vowels) or Bengali normaliser (chandrabindu,
  long vowels, khanda ta, ja- and ba-phala, sh, na, ra, visarga); vowel signs stay in the word.
- Han, kana and Hangul: one token per character, simplified Chinese for traditional and for the
  Hong Kong and Taiwan variant characters (OpenCC's character tables, then ICU's
  Traditional-Simplified, character by character, so index and query agree); a word typed is
  the phrase of its characters, so it is found inside an unspaced sentence.

Spellings: a word holding ä ö ü å ø đ is also indexed as typed without them (ae oe ue aa oe dj),
a Pashto word holding ې ۍ as typed with ی, an Urdu word holding ہ ھ as typed with ه: one way
only, so that `Soeder` finds Söder but `Muenchen` typed never turns every `ue` into ü, and
`پہر` does not find `پھر`.

Stemming (Snowball, via PyStemmer): the words of an article in a language with a Snowball
stemmer (`STEMMERS`) add their stems to `stems` (those not already among its tokens), each
written after its stemmer's mark (`\ue000english\ue000strike`), after a tag token for the
stemmer (`\ue000english`). A query word then matches (1) the word itself, folded, in the text or
its spellings, and failing that (2) its stem by each stemmer of the languages the reader named,
or, when none is named, of every stemmer of its script, each only in articles of that stemmer's
language: a multilingual Lucene index queried across its per-language fields does the same
when the query's language is unknown. A stem is one marked token for each stemmer (a rare term,
found at once at any size), and, where it differs from the word typed, the stem among the text's
own words in an article tagged with the stemmer (`strike` printed, `striking` typed). Matches of
the first kind rank above those of the second (`exact_query`). A "quoted phrase" is matched
unstemmed.

Writes go through `index_rows`, which the archive calls once per written batch (one executemany
of deletes, one of inserts). FTS5's automerge is off (`automerge=0`, kept in the index's config):
each batch adds one small segment and never pays for merging mid-crawl; FTS5's crisis merge
still bounds the number of segments per level (16). `merge` folds them together when the crawl
is idle (the archive extension calls it at the end of a run). An archive whose index was made
with other columns or another tokenizer is indexed again when opened (`create`). Rows written
around the archive (raw SQL, as `make bench` builds its archives: `index_all`) or folding
rules changed since: index again with `python -m crawler.search ARCHIVE`.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import re
import sqlite3
import sys
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import Stemmer
from sqlite_utils import Database

from crawler.dw import AGENCIES, LANGUAGES
from crawler.dw.credits import canonical_agency, printed_forms

logger = logging.getLogger(__name__)

TABLE = "articles_search"
# Searchable columns, in bm25 weight order: a hit in the headline counts most. `spellings` and
# `stems` are never shown (snippets come from the stored text).
COLUMNS: tuple[str, ...] = ("title", "teaser", "body", "credit_line", "authors", "agencies",
                            "spellings", "stems")
TEXT_COLUMNS: tuple[str, ...] = COLUMNS[:6]
# `stems` weighs nothing: it holds each stem once, wherever the word was, so a hit there says
# only that the article's stemmer made the stem; weighed, it ranked the articles of languages
# whose stemmer changes a word above those of the reader's language holding the word alike.
WEIGHTS: tuple[float, ...] = (10.0, 4.0, 1.0, 2.0, 2.0, 2.0, 1.0, 0.0)
# FTS5's `rank` of the index (its config): the same weighted bm25, for SQL written by hand.
RANK = f"bm25({', '.join(str(w) for w in WEIGHTS)})"
# The text is tokenized here, in Python, and stored as tokens separated by spaces; FTS5's
# tokenizer only splits at those spaces (it keeps combining marks inside a word: Devanagari and
# Bengali vowel signs, viramas).
TOKENIZER = "unicode61 remove_diacritics 0 categories 'L* N* Co M*'"

# DW's languages (crawler/dw/urls.py) that Snowball stems, and its algorithm for each.
STEMMERS: dict[str, str] = {
    "ar": "arabic", "de": "german", "el": "greek", "en": "english", "es": "spanish",
    "fa-af": "persian", "fa-ir": "persian", "fr": "french", "hi": "hindi", "id": "indonesian",
    "pl": "polish", "pt-002": "portuguese", "pt-br": "portuguese", "ro": "romanian",
    "ru": "russian", "sr": "serbian", "tr": "turkish",
}  # fmt: skip
# The stemmers a query word is stemmed with when the reader named no language, by its script.
_LATIN_STEMMERS = ("english", "german", "french", "spanish", "portuguese", "romanian", "indonesian",
                   "turkish", "polish", "serbian")
_SCRIPT_STEMMERS = (
    (re.compile("[a-z\u00c0-\u024f\u1e00-\u1eff]"), _LATIN_STEMMERS),
    (re.compile("[\u0400-\u04ff]"), ("russian", "serbian")),
    (re.compile("[\u0370-\u03ff\u1f00-\u1fff]"), ("greek",)),
    (re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]"), ("arabic", "persian")),
    (re.compile("[\u0900-\u097f]"), ("hindi",)),
)
# A token in `stems` that says which stemmer made the article's stems (a private-use character,
# which no typed word keeps, then the algorithm's name). Arabic's also marks an article in
# Arabic, whose words are indexed without their article.
_TAG = "\ue000"
ARABIC = "arabic"


def _marked(algorithm: str, stem: str) -> str:
    """A stem as `stems` holds it: one token, its stemmer's tag then the stem. A query's stem is
    then a term as rare as the word, never the AND of the word with the tag every article in the
    language holds (FTS5 opens and seeks that tag's doclist: 3.7 ms a query at 1M articles)."""
    return f"{_TAG}{algorithm}{_TAG}{stem}"


def _class(test, astral: str = "") -> str:
    """A regex character class body of the BMP characters for which `test(category, cp)` holds,
    then `astral` (ranges beyond the BMP, given by hand: a long list of them is slow to match)."""
    ranges, start = [], None
    for cp in range(0x10001):
        inside = cp < 0x10000 and test(unicodedata.category(chr(cp)), cp)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            last = cp - 1
            ranges.append(re.escape(chr(start)) + (f"-{re.escape(chr(last))}" if last > start else ""))
            start = None
    return "".join(ranges) + astral


# A word: letters and digits (`\w`: every script's, beyond the BMP too), combining marks, format
# characters but the zero-width space (an invisible word boundary: crawler/text.py keeps it as
# one), private use, the variation selectors and tags beyond the BMP. Underscores and letter
# apostrophes (ʼ ʻ ʹ, typed as ') are made separators first (`_SEPARATORS`, one character for
# one, so offsets in the stored text stay).
# The planes beyond the BMP that hold assigned characters other than private use (1-3, and 14:
# tags and variation selectors); 4 to 13 are unassigned, 15 and 16 private use. Reading only
# these at import saves 70 ms in every process (every crawl).
_ASSIGNED_ASTRAL = (range(0x10000, 0x40000), range(0xE0000, 0xF0000))


def _astral(category: str) -> str:
    """Regex ranges of the characters of one category beyond the BMP (few, for format characters)."""
    ranges, start, last = [], None, 0
    for cp in itertools.chain(*_ASSIGNED_ASTRAL, [None]):
        inside = cp is not None and unicodedata.category(chr(cp)) == category
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append(f"{chr(start)}-{chr(last)}")
            start = None
        last = cp
    return "".join(ranges)


# What `_astral("Cf")` finds in Unicode 14.0 (Python 3.11's unicodedata), written out: the scan of a
# million code points cost 0.1 s of CPU in every process that imports this module (each crawl,
# backfill and re-extraction); another Unicode version is scanned. tests/test_search.py compares.
_ASTRAL_FORMATS_14 = ("\U000110bd-\U000110bd\U000110cd-\U000110cd\U00013430-\U00013438"
                      "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001-\U000e0001\U000e0020-\U000e007f")
_ASTRAL_FORMATS = _ASTRAL_FORMATS_14 if unicodedata.unidata_version == "14.0.0" else _astral("Cf")
_WORD = re.compile("[\\w" + _class(lambda c, cp: c[0] == "M" or c == "Co" or (c == "Cf" and cp != 0x200B),
                                   _ASTRAL_FORMATS + "\U000e0000-\U000e0fff\U000f0000-\U0010ffff") + "]+")
_SEPARATORS = str.maketrans({"_": " ", "\u02bc": "'", "\u02bb": "'", "\u02b9": "'"})
# Folded away inside a word: format characters (direction marks and isolates, U+061C, soft
# hyphen, word joiner, byte-order mark, tags) but ZWNJ (a boundary in Arabic script, removed
# elsewhere) and ZWJ (part of Indic spellings, removed after them); variation selectors (the
# standardized ones, the ideographic ones, Mongolian's); the keycap mark of emoji.
_INVISIBLE = re.compile("[" + _class(lambda c, cp: c == "Cf" and cp not in (0x200C, 0x200D))
                        + _ASTRAL_FORMATS + "\ufe00-\ufe0f\u180b-\u180f\u20e3\U000e0000-\U000e0fff]")
_ASCII_WORD = re.compile("[a-z0-9]+")
# Han (with CJK compatibility ideographs and extensions), kana, Hangul: one token per character.
_CJK = re.compile("[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
                  "\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
                  "\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]")
_CJK_RUN = re.compile(_CJK.pattern + "+")
# Combining diacritics of Latin, Greek and Cyrillic letters (Indic and Arabic marks are not here).
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LATIN_LEFT = re.compile("[\u00c0-\u02af\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff]")
_DIGITS = {cp: str(unicodedata.decimal(chr(cp))) for cp in range(0x80, 0x20000)
           if unicodedata.category(chr(cp)) == "Nd"}
_CYRILLIC = {"ґ": "г"}  # the Ukrainian letter the Soviet spelling wrote г, as ICU folds й as и

# Arabic script: harakat and Quranic marks (U+064B-U+065F, hamza above and below among them,
# U+0670, U+06D6-U+06ED), tatweel.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTERS = str.maketrans({
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # أ إ آ ٱ -> ا
    "\u0649": "\u064a", "\u06cc": "\u064a", "\u0626": "\u064a",  # ى ی ئ -> ي
    "\u06a9": "\u0643", "\u06aa": "\u0643",  # ک ڪ -> ك
    "\u0629": "\u0647", "\u06c0": "\u0647", "\u06d5": "\u0647", "\u06c3": "\u0647",  # ة ۀ ە ۃ -> ه
    "\u06c2": "\u06c1", "\u06d3": "\u06d2",  # ۂ -> ہ, ۓ -> ے (their hamza is a mark)
    "\u0624": "\u0648",  # ؤ -> و
    "\u06ab": "\u06af",  # ګ -> گ
})  # fmt: skip
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
# The article and the one-letter words that join it: ال, وال, فال, بال, كال, and لل (= ل + ال).
_ARTICLE = re.compile("^(?:[وفبك]?ال|لل)")
_JOINERS = re.compile("[\u200c\u200d]")
ZWNJ = "\u200c"
_HEH, _YEH = "\u0647", "\u064a"

# Other spellings a word is indexed under (one way: see the module doc): Latin letters typed as
# two, Pashto's yeh forms typed as ی, Urdu's heh forms typed as ه.
_SPELLED = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "å": "aa", "ø": "oe", "đ": "dj",
                          "\u06d0": "\u06cc", "\u06cd": "\u06cc", "\u06c1": "\u0647",
                          "\u06be": "\u0647", "\u06c2": "\u0647"})
_SPELLED_LETTERS = re.compile("[äöüåøđ\u06d0\u06cd\u06c1\u06be\u06c2]")
# What a typed word holding such a letter may be printed as where a writer lacked it: Latin
# letters as two, Urdu's heh forms as ه (no letter of Urdu); never Pashto's ې ۍ as ی (a letter).
_TYPED_WITHOUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "å": "aa", "ø": "oe", "đ": "dj",
                                "\u06c1": "\u0647", "\u06be": "\u0647", "\u06c2": "\u0647"})
_TYPED_WITHOUT_LETTERS = re.compile("[äöüåøđ\u06c1\u06be\u06c2]")
# In a typed phrase, what stands for such a letter, folded, and the letters it may stand for.
_STAND_INS = (("ae", ("a",)), ("oe", ("o",)), ("ue", ("u",)), ("aa", ("a",)), ("dj", ("d",)),
              (_YEH, ("\u06d0", "\u06cd")), (_HEH, ("\u06c1", "\u06be")))
_STAND_IN = re.compile("|".join(re.escape(typed) for typed, _ in _STAND_INS))

_local = threading.local()  # ICU, OpenCC and Snowball objects are not thread-safe


def _transliterator(name: str):
    found = getattr(_local, name.replace("-", "_"), None)
    if found is None:
        # ICU (8 MB resident once imported) and OpenCC (below) are imported when a text first
        # needs them: a crawl of text that never does (ASCII words, no Han) never pays for them.
        import icu

        found = icu.Transliterator.createInstance(name)
        setattr(_local, name.replace("-", "_"), found)
    return found


def _stemmer(algorithm: str):
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    if algorithm not in stemmers:
        stemmers[algorithm] = Stemmer.Stemmer(algorithm)
    return stemmers[algorithm]


def _hong_kong_to_simplified(char: str) -> str:
    converter = getattr(_local, "hk2s", None)
    if converter is None:
        import opencc

        converter = _local.hk2s = opencc.OpenCC("hk2s")
    return converter.convert(char)


@functools.cache  # bounded by the CJK characters there are
def _simplified(char: str) -> str:
    """One Han character as simplified Chinese: OpenCC's Hong Kong and traditional tables (which
    know the variant characters, 衞 峯 綫), then ICU's Traditional-Simplified; itself when either
    gives more than one character."""
    out = _hong_kong_to_simplified(char)
    out = out if len(out) == 1 else char
    folded = _transliterator("Traditional-Simplified").transliterate(out)
    return folded if len(folded) == 1 else out


# -- Indic normalisation (Lucene's IndicNormalizer, HindiNormalizer, BengaliNormalizer) ----------

# Decomposed spellings composed (Unicode 5.2's South Asian scripts chapter, as Lucene's
# IndicNormalizer lists them); the nukta letters are left to the normalisers, which drop nukta.
_DEVANAGARI_COMPOSED = (
    ("\u0905\u093e\u0945", "\u0911"), ("\u0905\u093e\u0946", "\u0912"), ("\u0905\u093e\u0947", "\u0913"),
    ("\u0905\u093e\u0948", "\u0914"), ("\u0905\u093e", "\u0906"), ("\u0905\u0945", "\u0972"),
    ("\u0905\u0946", "\u0904"), ("\u0905\u0949", "\u0911"), ("\u0905\u094a", "\u0912"),
    ("\u0905\u094b", "\u0913"), ("\u0905\u094c", "\u0914"), ("\u0906\u0945", "\u0911"),
    ("\u0906\u0946", "\u0912"), ("\u0906\u0947", "\u0913"), ("\u0906\u0948", "\u0914"),
    ("\u0909\u0941", "\u090a"), ("\u090f\u0945", "\u090d"), ("\u090f\u0946", "\u090e"),
    ("\u090f\u0947", "\u0910"), ("\u093e\u0945", "\u0949"), ("\u093e\u0946", "\u094a"),
    ("\u093e\u0947", "\u094b"), ("\u093e\u0948", "\u094c"),
)  # fmt: skip
_BENGALI_COMPOSED = (
    ("\u0985\u09be", "\u0986"), ("\u09a4\u09cd\u200d", "\u09ce"), ("\u09c7\u09be", "\u09cb"),
    ("\u09c7\u09d7", "\u09cc"), ("\u09a1\u09bc", "\u09dc"), ("\u09a2\u09bc", "\u09dd"),
    ("\u09af\u09bc", "\u09df"),
)  # fmt: skip
_INDIC_COMPOSED = {script: re.compile("|".join(re.escape(k) for k, _ in table))
                   for script, table in (("deva", _DEVANAGARI_COMPOSED), ("beng", _BENGALI_COMPOSED))}
_INDIC_COMPOSITION = {script: dict(table) for script, table in
                      (("deva", _DEVANAGARI_COMPOSED), ("beng", _BENGALI_COMPOSED))}
# Hindi (Pingali and Varma, with Larkey et al.'s additions): dead n before a virama as anusvara,
# candrabindu as anusvara, nukta dropped (and the nukta letters as their base), ZWJ and ZWNJ and
# viramas dropped, chandra and short vowels as the plain ones, long vowels as short.
_HINDI_DEAD_N = re.compile("\u0928\u094d")
_HINDI = str.maketrans({
    "\u0901": "\u0902", "\u093c": None, "\u0929": "\u0928", "\u0931": "\u0930", "\u0934": "\u0933",
    "\u0958": "\u0915", "\u0959": "\u0916", "\u095a": "\u0917", "\u095b": "\u091c", "\u095c": "\u0921",
    "\u095d": "\u0922", "\u095e": "\u092b", "\u095f": "\u092f", "\u200d": None, "\u200c": None,
    "\u094d": None, "\u0945": "\u0947", "\u0946": "\u0947", "\u0949": "\u094b", "\u094a": "\u094b",
    "\u090d": "\u090f", "\u090e": "\u090f", "\u0911": "\u0913", "\u0912": "\u0913", "\u0972": "\u0905",
    "\u0906": "\u0905", "\u0908": "\u0907", "\u090a": "\u0909", "\u0960": "\u090b", "\u0961": "\u090c",
    "\u0910": "\u090f", "\u0914": "\u0913", "\u0940": "\u093f", "\u0942": "\u0941", "\u0944": "\u0943",
    "\u0963": "\u0962", "\u0948": "\u0947", "\u094c": "\u094b",
})  # fmt: skip
_DEVANAGARI = re.compile("[\u0900-\u097f]")
_BENGALI = re.compile("[\u0980-\u09ff]")
_B_VIRAMA, _B_YA, _B_BA, _B_KA, _B_SSA = "\u09cd", "\u09af", "\u09ac", "\u0995", "\u09b7"
# Bengali letters folded one for one (UzZaman and Khan, as Lucene's BengaliNormalizer): long i
# and u as short, nga as anusvara, the three sibilants as one, nna as na, rra and rha as ra,
# khanda ta as ta; chandrabindu dropped.
_BENGALI_LETTERS = str.maketrans({
    "\u0981": None, "\u09c0": "\u09bf", "\u09c2": "\u09c1", "\u0999": "\u0982", "\u09b6": "\u09b8",
    "\u09b7": "\u09b8", "\u09a3": "\u09a8", "\u09dc": "\u09b0", "\u09dd": "\u09b0", "\u09ce": "\u09a4",
})  # fmt: skip


def _indic_composed(word: str, script: str) -> str:
    pattern = _INDIC_COMPOSED[script]
    if not pattern.search(word):
        return word
    return pattern.sub(lambda m: _INDIC_COMPOSITION[script][m.group(0)], word)


def _hindi(word: str) -> str:
    """A Devanagari word as Lucene's Indic and Hindi normalisers leave it."""
    word = _indic_composed(word, "deva")
    return _HINDI_DEAD_N.sub("\u0902", word).translate(_HINDI)


def _bengali(word: str) -> str:
    """A Bengali word as Lucene's Indic and Bengali normalisers leave it (ZWJ and ZWNJ, which
    only choose a glyph once khanda ta is composed, dropped first)."""
    chars = list(_JOINERS.sub("", _indic_composed(word, "beng")))
    out: list[str] = []
    i = 0
    while i < len(chars):
        char = chars[i]
        nxt = chars[i + 1] if i + 1 < len(chars) else ""
        if char == _B_KA and nxt == _B_VIRAMA and i + 2 < len(chars) and chars[i + 2] == _B_SSA:
            out.append("\u0996")  # khio (ka, virama, ssa) as kha
            i += 3
            continue
        if char == _B_YA and out and out[-1] == _B_VIRAMA:  # ja-phala
            out.pop()
            if len(out) == 1:  # the word's first consonant: its vowel e, an aa after it dropped
                out.append("\u09c7")
                if nxt == "\u09be":
                    i += 1
            i += 1
            continue
        if char == _B_BA and out and out[-1] == _B_VIRAMA:  # ba-phala
            if len(out) == 2 or (len(out) >= 5 and out[-3] == _B_VIRAMA):
                out.pop()
            elif len(out) >= 2:
                out[-1] = out[-2]  # the consonant before doubled
            i += 1
            continue
        if char == "\u0983":  # visarga: a final one as ha (short words) or dropped, else doubling
            if i == len(chars) - 1:
                if len(chars) <= 3:
                    out.append("\u09b9")
            else:
                out.append(nxt)
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out).translate(_BENGALI_LETTERS)


# -- words --------------------------------------------------------------------------------------


# How many distinct words each of the three caches below keeps. A word held in all three is
# about 0.9-1.3 KB (tracemalloc: DW's words in five languages; 17-letter German test words), and
# a crawl of DW's text meets far more distinct words than the generated bench sites' twenty: at
# 200,000 entries each the caches alone could grow a long crawl by ~250 MiB; at this size by at
# most ~22 MiB (tests/test_search.py). A word missed is folded again in 1-3 us.
WORD_CACHE_SIZE = 16_384


@functools.lru_cache(maxsize=WORD_CACHE_SIZE)
def _fold_part(part: str, strip_article: bool = False) -> str:
    """One part of a word (case-folded, NFKC, no CJK, no ZWNJ in Arabic script) with its letters
    folded; may be "". `strip_article`: the Arabic article dropped (an article in Arabic)."""
    if part.isascii():
        return part
    part = part.translate(_DIGITS)
    if _DEVANAGARI.search(part):
        part = _hindi(part)
    if _BENGALI.search(part):
        part = _bengali(part)
    part = _JOINERS.sub("", part)
    part = unicodedata.normalize("NFC", _DIACRITICS.sub("", unicodedata.normalize("NFD", part)))
    if _ARABIC_SCRIPT.search(part):
        part = _ARABIC_MARKS.sub("", part).translate(_ARABIC_LETTERS)
        if strip_article:
            stripped = _ARTICLE.sub("", part, count=1)
            if len(stripped) >= 2:
                part = stripped
    if "ґ" in part:
        part = part.translate(str.maketrans(_CYRILLIC))
    if _LATIN_LEFT.search(part):
        part = _transliterator("Latin-ASCII").transliterate(part).lower()
    return part


@functools.lru_cache(maxsize=WORD_CACHE_SIZE)
def _stem(part: str, algorithm: str) -> str:
    """The folded stem of a case-folded word part (stemmed before its letters are folded); ""
    when shorter than two letters (a stem `e` of `EU` would match nearly everything)."""
    stem = _fold_part(_stemmer(algorithm).stemWord(_JOINERS.sub("", part)), algorithm == ARABIC)
    return stem if len(stem) >= 2 else ""


@dataclass(frozen=True)
class _Unit:
    """What one printed unit of a word is indexed as: a word without CJK, or one Han, kana or
    Hangul character, or a run of other letters inside a CJK word. `start`, `end`: its offsets
    in the word; `tokens`: its folded tokens, in order (more than one where a ZWNJ splits it);
    `spellings`: its other spellings; `parts`: the case-folded parts its stems are made from (a
    half-spaced word's parts, then the whole word without its half-spaces)."""

    start: int
    end: int
    tokens: tuple[str, ...]
    spellings: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()
    cjk: bool = False


def _segments(word: str) -> Iterator[tuple[bool, int, int]]:
    """(is CJK, start, end) of each run of Han, kana, Hangul and of the rest in one word."""
    start = 0
    for match in _CJK_RUN.finditer(word):
        if match.start() > start:
            yield False, start, match.start()
        yield True, match.start(), match.end()
        start = match.end()
    if start < len(word):
        yield False, start, len(word)


@functools.lru_cache(maxsize=WORD_CACHE_SIZE)
def _units(word: str, strip_article: bool = False) -> tuple[_Unit, ...]:
    """The units of one word as `_WORD` finds it in the text (see `_Unit`)."""
    if word.isascii():
        lower = word.lower()
        return (_Unit(0, len(word), (lower,), (), (lower,)),)
    units = []
    for cjk, start, end in _segments(word):
        if cjk:
            for at in range(start, end):
                char = unicodedata.normalize("NFKC", word[at])
                units.append(_Unit(at, at + 1, (_simplified(char),), cjk=True))
            continue
        text = word[start:end]
        unit = _other_unit(text, strip_article)
        if unit is not None:  # its offsets without the invisible characters at either end
            units.append(_Unit(start + _lead(text), end - _trail(text), *unit))
    return tuple(units)


def _lead(text: str) -> int:
    n = 0
    while n < len(text) and _INVISIBLE.match(text, n):
        n += 1
    return n


def _trail(text: str) -> int:
    n = 0
    while n < len(text) and _INVISIBLE.match(text, len(text) - n - 1):
        n += 1
    return n


def _other_unit(text: str, strip_article: bool) -> tuple | None:
    """(tokens, spellings, parts) of a run of non-CJK word characters; None when it holds none
    (only format characters, variation selectors)."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).casefold()
    if ZWNJ in text and _ARABIC_SCRIPT.search(text):
        parts = [p for p in text.split(ZWNJ) if p]
    else:
        parts = [text]
    tokens, spellings, kept, every = [], [], [], []
    for part in parts:
        folded = _fold_part(part, strip_article)
        if not folded:
            continue
        every.append(folded)
        # The ezafe written ه‌ی: a lone yeh after a heh is the heh's, as ۀ is.
        if folded == _YEH and tokens and tokens[-1].endswith(_HEH):
            continue
        tokens.append(folded)
        kept.append(part)
        if _SPELLED_LETTERS.search(part):
            spelled = _fold_part(part.translate(_SPELLED), strip_article)
            if spelled != folded:
                spellings.append(spelled)
    if not tokens:
        return None
    if len(every) > 1:
        spellings.append("".join(every))  # the word typed without its half-spaces
        kept.append("".join(parts))  # and stemmed as one word too
    return tuple(tokens), tuple(spellings), tuple(kept)


def _words(text: str) -> Iterator[re.Match]:
    """The words of a text (see `_WORD`)."""
    return _WORD.finditer(text.translate(_SEPARATORS))


def _analyze(text: str | None, language: str | None = None, sink: _Sink | None = None) -> str:
    """`text` as indexed: its tokens separated by spaces; each token, spelling and stem (by
    `language`'s stemmer) also put in `sink` when given."""
    if not text:
        return ""
    if text.isascii():  # an ASCII word is its own token in lower case: one pass in C
        tokens = _ASCII_WORD.findall(text.lower())
        if sink is not None:
            sink.ascii(tokens)
        return " ".join(tokens)
    strip_article = language == "ar"
    tokens: list[str] = []
    for match in _words(text):
        for unit in _units(match.group(0), strip_article):
            tokens += unit.tokens
            if sink is not None:
                sink.add(unit)
    return " ".join(tokens)


class _Sink:
    """The tokens, spellings and stems of one article's words, as `search_row` collects them."""

    def __init__(self, algorithm: str | None):
        self.algorithm = algorithm
        self.tokens: set[str] = set()
        self.spellings: set[str] = set()
        self.stems: set[str] = set()
        self.seen: set = set()

    def ascii(self, tokens: list[str]) -> None:
        new = set(tokens) - self.tokens
        self.tokens |= new
        if self.algorithm:
            self.stems.update(_stem(token, self.algorithm) for token in new)

    def add(self, unit: _Unit) -> None:
        if unit in self.seen:
            return
        self.seen.add(unit)
        self.tokens.update(unit.tokens)
        self.spellings.update(unit.spellings)
        if self.algorithm and not unit.cjk:
            self.stems.update(_stem(part, self.algorithm) for part in unit.parts)


def fold(text: str | None, language: str | None = None) -> str:
    """`text` as it is indexed and searched, its tokens separated by spaces (see the module doc);
    `language` the article's (Arabic drops the article); "" for None."""
    return _analyze(text, language)


def _as_list(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value or [])


def search_row(article: Mapping) -> dict[str, str]:
    """The tokens of each searchable column of one article (a dict as the archive stores it,
    with its `language`), its `spellings` and its `stems`."""
    language = article.get("language") or None
    algorithm = STEMMERS.get(language or "")
    sink = _Sink(algorithm)
    row = {name: _analyze(article.get(name), language, sink) for name in ("title", "teaser", "body")}
    others = _Sink(None)
    row["credit_line"] = _analyze(article.get("credit_line"), language, others)
    row["authors"] = _analyze(", ".join(str(name) for name in _as_list(article.get("authors"))),
                              language, others)
    row["agencies"] = _analyze(", ".join(_agency_text(name) for name in _as_list(article.get("agencies"))),
                               language, others)
    tokens = sink.tokens | others.tokens
    row["spellings"] = " ".join(sorted((sink.spellings | others.spellings) - tokens))
    stems = sorted(stem for stem in sink.stems - tokens if stem)
    row["stems"] = " ".join(([_TAG + algorithm] if algorithm else [])
                            + [_marked(algorithm, stem) for stem in stems])
    return row


def _agency_text(name) -> str:
    """An agency as indexed: its name, full name and one-word printed forms (`rtr`, رويترز), so
    any of them finds every story the agency supplied, whatever its credit line prints."""
    words = [f for f in printed_forms(str(name)) if re.fullmatch(r"\w+", f) and f != str(name).casefold()]
    full = AGENCIES.get(name, name)
    return " ".join([str(name)] + ([f"({full})"] if full != name else []) + words)


# -- the table ------------------------------------------------------------------------------


def create(db: Database) -> None:
    """Create the search table if it is missing or was made with other columns or another
    tokenizer, filling it from the archived articles; idempotent.

    Runs in its own IMMEDIATE transaction, so two workers opening one archive create it once.
    """
    if _definition(db.conn) == _DEFINITION:
        return
    conn: sqlite3.Connection = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _definition(conn)
        if found != _DEFINITION:
            if found:  # an index of an older definition: it is derived data, made again
                conn.execute(f"DROP TABLE {TABLE}")
            conn.execute(_DEFINITION)
            conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('automerge', 0)")
            conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('rank', ?)", [RANK])
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
                count = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
                if found and count:
                    logger.warning("The search index was made by an older version of dw-archive:"
                                   " indexing the %d archived articles again (about 1 min per 100,000)",
                                   count)
                started = time.monotonic()
                index_all(db)
                if found and count:
                    logger.warning("Search index made again: %d articles in %.0f s", count,
                                   time.monotonic() - started)
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")


_DEFINITION = f'CREATE VIRTUAL TABLE {TABLE} USING fts5({", ".join(COLUMNS)}, tokenize="{TOKENIZER}")'


def _definition(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [TABLE]).fetchone()
    return row[0] if row else None


def outdated(conn: sqlite3.Connection) -> bool:
    """Whether the archive on `conn` has a search index made by an older version (other columns
    or tokenizer), which this version's searches cannot read: index it again (`rebuild`; a crawl
    does it when it opens the archive)."""
    found = _definition(conn)
    return found is not None and found != _DEFINITION


OUTDATED = ("This archive's search index was made by an older version of dw-archive; search it"
            " after indexing it again: `.venv/bin/python -m crawler.search ARCHIVE` (about 1 min per"
            " 100,000 articles), or crawl once (the crawl does it when it opens the archive).")


def index_all(db: Database) -> None:
    """Index every row of `articles` (for a table filled around the archive, e.g. by the bench);
    rows indexed already must not be (see `rebuild`)."""
    fields = ("language", *TEXT_COLUMNS)
    rows = db.conn.execute(f"SELECT id, {', '.join(fields)} FROM articles")
    articles = ({"id": r[0], **dict(zip(fields, r[1:], strict=True))} for r in rows)
    while chunk := list(itertools.islice(articles, 10_000)):  # memory bounded at any size
        index_rows(db, chunk, replace=False)


def ensure_config(db: Database) -> None:
    """FTS5's automerge off and its `rank` the weighted bm25 (`RANK`) in an index made before
    they were (config rows; idempotent)."""
    config = dict(db.conn.execute(f"SELECT k, v FROM {TABLE}_config WHERE k IN ('automerge', 'rank')"))
    if config.get("automerge") != 0:
        db.conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('automerge', 0)")
    if config.get("rank") != RANK:
        db.conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('rank', ?)", [RANK])


def merge(db: Database, pages: int = 2000, max_rounds: int = 1000) -> int:
    """Merge the index's small segments, as automerge would have (levels of >= 4 segments), in
    steps of `pages` pages each in its own transaction, until nothing is left to merge or
    `max_rounds` steps are done; the number of steps that did work.

    Called when the crawl is idle. Raises sqlite3.Error (e.g. locked) like any write.
    """
    conn: sqlite3.Connection = db.conn
    rounds = 0
    while rounds < max_rounds:
        before = conn.total_changes
        conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('merge', ?)", [pages])
        if conn.total_changes - before <= 1:  # only the command's own row: nothing merged
            break
        rounds += 1
    return rounds


def rebuild(db: Database) -> int:
    """Index every archived article again; the number of search rows."""
    db.execute(f"DROP TABLE IF EXISTS {TABLE}")
    create(db)
    return db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def index_rows(db: Database, articles: Iterable[Mapping], *, replace: bool = True) -> None:
    """Replace the search rows of several articles: one executemany of deletes (unless
    `replace` is False: the articles are not indexed yet), one of inserts."""
    conn: sqlite3.Connection = db.conn
    marks = ", ".join("?" * len(COLUMNS))
    rows = []
    for article in articles:
        row = search_row(article)
        rows.append([article["id"], *(row[c] for c in COLUMNS)])
    if replace:
        conn.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [[row[0]] for row in rows])
    conn.executemany(f"INSERT INTO {TABLE} (rowid, {', '.join(COLUMNS)}) VALUES (?, {marks})", rows)


# -- what a reader typed ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Alt:
    """One way a term matches: the phrase `tokens` (one token: a word) in `scope` ("exact": the
    text columns, and `spellings` for one token; "text": the text columns only; "stem": the
    stem `tokens[0]` by one of the stemmers `tags` among an article's `stems`, or among the words
    of its text or spellings in an article tagged with one of them; "stored stem": only the
    former, the stem being a word the term's "exact" alternative finds in any article), only in
    articles tagged with one of `tags` (their stemmer's) when there are any, and holding each
    spelling of `proof`."""

    tokens: tuple[str, ...]
    scope: str = "exact"
    tags: tuple[str, ...] = ()
    proof: tuple[str, ...] = ()


# A term: its alternatives (any one matches). A clause: its options, each a list of terms (all
# of them match). A query: its clauses (all of them match).
_Term = tuple[_Alt, ...]
_Clause = tuple[tuple[_Term, ...], ...]

_PHRASE = re.compile(r'\s+|(".*?")')
_MAX_ALTERNATIVES = 8  # ways one typed phrase or word is spelled, at most
_MAX_RUN = 3  # Perso-Arabic words typed apart that are also tried joined, at most


# What one search reads of what a reader typed: its first 64 words (a Han, kana or Hangul
# character counts as one word), within its first 2,000 characters; the rest is left out (the
# list's page says so). Each word costs an FTS5 term, and finding the words in the matched
# articles' text for snippets and highlights runs in datasette's event loop, where a query of
# 1,000 repeated words once blocked every other request for over a minute.
MAX_QUERY_WORDS = 64
MAX_QUERY_CHARACTERS = 2000


def searched(query: str) -> tuple[str, bool]:
    """(the part of `query` a search reads, whether anything with words was left out): `query`
    up to its `MAX_QUERY_WORDS`th word, within `MAX_QUERY_CHARACTERS`."""
    kept = query[:MAX_QUERY_CHARACTERS]
    cut = len(query) > MAX_QUERY_CHARACTERS and any(True for _ in _words(query[MAX_QUERY_CHARACTERS:]))
    count = 0
    for match in _words(kept):
        for unit in _units(match.group(0)):
            count += len(unit.tokens)
            if count > MAX_QUERY_WORDS:
                return kept[:match.start() + unit.start], True
    return kept, cut


def _terms(query: str) -> list[str]:
    """The words and "quoted phrases" of what a reader typed (an unpaired quote closed), its
    first `MAX_QUERY_WORDS` words (`searched`)."""
    query = searched(query)[0]
    if query.count('"') % 2:
        query += '"'
    return [t for t in _PHRASE.split(query) if t and t != '""']


def _typed_units(text: str) -> list[list[_Unit]]:
    """The units of each word typed."""
    return [list(_units(match.group(0))) for match in _words(text)]


def _algorithms(word: str, languages: Iterable[str] | None) -> tuple[str, ...]:
    if languages is not None:
        return tuple(dict.fromkeys(STEMMERS[lang] for lang in languages if lang in STEMMERS))
    for script, algorithms in _SCRIPT_STEMMERS:
        if script.match(word):
            return algorithms
    return ()


def _arabic_allowed(languages: Iterable[str] | None) -> bool:
    return languages is None or "ar" in languages


def _spelled_as_typed(tokens: tuple[str, ...]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The printed forms a typed phrase may stand for (see `_STAND_INS`): (tokens, the typed
    tokens that must be an article's spellings), at most `_MAX_ALTERNATIVES`."""
    choices = []
    for token in tokens:
        options = [(token, ())]
        spots = list(_STAND_IN.finditer(token))[:3]
        for chosen in itertools.product(*[[None, *dict(_STAND_INS)[m.group(0)]] for m in spots]):
            if all(c is None for c in chosen):
                continue
            out, at = [], 0
            for match, printed in zip(spots, chosen, strict=True):
                out += [token[at:match.start()], match.group(0) if printed is None else printed]
                at = match.end()
            options.append(("".join(out) + token[at:], (token,)))
        choices.append(options)
    found = []
    for combination in itertools.product(*choices):
        if len(found) == _MAX_ALTERNATIVES:
            break
        proof = tuple(p for _, proofs in combination for p in proofs)
        if proof:
            found.append((tuple(t for t, _ in combination), proof))
    return found


def _joined(words: list[list[_Unit]]) -> list[tuple[str, ...]]:
    """The typed words' tokens with the half-spaced words joined, and with adjacent Perso-Arabic
    words joined (a word typed apart that is printed as one), at most `_MAX_ALTERNATIVES`."""
    pieces: list[list[tuple[str, ...]]] = []
    for units in words:
        options = [tuple(t for u in units for t in u.tokens)]
        if any(len(u.tokens) > 1 for u in units):
            options.append(tuple("".join(u.tokens) for u in units))
        pieces.append(options)
    found = []
    arabic = [all(_ARABIC_SCRIPT.search(t) for option in options for t in option) for options in pieces]
    for combination in itertools.product(*pieces):
        # Only where two one-token Perso-Arabic words meet may they be joined: the other gaps
        # are never tried (2 ** words ways to try on a long phrase otherwise).
        gaps = [n for n in range(len(combination) - 1) if arabic[n] and arabic[n + 1]
                and len(combination[n]) == 1 and len(combination[n + 1]) == 1]
        for chosen in itertools.product((False, True), repeat=len(gaps)):
            if len(found) == _MAX_ALTERNATIVES:
                return found
            joins = {n for n, g in zip(gaps, chosen, strict=True) if g}
            glue = [n in joins for n in range(len(combination) - 1)]
            tokens = list(combination[0])
            for n, g in enumerate(glue):
                if g:
                    tokens[-1] += combination[n + 1][0]
                else:
                    tokens += combination[n + 1]
            found.append(tuple(tokens))
    return found


def _without_article(tokens: tuple[str, ...]) -> tuple[str, ...] | None:
    """The tokens as an article in Arabic holds them (the article dropped); None when the same."""
    out = tuple(_fold_part(t, True) if _ARABIC_SCRIPT.search(t) else t for t in tokens)
    return out if out != tokens else None


def _keyboard(words: list[list[_Unit]]) -> tuple[str, ...] | None:
    """The typed words as an article printing them without letters its writer lacked holds them
    in its text (`_TYPED_WITHOUT`: `München` printed `Muenchen`); None when the same."""
    out, changed = [], False
    for units in words:
        for unit in units:
            if unit.cjk or not _TYPED_WITHOUT_LETTERS.search("".join(unit.parts)):
                out += unit.tokens
                continue
            changed = True
            if len(unit.tokens) == 1:
                out.append(_fold_part(unit.parts[0].translate(_TYPED_WITHOUT)))
            else:
                out += [_fold_part(t.translate(_TYPED_WITHOUT)) for t in unit.tokens]
    return tuple(out) if changed else None


def _term(text: str, quoted: bool, languages: Iterable[str] | None, stems: bool) -> _Term:
    """The alternatives of one typed word or "quoted phrase" (see `_Alt`)."""
    words = [units for units in _typed_units(text) if units]
    if not words:
        return ()
    alts: list[_Alt] = []
    spellings = _joined(words)
    for tokens in spellings:
        alts.append(_Alt(tokens))
        if _arabic_allowed(languages) and (bare := _without_article(tokens)) is not None:
            alts.append(_Alt(bare, tags=(ARABIC,)))

    if (typed := _keyboard(words)) is not None:
        alts.append(_Alt(typed, scope="text"))
    if len(spellings[0]) > 1:  # a phrase: its words as printed with the letters typed as two
        alts += [_Alt(tokens, proof=proof) for tokens, proof in _spelled_as_typed(spellings[0])]
    units = words[0]
    if stems and not quoted and len(words) == 1 and len(units) == 1 and not units[0].cjk:
        part = units[0].parts[-1]  # a half-spaced word: stemmed as one word
        word = _fold_part(part)
        by_stem: dict[str, list[str]] = {}
        algorithms = _algorithms(word, languages)
        for algorithm in algorithms:
            stem = _stem(part, algorithm)
            if stem:
                by_stem.setdefault(stem, []).append(algorithm)
        # The word typed may itself be the stem of the article's words (`seçim` of `seçimler`,
        # which Snowball's Turkish stems to `seç`).
        if len(word) >= 2:
            by_stem.setdefault(word, []).extend(a for a in algorithms if a not in by_stem[word])
        exact = {alt.tokens for alt in alts if alt.scope == "exact"}
        alts += [_Alt((stem,), scope="stored stem" if (stem,) in exact else "stem", tags=tuple(tags))
                 for stem, tags in by_stem.items() if tags]
    return tuple(dict.fromkeys(alts))


def _clauses(query: str, languages: Iterable[str] | None, stems: bool) -> list[_Clause]:
    """What a reader typed as clauses (see `_Term`): each word and phrase a term; consecutive
    Perso-Arabic words also as one word, joined (printed without the space typed)."""
    clauses: list[_Clause] = []
    run: list[str] = []

    def close_run() -> None:
        if not run:
            return
        for start in range(0, len(run), _MAX_RUN):
            chunk = run[start:start + _MAX_RUN]
            options = []
            for glue in itertools.product((False, True), repeat=len(chunk) - 1):
                groups, current = [], chunk[0]
                for word, g in zip(chunk[1:], glue, strict=True):
                    if g:
                        current += word
                    else:
                        groups.append(current)
                        current = word
                groups.append(current)
                terms = tuple(_term(g, False, languages, stems) for g in groups)
                if all(terms):
                    options.append(terms)
            if options:
                clauses.append(tuple(options))
        run.clear()

    for text in _terms(query):
        quoted = text.startswith('"')
        if not quoted and _ARABIC_SCRIPT.search(text) and len(list(_words(text))) == 1:
            run.append(text)
            continue
        close_run()
        term = _term(text.strip('"') if quoted else text, quoted, languages, stems)
        if term:
            clauses.append(((term,),))
    close_run()
    return clauses


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


_TEXT = "{" + " ".join(TEXT_COLUMNS) + "}"
_TEXT_AND_SPELLINGS = "{" + " ".join((*TEXT_COLUMNS, "spellings")) + "}"


def _any(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _render_alt(alt: _Alt) -> str:
    phrase = _quoted(" ".join(alt.tokens))
    tags = _any([_quoted(_TAG + tag) for tag in alt.tags])
    if alt.scope in ("stem", "stored stem"):
        stored = "stems: " + _any([_quoted(_marked(tag, alt.tokens[0])) for tag in alt.tags])
        if alt.scope == "stored stem":
            return stored
        return f"({stored} OR ({_TEXT_AND_SPELLINGS}: {phrase} AND stems: {tags}))"
    if alt.scope == "exact" and len(alt.tokens) == 1:
        expression = f"{_TEXT_AND_SPELLINGS}: {phrase}"
    else:
        expression = f"{_TEXT}: {phrase}"
    conditions = [expression] + [f"spellings: {_quoted(p)}" for p in alt.proof]
    if alt.tags:
        conditions.append(f"stems: {tags}")
    return conditions[0] if len(conditions) == 1 else "(" + " AND ".join(conditions) + ")"


def _render(clauses: list[_Clause]) -> str:
    any_of = _any

    def all_of(parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    rendered = [any_of([all_of([any_of([_render_alt(a) for a in term]) for term in option])
                        for option in clause]) for clause in clauses]
    return " AND ".join(dict.fromkeys(rendered))  # a word typed twice is one condition


def match_query(query: str, languages: Iterable[str] | None = None, *, stems: bool = True) -> str:
    """An FTS5 MATCH expression for what a reader typed, analysed as the index is.

    Words are ANDed; each matches itself folded (in the text columns or `spellings`) or, for a
    single word (no CJK), its stem by each Snowball stemmer of `languages` (DW language codes),
    or when None of its script, in an article of that stemmer's language (`stems=False`: no
    stems, which is `exact_query`). A word in Arabic script also matches without its article in
    articles in Arabic. A "quoted phrase" is that phrase, unstemmed. FTS5 operators are taken as
    words. "" when nothing typed holds a word.

    What a reader typed that names an agency as a whole (crawler/dw/credits.py's
    `canonical_agency`: `أ ف ب`, `The Associated Press`, `agencia lusa`) finds every story
    the agency supplied (its canonical name in `agencies`), and that phrase in the text.
    """
    languages = list(languages) if languages is not None else None
    agency = canonical_agency(query) if '"' not in query else None
    if agency is not None:
        typed = fold(query).split()
        names = _quoted(fold(agency))
        if typed:
            return f"({_TEXT}: {_quoted(' '.join(typed))}) OR (agencies: {names})"
        return f"agencies: {names}"
    return _render(_clauses(query, languages, stems))


def exact_query(query: str, languages: Iterable[str] | None = None) -> str:
    """`match_query` without stems: the articles that match what a reader typed as printed
    (folded, in its other spellings), which rank above those matched through a stem."""
    return match_query(query, languages, stems=False)


# A search matching more articles than this is listed newest first and neither counted, faceted
# nor ranked by the archive's views (plugins/): each of those reads every match, past the time
# datasette allows a page at 1M articles (833,000 matches: count 0.6 s, each facet > 0.2 s,
# bm25 > 0.5 s on two cores). The metadata's `plugins: dw_search: many_matches` sets another.
MANY_MATCHES = 100_000


def many_matches(plugin_config: Mapping | None) -> int:
    """`MANY_MATCHES`, or what the metadata's `plugins: dw_search:` config (`plugin_config`, as
    datasette's `plugin_config("dw_search")` gives it) sets as `many_matches`."""
    return int((plugin_config or {}).get("many_matches", MANY_MATCHES))

# An empty phrase: a valid FTS5 expression that matches no row (an empty MATCH is an error).
MATCH_NOTHING = '""'


def languages_named(value: str | None) -> list[str] | None:
    """DW language codes a reader named (`de`, `de fr`, `de,fr`, any case), or None for none."""
    found = [code.lower() for code in re.split(r"[\s,]+", value or "") if code]
    return found or None


def match_or_nothing(query: str | None, languages: str | None = None) -> str:
    """`match_query` (stemmed only in `languages`, codes as `languages_named` reads them, when
    any), or `MATCH_NOTHING` when the reader typed no search words (`""`, blanks)."""
    return match_query(query or "", languages_named(languages)) or MATCH_NOTHING


def exact_or_nothing(query: str | None, languages: str | None = None) -> str:
    """`exact_query`, or `MATCH_NOTHING` (see `match_or_nothing`)."""
    return exact_query(query or "", languages_named(languages)) or MATCH_NOTHING


def has_words(query: str | None) -> bool:
    """Whether what a reader typed holds any search word (`""` and blanks do not)."""
    return bool(match_query(query or ""))


def tier(alias: str = "s", parameter: str = ":dw_exact") -> str:
    """SQL: 0 for a row of `articles_search` (as `alias`) that `exact_query` (bound to
    `parameter`) matches, 1 for one matched through a stem only."""
    return f"{alias}.rowid not in (select rowid from {TABLE} where {TABLE} match {parameter})"


def bm25(weights: Iterable[float] = WEIGHTS) -> str:
    """SQL: FTS5's bm25 of a matched row of `articles_search`, the columns weighted."""
    return f"bm25({TABLE}, {', '.join(str(w) for w in weights)})"


def order_by(alias: str = "s", parameter: str = ":dw_exact") -> str:
    """The ORDER BY terms of a ranked search over `articles_search` (as `alias`): the articles
    matching `exact_query` (bound to `parameter`) first, then by bm25 (`WEIGHTS`)."""
    return f"{tier(alias, parameter)}, {bm25()}"


# -- where the words are in the text, for highlights and snippets ---------------------------


def spans(text: str | None, query: str | None, language: str | None = None) -> list[tuple[int, int]]:
    """(start, end) character offsets in `text` (as stored, an article in `language`) of what
    `query` finds, analysed and matched as `match_query` matches it: each printed word, or Han,
    kana or Hangul character, that a term's alternative matches there (its tokens, a phrase of
    them, one of its spellings, its stem by the article's stemmer, the article dropped in an
    article in Arabic); in text order, adjacent ones joined, not overlapping."""
    if not text or not query:
        return []
    algorithm = STEMMERS.get(language or "")
    alts = [alt for clause in _clauses(query, [language] if language else None, True)
            for option in clause for term in option for alt in term
            if not alt.tags or algorithm in alt.tags]
    if not alts:
        return []
    strip_article = language == "ar"
    units: list[tuple[int, int, _Unit]] = []
    for match in _words(text):
        for unit in _units(match.group(0), strip_article):
            units.append((match.start() + unit.start, match.start() + unit.end, unit))
    # One pass over the text builds where each token, spelling and stem is; each alternative is
    # then looked up, never compared with every token (linear in the text, whatever the query).
    stream = [(token, n) for n, (_, _, unit) in enumerate(units) for token in unit.tokens]
    tokens = [token for token, _ in stream]
    at_token: dict[str, list[int]] = {}
    for at, token in enumerate(tokens):
        at_token.setdefault(token, []).append(at)
    by_spelling: dict[str, list[int]] = {}
    for n, (_, _, unit) in enumerate(units):
        for spelling in unit.spellings:
            by_spelling.setdefault(spelling, []).append(n)
    by_stem: dict[str, list[int]] | None = None
    hit: set[int] = set()
    for alt in dict.fromkeys(alts):
        size = len(alt.tokens)
        if alt.scope in ("stem", "stored stem"):
            stem = alt.tokens[0]
            if by_stem is None:
                by_stem = {}
                for n, (_, _, unit) in enumerate(units):
                    found = {*unit.tokens, *unit.spellings}
                    if algorithm and not unit.cjk:
                        found.update(_stem(p, algorithm) for p in unit.parts)
                    for key in found:
                        by_stem.setdefault(key, []).append(n)
            hit.update(by_stem.get(stem, ()))
            continue
        wanted = list(alt.tokens)
        for at in at_token.get(wanted[0], ()):
            if size == 1 or tokens[at:at + size] == wanted:
                hit.update(stream[k][1] for k in range(at, at + size))
        if size == 1 and alt.scope == "exact":
            hit.update(by_spelling.get(alt.tokens[0], ()))
    merged: list[tuple[int, int]] = []
    for n in sorted(hit):
        start, end, _ = units[n]
        if merged and start <= merged[-1][1] and units[n][2].cjk:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif not merged or start >= merged[-1][1]:
            merged.append((start, end))
    return merged


def snippet(text: str | None, query: str | None, language: str | None = None, *, open: str = "[",
            close: str = "]", ellipsis: str = "…", width: int = 160) -> str | None:
    """The passage of `text` (as stored) around the first word `query` finds, about `width`
    characters, each found word between `open` and `close`; None when none is found."""
    found = spans(text, query, language)
    if not found:
        return None
    first = found[0][0]
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    if start > 0:  # begin and end at a word boundary where the text has spaces
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", found[0][1], end)
        end = space if space >= 0 else end
    out = [ellipsis if start > 0 else ""]
    at = start
    for begin, stop in found:
        if begin < start or stop > end:
            continue
        out += [text[at:begin], open, text[begin:stop], close]
        at = stop
    out += [text[at:end], ellipsis if end < len(text) else ""]
    return "".join(out).replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    """Rebuild the search index of an archive, or search it (--search WORDS)."""
    parser = argparse.ArgumentParser(prog="python -m crawler.search", description=main.__doc__)
    parser.add_argument("archive")
    parser.add_argument("--search", metavar="WORDS", help="print the best matches (id, language,"
                        " headline, passage) of these words, as datasette's search finds them")
    parser.add_argument("--language", metavar="CODES", help="stem only in these DW languages"
                        " (`de`, `de,fr`) and list only their articles")
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    db = Database(sqlite3.connect(args.archive, isolation_level=None))
    try:
        if args.search is not None and outdated(db.conn):
            print(OUTDATED.replace("ARCHIVE", args.archive), file=sys.stderr)
            return 2
        if args.search is None:
            print(f"{rebuild(db)} articles indexed for search in {args.archive}")
            return 0
        languages = languages_named(args.language) or []
        if unknown := [code for code in languages if code not in LANGUAGES]:
            print(f"{', '.join(unknown)}: not a DW language code; they are {' '.join(LANGUAGES)}",
                  file=sys.stderr)
            return 2
        codes = {f"language{n}": code for n, code in enumerate(languages)}
        where = f" AND a.language IN ({', '.join(':' + name for name in codes)})" if codes else ""
        rows = db.execute(
            f"SELECT a.id, a.language, a.title, a.teaser, a.body FROM {TABLE} s"
            f" JOIN articles a ON a.id = s.rowid WHERE {TABLE} MATCH :dw_match{where}"
            f" ORDER BY {order_by()}, a.id LIMIT :limit",
            {"dw_match": match_or_nothing(args.search, args.language),
             "dw_exact": exact_or_nothing(args.search, args.language), "limit": args.limit,
             **codes}).fetchall()
        for article_id, language, title, teaser, body in rows:
            passage = next(filter(None, (snippet(text, args.search, language)
                                         for text in (body, teaser, title))), "")
            print(f"{article_id}\t{language}\t{title}\t{passage}")
        return 0
    finally:
        db.conn.close()


if __name__ == "__main__":
    sys.exit(main())
