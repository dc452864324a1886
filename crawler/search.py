"""The archive's search index: which text of an article is searchable, and how every script is
folded, segmented and stemmed so that a word is found as its readers type it.

One FTS5 table, `articles_search`, one row per article (rowid = the article id). Its columns hold
the *folded* text (`fold`) of the headline, teaser, body, credit line, authors and the agencies
the credit line names (canonical and full names: "Reuters" finds a credit line printing `rtr` or
رويترز), and `forms`: the other forms under which the article's words are found (their stems,
see below). Every way in folds what a reader typed with the same code: `match_query` (datasette's
list search, the saved `search` query through `dw_match`), `spans` and `snippet` (highlights in
the original text). The README's "Search" section says per script what is done and what is not.

Folding (`fold`), word by word, the same for the index and the query (Lucene's analyzers are the
anchor: ICU folding, ASCII folding, Persian and Arabic normalisation, Greek and Turkish
lower-casing, CJK analysis):

- NFKC (presentation forms, full-width letters, ligatures), Unicode case folding (ß -> ss,
  final ς -> σ, İ -> i), the combining diacritics of Latin, Greek and Cyrillic letters removed
  (é -> e, ά -> α, ё -> е, й -> и), the Latin letters that do not decompose (ł đ ø æ œ ı ɓ ɗ ƙ ...)
  to ASCII with ICU's Latin-ASCII transliterator, every decimal digit (Arabic-Indic, Persian,
  Devanagari, Bengali) as 0-9.
- Perso-Arabic: harakat, tatweel and hamza marks removed; alef forms as ا; ی ى ئ ې ۍ ے as ي;
  ک ڪ as ك; ة ہ ۀ ە ھ as ه; ؤ as و; ګ as گ; the Arabic article and the one-letter words joined
  to it (ال, وال, فال, بال, كال, لل) dropped; ZWNJ and ZWJ removed (a word is found typed with or
  without its half-space; its parts are in `forms`, so typed with a space too).
- Han, kana and Hangul: one token per character, simplified Chinese for traditional (ICU's
  Traditional-Simplified, character by character, so index and query agree); a word of any
  length typed in a query is the phrase of its characters, so it is found inside an unspaced
  sentence, and a simplified spelling finds the traditional text and the reverse.
- Indic scripts (Devanagari, Bengali): vowel signs and viramas stay in the word (FTS5's own
  tokenizer cuts words at them: `categories 'L* N* Co M*'` keeps them).

Stemming (Snowball, via PyStemmer): the words of an article in a language with a Snowball
stemmer (`STEMMERS`) add their stems to `forms`, those not already a word of the article, after
a tag token for the stemmer. A query word then matches the word itself, or, for each stemmer of
its script (or of the language the reader filtered by), its stem in an article of that
stemmer's language: `strike` finds *strikes*, `striking` finds *strike*, `Wahl` finds *Wahlen*,
and an English word is not matched through the Turkish stemmer in English articles. A "quoted
phrase" matches only those words in that order, folded, never stemmed.

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
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Mapping

import icu
import Stemmer
from sqlite_utils import Database

from crawler.dw import AGENCIES
from crawler.dw.credits import canonical_agency, printed_forms

TABLE = "articles_search"
# Searchable columns, in bm25 weight order: a hit in the headline counts most. `forms` holds
# stems and other forms of the article's words (never shown: snippets come from the text).
COLUMNS: tuple[str, ...] = ("title", "teaser", "body", "credit_line", "authors", "agencies", "forms")
TEXT_COLUMNS: tuple[str, ...] = COLUMNS[:-1]
WEIGHTS: tuple[float, ...] = (10.0, 4.0, 1.0, 2.0, 2.0, 2.0, 1.0)
# Folding is done here, in Python; FTS5's tokenizer only splits the folded text into words, and
# keeps combining marks inside them (Devanagari and Bengali vowel signs, viramas).
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
# A token in `forms` that says which stemmer made the stems after it (a private-use character,
# which no typed word holds, then the algorithm's name).
_TAG = "\ue000"


def _word_ranges() -> str:
    """A regex character class body: every character FTS5's tokenizer (`categories 'L* N* Co M*'`)
    takes as part of a word, and the joiners ZWNJ, ZWJ."""
    ranges, start = [], None
    for cp in range(0x10001):
        category = unicodedata.category(chr(cp)) if cp < 0x10000 else "Cn"
        inside = category[0] in "LNM" or category == "Co" or cp in (0x200C, 0x200D)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            last = cp - 1
            ranges.append(re.escape(chr(start)) + (f"-{re.escape(chr(last))}" if last > start else ""))
            start = None
    # Beyond the BMP (CJK extensions, historic scripts, emoji) every character counts as a word
    # character: one range keeps the pattern fast (a list of astral ranges is tried one by
    # one for every space), and FTS5's tokenizer still drops what is no letter.
    return "".join(ranges) + "\U00010000-\U0010ffff"


# A word as FTS5's tokenizer sees one (letters, digits, private use, marks), plus the joiners
# inside it (folding removes them).
_WORD = re.compile(f"[{_word_ranges()}]+")
# Han (with CJK compatibility ideographs and extensions), kana, Hangul: one token per character.
_CJK = re.compile("[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
                  "\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
                  "\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]")
_CJK_RUN = re.compile(_CJK.pattern + "+")
# Combining diacritics of Latin, Greek and Cyrillic letters (Indic and Arabic marks are not here).
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_LATIN_LEFT = re.compile("[\u00c0-\u02af\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff]")
# Letter apostrophes (Hausa ʼ, Uzbek ʻ) are typed as ': both are word breaks.
_APOSTROPHES = str.maketrans({"\u02bc": "'", "\u02bb": "'", "\u02b9": "'"})
_DIGITS = {cp: str(unicodedata.decimal(chr(cp))) for cp in range(0x80, 0x20000)
           if unicodedata.category(chr(cp)) == "Nd"}

# Perso-Arabic: harakat and Quranic marks (U+064B-U+065F, U+0670, U+06D6-U+06ED), tatweel.
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTERS = str.maketrans({
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # أ إ آ ٱ -> ا
    "\u0649": "\u064a", "\u06cc": "\u064a", "\u0626": "\u064a",  # ى ی ئ -> ي
    "\u06d0": "\u064a", "\u06cd": "\u064a", "\u06d2": "\u064a", "\u06d3": "\u064a",  # ې ۍ ے ۓ -> ي
    "\u06a9": "\u0643", "\u06aa": "\u0643",  # ک ڪ -> ك
    "\u0629": "\u0647", "\u06c1": "\u0647", "\u06c0": "\u0647", "\u06d5": "\u0647",  # ة ہ ۀ ە -> ه
    "\u06be": "\u0647", "\u06c3": "\u0647",  # ھ ۃ -> ه
    "\u0624": "\u0648",  # ؤ -> و
    "\u06ab": "\u06af",  # ګ -> گ
})  # fmt: skip
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
# The article and the one-letter words that join it: ال, وال, فال, بال, كال, and لل (= ل + ال).
_ARTICLE = re.compile("^(?:[وفبك]?ال|لل)")
_JOINERS = re.compile("[\u200c\u200d]")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})

_local = threading.local()  # ICU transliterators and Snowball stemmers are not thread-safe


def _transliterator(name: str):
    found = getattr(_local, name.replace("-", "_"), None)
    if found is None:
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


@functools.lru_cache(maxsize=4096)
def _simplified(char: str) -> str:
    out = _transliterator("Traditional-Simplified").transliterate(char)
    return out if len(out) == 1 else char


@functools.lru_cache(maxsize=200_000)
def _fold_letters(word: str) -> str:
    """One word, case-folded already (no CJK in it), with its letters folded; may be ""."""
    if word.isascii():
        return word
    word = _JOINERS.sub("", word).translate(_DIGITS)
    word = unicodedata.normalize("NFC", _DIACRITICS.sub("", unicodedata.normalize("NFD", word)))
    if _ARABIC_SCRIPT.search(word):
        word = _ARABIC_MARKS.sub("", word).translate(_ARABIC_LETTERS)
        stripped = _ARTICLE.sub("", word, count=1)
        if len(stripped) >= 2:
            word = stripped
    if _LATIN_LEFT.search(word):
        word = _transliterator("Latin-ASCII").transliterate(word).lower()
    return word


@functools.lru_cache(maxsize=200_000)
def _stem(word: str, algorithm: str) -> str:
    """The folded stem of a case-folded word (stemmed before its accents are folded away); ""
    when it is shorter than two letters (a stem `e` of `EU` would match nearly everything)."""
    stem = _fold_letters(_stemmer(algorithm).stemWord(_JOINERS.sub("", word)))
    return stem if len(stem) >= 2 else ""


def _cjk(run: str) -> str:
    return " ".join(_simplified(c) for c in run)


def _segments(word: str) -> Iterable[tuple[bool, str]]:
    """(is CJK, text) parts of one word: runs of Han, kana, Hangul and of the rest."""
    start = 0
    for match in _CJK_RUN.finditer(word):
        if match.start() > start:
            yield False, word[start:match.start()]
        yield True, match.group(0)
        start = match.end()
    if start < len(word):
        yield False, word[start:]


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return text.translate(_APOSTROPHES) if not text.isascii() else text


def _analyze(text: str | None, algorithm: str | None = None, forms: set | None = None,
             words: set | None = None) -> str:
    """`text` folded word by word (the rest kept); each word's other forms added to `forms` (its
    stem by `algorithm`, the parts a ZWNJ separates, German umlauts as ae/oe/ue), each folded
    word to `words`."""
    if not text:
        return ""
    text = _prepare(text)
    if text.isascii():  # folded, an ASCII word is itself in lower case: one pass in C
        text = text.lower()
        if forms is not None:
            for word in set(_WORD.findall(text)):
                words.add(word)
                forms.update(_word(word, algorithm)[2])
        return text
    if forms is None:
        return _WORD.sub(lambda match: _word(match.group(0), None)[0], text)

    seen: dict[str, tuple] = {}

    def each(match: re.Match) -> str:
        word = match.group(0)
        entry = seen[word] = _word(word, algorithm)
        return entry[0]

    text = _WORD.sub(each, text)
    for _, found, other in seen.values():  # once per distinct word
        words.update(found)
        forms.update(other)
    return text


@functools.lru_cache(maxsize=200_000)
def _word(word: str, algorithm: str | None) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """One word as indexed: (its folded text, its folded words, their other forms)."""
    if not _CJK.search(word):
        return _fold_word(word, algorithm)
    folded, found, other = [], [], []
    for cjk, part in _segments(word):
        if cjk:
            folded.append(_cjk(part))
            continue
        text, words, forms = _fold_word(part, algorithm)
        folded.append(text)
        found += words
        other += forms
    return " ".join(folded), tuple(found), tuple(other)


def _fold_word(word: str, algorithm: str | None) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    lower = word.casefold()
    folded = _fold_letters(lower)
    forms = []
    if algorithm:
        forms.append(_stem(lower, algorithm))  # "" when shorter than two letters
    if "\u200c" in lower:
        forms += [_fold_letters(part) for part in lower.split("\u200c") if part]
    if algorithm == "german" and not lower.isascii():
        forms.append(_fold_letters(lower.translate(_UMLAUTS)))
    return folded, (folded,), tuple(forms)


def fold(text: str | None) -> str:
    """`text` as it is indexed and searched (see the module doc); "" for None."""
    return _analyze(text)


def _as_list(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value or [])


def search_row(article: Mapping) -> dict[str, str]:
    """The folded text of each searchable column of one article (a dict as the archive stores
    it, with its `language`), and its `forms`."""
    algorithm = STEMMERS.get(article.get("language") or "")
    forms: set[str] = set()
    words: set[str] = set()
    row = {name: _analyze(article.get(name), algorithm, forms, words)
           for name in ("title", "teaser", "body")}
    row["credit_line"] = fold(article.get("credit_line"))
    row["authors"] = fold(", ".join(str(name) for name in _as_list(article.get("authors"))))
    row["agencies"] = fold(", ".join(_agency_text(name) for name in _as_list(article.get("agencies"))))
    extra = sorted(form for form in forms - words if form)
    row["forms"] = " ".join(([_TAG + algorithm] if algorithm else []) + extra)
    return row


def _agency_text(name) -> str:
    """An agency as indexed: its name, full name and one-word printed forms (`rtr`, رويترز), so
    any of them finds every story the agency supplied, whatever its credit line prints."""
    words = [f for f in printed_forms(str(name)) if re.fullmatch(r"\w+", f) and f != str(name).casefold()]
    full = AGENCIES.get(name, name)
    return " ".join([str(name)] + ([f"({full})"] if full != name else []) + words)


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
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
                index_all(db)
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")


_DEFINITION = f'CREATE VIRTUAL TABLE {TABLE} USING fts5({", ".join(COLUMNS)}, tokenize="{TOKENIZER}")'


def _definition(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [TABLE]).fetchone()
    return row[0] if row else None


def index_all(db: Database) -> None:
    """Index every row of `articles` (for a table filled around the archive, e.g. by the bench);
    rows indexed already must not be (see `rebuild`)."""
    fields = ("language", *TEXT_COLUMNS)
    rows = db.conn.execute(f"SELECT id, {', '.join(fields)} FROM articles")
    articles = ({"id": r[0], **dict(zip(fields, r[1:], strict=True))} for r in rows)
    while chunk := list(itertools.islice(articles, 10_000)):  # memory bounded at any size
        index_rows(db, chunk, replace=False)


def ensure_automerge_off(db: Database) -> None:
    """Turn FTS5's automerge off in an index made before it was (one config row; idempotent)."""
    row = db.conn.execute(f"SELECT v FROM {TABLE}_config WHERE k = 'automerge'").fetchone()
    if row is None or row[0] != 0:
        db.conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('automerge', 0)")


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

