"""The archive's search index: which text of an article is searchable, and Arabic folding.

One FTS5 table, `articles_search`, one row per article (rowid = the article id), holding the
*folded* text of the headline, teaser, body, credit line, authors, and the agencies the credit
line names under their canonical and full names (so "Reuters" finds a credit line that prints
`rtr` or رويترز). Folding (`fold`) is applied
the same way to the indexed text and to every query (`match_query`), so that a query finds the
forms a reader may type for the same word:

- Arabic: with or without the definite article (السودان / سودان, والسودان, بالسودان, للطلاب),
  any hamza/madda form of alef written bare (ألمانيا / المانيا), ى as ي, ة as ه, ؤ as و, ئ as ي,
  without diacritics (harakat, shadda, superscript alef) and tatweel; presentation forms (NFKC).
- Latin and other scripts: the tokenizer (`unicode61 remove_diacritics 2`) folds case and
  diacritics; `fold` leaves them as they are.

Limits (measured on the sample site, see tests/test_search.py): no stemming of suffixes or
plurals (طالب does not find طلاب, "strike" does not find "strikes"); a word that truly begins
with ال loses those letters too (الله is indexed as له); snippets show the folded text.

This is the archive's only full-text index (the `articles_fts` of earlier archives is dropped by
the schema's migration): search in SQL is `... FROM articles_search WHERE articles_search MATCH
dw_match(:q)` in datasette, or `search.match_query(q)` from Python.

Writes go through `index_rows`, which the archive calls once per written batch (one executemany
of deletes, one of inserts). FTS5's automerge is off (`automerge=0`, kept in the index's config):
each batch adds one small segment and never pays for merging mid-crawl, so the cost of a batch
does not grow with the archive; FTS5's crisis merge still bounds the number of segments per
level (16). `merge` folds them together when the crawl is idle (the archive extension calls it
at the end of a run). An archive made before this table existed is filled once by `create`.
Rows written around the archive (raw SQL, as `make bench` builds its archives: `index_all`) or
folding rules changed since: index again with `python -m crawler.search ARCHIVE`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping

from sqlite_utils import Database

from crawler.dw import AGENCIES
from crawler.dw.credits import printed_forms

TABLE = "articles_search"
# Searchable columns, in bm25 weight order: a hit in the headline counts most.
COLUMNS: tuple[str, ...] = ("title", "teaser", "body", "credit_line", "authors", "agencies")
WEIGHTS: tuple[float, ...] = (10.0, 4.0, 1.0, 2.0, 2.0, 2.0)
TOKENIZER = "unicode61 remove_diacritics 2"

# Harakat and Quranic marks (U+064B-U+065F, U+0670, U+06D6-U+06ED) and tatweel (U+0640).
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTERS = str.maketrans({
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # أ إ آ ٱ -> ا
    "\u0649": "\u064a",  # ى -> ي
    "\u0629": "\u0647",  # ة -> ه
    "\u0624": "\u0648",  # ؤ -> و
    "\u0626": "\u064a",  # ئ -> ي
})  # fmt: skip
_ARABIC_WORD = re.compile("[\u0621-\u064a\u066e-\u06d3]+")
# The article and the one-letter words that join it: ال, وال, فال, بال, كال, and لل (= ل + ال).
_ARTICLE = re.compile("^(?:[وفبك]?ال|لل)")


def _drop_article(match: re.Match) -> str:
    word = match.group(0)
    stripped = _ARTICLE.sub("", word, count=1)
    return stripped if len(stripped) >= 2 else word


def fold(text: str | None) -> str:
    """`text` as it is indexed and searched: Arabic folded (see the module doc), the rest as is."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    if not _ARABIC_WORD.search(text):
        return text
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_LETTERS)
    return _ARABIC_WORD.sub(_drop_article, text)


def _as_list(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return list(value or [])


def search_row(article: Mapping) -> dict[str, str]:
    """The folded text of each searchable column of one article (a dict as the archive stores it)."""
    return {
        "title": fold(article.get("title")),
        "teaser": fold(article.get("teaser")),
        "body": fold(article.get("body")),
        "credit_line": fold(article.get("credit_line")),
        "authors": fold(", ".join(str(name) for name in _as_list(article.get("authors")))),
        "agencies": fold(", ".join(_agency_text(name) for name in _as_list(article.get("agencies")))),
    }


def _agency_text(name) -> str:
    """An agency as indexed: its name, full name and one-word printed forms (`rtr`, رويترز), so
    any of them finds every story the agency supplied, whatever its credit line prints."""
    words = [f for f in printed_forms(str(name)) if re.fullmatch(r"\w+", f) and f != str(name).casefold()]
    full = AGENCIES.get(name, name)
    return " ".join([str(name)] + ([f"({full})"] if full != name else []) + words)


def create(db: Database) -> None:
    """Create the search table if it is missing or has other columns, filling it from the
    archived articles; idempotent.

    Runs in its own IMMEDIATE transaction, so two workers opening one archive create it once.
    """
    if _columns(db.conn) == list(COLUMNS):
        return
    conn: sqlite3.Connection = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _columns(conn)
        if found != list(COLUMNS):
            if found:  # an index of an older definition: it is derived data, made again
                conn.execute(f"DROP TABLE {TABLE}")
            conn.execute(f"CREATE VIRTUAL TABLE {TABLE} USING fts5({', '.join(COLUMNS)},"
                         f" tokenize='{TOKENIZER}')")
            conn.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('automerge', 0)")
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
                index_all(db)
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")


def index_all(db: Database) -> None:
    """Index every row of `articles` (for a table filled around the archive, e.g. by the bench);
    rows indexed already must not be (see `rebuild`)."""
    rows = db.conn.execute("SELECT id, title, teaser, body, credit_line, authors, agencies"
                           " FROM articles")
    articles = ({"id": r[0], **dict(zip(COLUMNS, r[1:], strict=True))} for r in rows)
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


def _columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")]


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


_PHRASE = re.compile(r'\s+|(".*?")')


def match_query(query: str) -> str:
    """An FTS5 MATCH expression for what a reader typed: folded, each word a quoted term.

    Words are ANDed; a "quoted phrase" stays a phrase; FTS5 operators are taken as words
    (the same escaping as datasette's `escape_fts`).
    """
    query = fold(query)
    if query.count('"') % 2:
        query += '"'
    terms = [t for t in _PHRASE.split(query) if t and t != '""']
    return " ".join(f'"{t}"' if not t.startswith('"') else t for t in terms)


# An empty phrase: a valid FTS5 expression that matches no row (an empty MATCH is an error).
MATCH_NOTHING = '""'


def match_or_nothing(query: str | None) -> str:
    """`match_query`, or `MATCH_NOTHING` when the reader typed no search words (`""`, blanks)."""
    return match_query(query or "") or MATCH_NOTHING


def has_words(query: str | None) -> bool:
    """Whether what a reader typed holds any search word (`""` and blanks do not)."""
    return bool(match_query(query or ""))


def main(argv: list[str] | None = None) -> int:
    """Rebuild the search index of an archive."""
    parser = argparse.ArgumentParser(prog="python -m crawler.search", description=main.__doc__)
    parser.add_argument("archive")
    args = parser.parse_args(argv)
    db = Database(sqlite3.connect(args.archive, isolation_level=None))
    print(f"{rebuild(db)} articles indexed for search in {args.archive}")
    db.conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