_PHRASE = re.compile(r'\s+|(".*?")')


def _terms(query: str) -> list[str]:
    """The words and "quoted phrases" of what a reader typed (an unpaired quote closed)."""
    if query.count('"') % 2:
        query += '"'
    return [t for t in _PHRASE.split(query) if t and t != '""']


def _algorithms(word: str, languages: Iterable[str] | None) -> tuple[str, ...]:
    if languages is not None:
        return tuple(dict.fromkeys(STEMMERS[lang] for lang in languages if lang in STEMMERS))
    for script, algorithms in _SCRIPT_STEMMERS:
        if script.match(word):
            return algorithms
    return ()


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def match_query(query: str, languages: Iterable[str] | None = None, *, stems: bool = True) -> str:
    """An FTS5 MATCH expression for what a reader typed, folded as the index is.

    Words are ANDed; each matches itself folded or, for a single word (no CJK), its stem by
    each Snowball stemmer of its script (or of `languages`, DW language codes, when given) in
    an article of that stemmer's language (`stems=False`: not). A "quoted phrase" is that
    phrase, folded and unstemmed, in the text columns. FTS5 operators are taken as words.
    "" when nothing typed holds a word.

    What a reader typed that names an agency as a whole (crawler/dw/credits.py's
    `canonical_agency`: `أ ف ب`, `The Associated Press`, `agencia lusa`) finds every story
    the agency supplied (its canonical name in `agencies`), and that phrase in the text.
    """
    agency = canonical_agency(query) if '"' not in query else None
    if agency is not None:
        typed = _WORD.findall(fold(query))
        names = _quoted(" ".join(_WORD.findall(fold(agency))))
        if typed:
            return f"({{{' '.join(TEXT_COLUMNS)}}}: {_quoted(' '.join(typed))}) OR (agencies: {names})"
        return f"agencies: {names}"
    clauses = []
    for term in _terms(query):
        if term.startswith('"'):
            folded = fold(term.strip('"'))
            if _WORD.search(folded):
                phrase = _quoted(" ".join(_WORD.findall(folded)))
                clauses.append(f"{{{' '.join(TEXT_COLUMNS)}}}: {phrase}" if stems else phrase)
            continue
        folded = fold(term)
        words = _WORD.findall(folded)
        if not words:
            continue
        exact = _quoted(" ".join(words))
        raw = _WORD.findall(_prepare(term))
        by_stem: dict[str, list[str]] = {}
        if stems and len(words) == 1 and len(raw) == 1 and not _CJK.search(raw[0]):
            lower = raw[0].casefold()
            for algorithm in _algorithms(words[0], languages):
                stem = _stem(lower, algorithm)
                if stem and stem != words[0]:
                    by_stem.setdefault(stem, []).append(_quoted(_TAG + algorithm))
        # The stem anywhere in an article of a language whose stemmer gives it: the tag of
        # that stemmer in `forms`.
        alternatives = [f"({_quoted(stem)} AND forms: ({' OR '.join(tags)}))"
                        for stem, tags in by_stem.items()]
        clauses.append(f"({' OR '.join([exact, *alternatives])})" if alternatives else exact)
    return " AND ".join(clauses)


# An empty phrase: a valid FTS5 expression that matches no row (an empty MATCH is an error).
MATCH_NOTHING = '""'


def match_or_nothing(query: str | None) -> str:
    """`match_query`, or `MATCH_NOTHING` when the reader typed no search words (`""`, blanks)."""
    return match_query(query or "") or MATCH_NOTHING


def has_words(query: str | None) -> bool:
    """Whether what a reader typed holds any search word (`""` and blanks do not)."""
    return bool(match_query(query or ""))


# -- where the words are in the text, for highlights and snippets ---------------------------


def spans(text: str | None, query: str | None, language: str | None = None) -> list[tuple[int, int]]:
    """(start, end) character offsets in `text` (as stored) of what `query` finds, folded and
    stemmed as `match_query` matches it: each word whose folded form or stem (by the Snowball
    stemmer of `language`) is a query word's, and each run of Han, kana or Hangul the query
    names; in text order, not overlapping."""
    if not text or not query:
        return []
    algorithm = STEMMERS.get(language or "")
    plain: set[str] = set()
    stemmed: set[str] = set()
    runs: set[str] = set()
    for term in _terms(query):
        for word in _WORD.findall(_prepare(term.strip('"'))):
            for cjk, part in _segments(word):
                if cjk:
                    runs.add("".join(_simplified(c) for c in part))
                    continue
                lower = part.casefold()
                plain.add(_fold_letters(lower))
                if algorithm and not term.startswith('"'):
                    stemmed.add(_stem(lower, algorithm))
    stemmed.discard("")  # a stem too short to search by
    found = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        keys = _keys(word, algorithm if stemmed else None)
        if keys is not None:
            if keys[0] in plain or keys[1] in stemmed:
                found.append(match.span())
            continue
        simplified = "".join(_simplified(c) if _CJK.match(c) else c.casefold() for c in word)
        for run in runs:
            at = simplified.find(run)
            while at >= 0:
                found.append((match.start() + at, match.start() + at + len(run)))
                at = simplified.find(run, at + len(run))
        for cjk, part in _segments(word):  # Latin inside a CJK run: `Tesla特斯拉`
            if not cjk and _fold_letters(part.casefold()) in plain:
                at = word.find(part)
                found.append((match.start() + at, match.start() + at + len(part)))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start < merged[-1][1]:
            continue
        merged.append((start, end))
    return merged


@functools.lru_cache(maxsize=200_000)
def _keys(word: str, algorithm: str | None) -> tuple[str, str] | None:
    """A stored word's folded form and stem (by `algorithm`, else ""); None for a CJK word."""
    if _CJK.search(word):
        return None
    lower = _prepare(word).casefold()
    return _fold_letters(lower), (_stem(lower, algorithm) if algorithm else "")


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
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    db = Database(sqlite3.connect(args.archive, isolation_level=None))
    try:
        if args.search is None:
            print(f"{rebuild(db)} articles indexed for search in {args.archive}")
            return 0
        weights = ", ".join(str(w) for w in WEIGHTS)
        rows = db.execute(
            f"SELECT a.id, a.language, a.title, a.teaser, a.body FROM {TABLE} s"
            f" JOIN articles a ON a.id = s.rowid WHERE {TABLE} MATCH ?"
            f" ORDER BY bm25({TABLE}, {weights}) LIMIT ?",
            [match_or_nothing(args.search), args.limit]).fetchall()
        for article_id, language, title, teaser, body in rows:
            passage = next(filter(None, (snippet(text, args.search, language)
                                         for text in (body, teaser, title))), "")
            print(f"{article_id}\t{language}\t{title}\t{passage}")
        return 0
    finally:
        db.conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
