"""Datasette plugin: the table and query pages of the archive: every row exactly once in a
table's pages and exports, at any size; the agency filter through its index; CSV a spreadsheet
reads safely; errors in words.

- **One total order on every page.** datasette 0.65 sorts a table's first page by the sort
  column alone (`order by published_at desc`) and every later page (`_next`) by that column and
  then the primary key (`published_at desc, id`). Where many rows share a value, the first page
  may hold the rows a later page also returns, and never return others: paging the JSON API
  (`next_url`) or streaming the CSV (`_stream=on`) gave some articles twice and lost others. This
  plugin serves the table pages through datasette's own `TableView` with one change: a sorted
  table with a one-column integer primary key gets, on its first page, a `_next` token that
  every row passes (after the largest text when sorted descending, before `null` ascending), so
  the first page is ordered as datasette orders the next ones. Links, counts and facets are
  those of the first page; the token is never seen in a URL nor in the SQL the page shows
  ("View and edit SQL", the JSON's `query`), which is the page's query as a person would write
  it. A `_next` the archive did not give out is answered in words.
- **Agency and author filters through their index.** `agencies__arraycontains` (and
  `arraynotcontains`, and the same of `authors`) on the articles list is read here, not by
  datasette's `json_each` over every article's JSON list (which reads every row of the
  selection, past datasette's 1 s limit at 100,000 articles): an agency is resolved to the names
  the archive holds (`names_agency`, the one resolver of crawler/dw/credits.py: any printed
  form, case or accent), and each row is tested against `article_agencies` (`article_authors`)
  through its primary-key index, so a page costs what its rows cost whatever the archive's
  size. The same clause serves the list, its count and facets, its CSV, its JSON and every
  `next_url`.
- **A search read in the cheaper order.** The articles list's `?_search=` is read here, not by
  datasette's own search filter, with the same clause but for one character: datasette writes
  `id in (select rowid from articles_search where ... match escape_fts(:search))`, which SQLite
  answers by looking up every matching article and sorting them all: 7 ms for a word in 1,000
  articles of 1M, over datasette's 1 s for a word in most of them (833,000 lookups). From
  `COMMON_MATCHES` matches on (counted first, at most that many), the clause is written
  `+id in (...)`: SQLite then reads the list in its own order (the `published_at` index) and
  keeps the rows the search matched, stopping at the page's end. Its description, the page's
  search box and every link are datasette's; `_searchmode=raw` and `_search_<column>` stay
  datasette's own. A search matching more than `many_matches` articles (crawler/search.py's
  MANY_MATCHES, 100,000), and filtered by nothing else, is neither counted nor faceted
  (`_nocount`, `_nofacet`: each reads every match, past the page's time at 1M articles); the
  page says "more than 100,000".
- **CSV a spreadsheet reads.** The articles CSV has the reader's columns (`EXPORT_COLUMNS`)
  unless `_col`/`_nocol` name others. JSON list columns (`authors`, `agencies`, ...) are written
  `AP; AFP` (an item holding `;` or starting with `"` is quoted, `"Smith; Jones"; Ann Lee`, so
  the join can be split again); a text cell a spreadsheet would run as a formula (starting with
  `=`, `+`, `-`, `@`, a tab or a carriage return: OWASP's CSV-injection list) is written with a
  leading `'`. A download (`_dl=1`) begins with a UTF-8 byte-order mark (Excel reads Arabic).
- **Exports that finish or fail visibly.** The streamed CSV (`_stream=on`) fetches pages of
  datasette's `max_returned_rows` (datasette 0.65 asks for its default 100), and a page that
  runs out of time is asked again in smaller pages. A page that fails for good before anything
  was sent is answered in words (400); after the download began, the connection is closed
  without the response's end, so the client reports a broken download (curl: exit 18) instead
  of a complete file with an error inside it.
- **Later pages carry rows.** A page after the first (`_next`) computes no facets (datasette's
  would count only the rows after the page's position), and in JSON no count: those are the
  first page's; paging through every row costs what its rows cost.
- **Errors in words.** A bad parameter of the archive's views and saved queries (a search holding
  a control character, a number beyond any id, a sort by no column, a page token not given out)
  is answered with a sentence saying what to change (`in_words`), in HTML and JSON, never
  SQLite's message; SQL a person wrote (`?sql=`, `_where=`) keeps SQLite's own. An unknown
  format (`articles.nonexistent`) is a 404.
- `dw_exports` for the articles list: the CSV (every matching article, streamed) and JSON links
  of what the list shows, with the reader's columns, and the same with the full text.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from urllib.parse import parse_qs, parse_qsl, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments
from datasette.handle_exception import handle_exception as datasette_error_page
from datasette.utils import MultiParams, escape_sqlite, tilde_decode, tilde_encode
from datasette.utils.asgi import AsgiStream, NotFound, Request
from datasette.views.base import DatasetteError
from datasette.views.table import TableView

from crawler import search
from crawler.dw.credits import names_agency

logger = logging.getLogger(__name__)

# Greater than any text, number or null a sort column holds (UTF-8 of U+10FFFF, the last code
# point, repeated), and below every integer primary key.
AFTER_ALL_TEXT = "\U0010ffff" * 8
BEFORE_ALL_INTEGERS = str(-(2**63))
# Columns holding a JSON list of names or ids, written "a; b" in CSV.
LIST_COLUMNS = frozenset({"authors", "agencies", "topics", "subheads", "tags", "tag_ids", "changed"})
LIST_SEPARATOR = "; "
# What a reader of the list exports by default (no WARC position, hash or HTTP validators).
EXPORT_COLUMNS = ("id", "published_at", "modified_at", "language", "title", "teaser", "authors",
                  "agencies", "credit_line", "topics", "url", "short_url")
# Arguments of the list page that choose rows (kept in its export links); the rest is display.
_DISPLAY_ARGS = frozenset({"_next", "_size", "_facet", "_facet_size", "_facet_array", "_facet_dw_array",
                           "_view", "_col", "_nocol", "_labels", "_nolabels", "_shape", "_json",
                           "_stream", "_dl", "_nofacet", "_nocount", "_trace"})
# The articles list's list filters read through a join table: argument -> (column, contains?);
# column -> (join table, its name column, which of its rows).
JOIN_FILTERS = {f"{column}__array{op}": (column, op == "contains")
                for column in ("agencies", "authors") for op in ("contains", "notcontains")}
JOIN_TABLES = {"agencies": ("article_agencies", "agency", " and g.role = 'text'"),
               "authors": ("article_authors", "author", "")}
# From this many matches of a search, the list is read in its own order (see the module doc):
# where lookups of each match and a sort cost more than a scan of the sort index to the page's end.
COMMON_MATCHES = 10_000
_MATCHES = "select rowid from articles_search where articles_search match escape_fts(:search)"
# Tables keyed by a name, listed A to Z whatever the case when one page holds them all
# (data/metadata.yml gives it pages of 1,000): table -> its name column.
CASE_INSENSITIVE_TABLES = {"agencies": "name"}
# The first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A streamed CSV page that ran out of time is asked again this many times smaller, down to
# SMALLEST_STREAM_PAGE rows.
STREAM_PAGE_SHRINK = 4
SMALLEST_STREAM_PAGE = 50


def first_page_token(sort: str | None, sort_desc: str | None) -> str:
    """The `_next` that selects every row of a table sorted by `sort` or `sort_desc` whose
    primary key is one integer column."""
    if sort_desc:
        return f"{tilde_encode(AFTER_ALL_TEXT)},{BEFORE_ALL_INTEGERS}"
    return f"$null,{BEFORE_ALL_INTEGERS}"  # ascending: nulls come first


def _is_integer(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d{1,19}", text))


def next_token_is_valid(token: str, is_sorted: bool) -> bool:
    """Whether `token` has the shape of a `_next` datasette gives out for a table whose primary
    key is one integer column: `<sort value>,<id>` when sorted, `<id>` when not."""
    parts = token.split(",")
    if is_sorted:
        return len(parts) == 2 and _is_integer(tilde_decode(parts[1]))
    return len(parts) == 1 and _is_integer(tilde_decode(parts[0]))


def joined_list(items: list) -> str:
    """A JSON list as one cell, `a; b`; an item holding the separator's `;` or starting with a
    double quote is quoted as CSV quotes (`"Smith; Jones"; Ann`), so the cell splits back."""
    out = []
    for item in items:
        text = str(item)
        if ";" in text or text.startswith('"'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return LIST_SEPARATOR.join(out)


def spreadsheet_safe(value):
    """A text cell a spreadsheet would read as a formula, with a leading `'` (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(row, columns: list[str]) -> list:
    """A row as the archive's CSV writes it: JSON list cells (LIST_COLUMNS) joined, every text
    cell safe from formula injection."""
    out = list(row)
    for index, column in enumerate(columns):
        value = out[index]
        if column in LIST_COLUMNS and isinstance(value, str) and value.startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                items = None
            if isinstance(items, list) and all(isinstance(i, str | int | float) for i in items):
                value = joined_list(items)
        out[index] = spreadsheet_safe(value)
    return out


def join_filters_asked(query_string: str) -> list[tuple[str, bool, str]]:
    """(column, contains?, what was typed) of each agency or author filter in a query string."""
    return [(*JOIN_FILTERS[key], value) for key, value in parse_qsl(query_string, keep_blank_values=True)
            if key in JOIN_FILTERS]


class ReaderRequest(Request):
    """A request as datasette's table view reads its arguments (`args`): on the articles list
    without the agency and author filters (this plugin's `filters_from_request` reads them
    through the join tables); for an articles CSV that names no columns, with the reader's
    columns; with `_nofacet`/`_nocount` where `extra` adds them. Its query string, and so every
    link datasette builds from it, is the request's own."""

    def __init__(self, scope, receive, *, join_filters: bool = False,
                 default_columns: tuple[str, ...] = (), extra: dict[str, str] | None = None):
        super().__init__(scope, receive)
        self.join_filters, self.default_columns = join_filters, default_columns
        self.extra = extra if extra is not None else {}
        self.matches: int | None = None  # the list's rows, counted up to a bound (`count_asked`)
        self.search_matches: int | None = None  # the search's matches, likewise
        self.too_many: int | None = None  # more matches than this: not counted nor faceted

    @property
    def search(self) -> str | None:
        """The articles list's `_search` this plugin reads (`search_clause`), or None."""
        if not self.join_filters:
            return None
        pairs = parse_qs(self.query_string, keep_blank_values=True)
        if "_searchmode" in pairs or any(key.startswith("_search_") for key in pairs):
            return None
        return (pairs.get("_search") or [None])[0]

    @property
    def args(self):
        pairs = parse_qs(self.query_string, keep_blank_values=True)
        if self.join_filters:
            for key in JOIN_FILTERS:
                pairs.pop(key, None)
            if self.search is not None:
                pairs.pop("_search", None)
        if self.default_columns and "_col" not in pairs and "_nocol" not in pairs:
            pairs["_col"] = [c for c in self.default_columns if c != "id"]  # datasette adds the key
        for key, value in self.extra.items():
            pairs.setdefault(key, [value])
        return MultiParams(pairs)


class ExportInterrupted(Exception):
    """A streamed export failed after its first rows were sent."""


class _StopWhenFailed:
    """The writer a streamed CSV writes through: once a page failed, the next write (datasette's
    error text) raises ExportInterrupted instead, so the download ends broken, not 'complete'."""

    def __init__(self, writer, view: OrderedTableView):
        self.writer, self.view = writer, view

    async def write(self, chunk: str) -> None:
        if self.view.export_failure is not None:
            raise ExportInterrupted(str(self.view.export_failure))
        await self.writer.write(chunk)


def _strip_first_page_token(query: dict, sort_column: str, descending: bool) -> dict:
    """The page's query as a person would write it: without the first-page token's clause and
    parameters, `limit` the page size (datasette asks one row more to know there is a next)."""
    sql, params = query["sql"], dict(query.get("params") or {})
    column = escape_sqlite(sort_column)
    names = {value: name for name, value in params.items() if isinstance(value, str)}
    opening = (f"({column} < :{names[AFTER_ALL_TEXT]}" if descending and AFTER_ALL_TEXT in names
               else f"({column} is not null or" if not descending else None)
    start = sql.find(opening) if opening else -1
    if start >= 0:
        depth, end = 0, start
        for end in range(start, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            if depth == 0:
                break
        before, after = sql[:start], sql[end + 1:]
        if before.endswith(" and "):
            before = before[: -len(" and ")]
        elif after.startswith(" and "):
            after = after[len(" and "):]
        elif before.endswith("where "):
            before, after = before[: -len("where ")], after.lstrip()
        sql = before + after
        params = {k: v for k, v in params.items() if v not in (AFTER_ALL_TEXT, BEFORE_ALL_INTEGERS)}
    sql = re.sub(r"limit (\d+)$", lambda m: f"limit {int(m[1]) - 1}", sql.rstrip())
    return dict(query, sql=sql, params=params)


class OrderedTableView(TableView):
    """datasette's table view, its first page ordered as its next ones, the agency filter read
    through its index, CSV for spreadsheets and exports that finish or fail visibly."""

    export_failure: BaseException | None = None
    stream_page: int | None = None

    async def _first_page_next(self, request, db, table: str, sort_desc_out: list) -> str | None:
        sort, sort_desc = request.args.get("_sort"), request.args.get("_sort_desc")
        if not sort and not sort_desc:
            metadata = self.ds.table_metadata(db.name, table)
            sort, sort_desc = metadata.get("sort"), metadata.get("sort_desc")
        if not sort and not sort_desc or sort and sort_desc:
            return None  # unsorted: datasette pages by primary key alone; both: its own error
        columns = {c.name: c for c in await db.table_column_details(table)}
        if (sort or sort_desc) not in columns:
            return None  # datasette says what is wrong with the sort column itself
        sort_desc_out[:] = [sort or sort_desc, bool(sort_desc)]
        return first_page_token(sort, sort_desc)

    async def _single_integer_key(self, db, table: str) -> bool:
        pks = await db.primary_keys(table)
        if len(pks) != 1:
            return False
        columns = {c.name: c for c in await db.table_column_details(table)}
        return columns.get(pks[0]) is not None and columns[pks[0]].type.upper() == "INTEGER"

    async def data(self, request, default_labels=False, _next=None, _size=None):
        table = tilde_decode(request.url_vars["table"])
        is_csv = request.url_vars.get("format") == "csv"
        streaming = is_csv and bool(request.args.get("_stream"))
        try:
            db = self.ds.get_database(route=tilde_decode(request.url_vars["database"]))
        except KeyError:
            db = None
        is_table = (db is not None and not await self.ds.get_canned_query(db.name, table, request.actor)
                    and await db.table_exists(table))
        later_page = bool(_next)
        token, sorting = None, []
        if is_table:
            # A later page (`_next`) of the JSON API carries rows and next_url only: its count and
            # facets are the first page's (datasette would count and facet every page again, and
            # its facets there count only the rows after the page's position); a later HTML page
            # keeps its count.
            extra = {}
            if request.args.get("_next") and not is_csv:
                extra["_nofacet"] = "1"
                if request.url_vars.get("format") == "json":
                    extra["_nocount"] = "1"
            request = ReaderRequest(request.scope, request.receive, join_filters=table == "articles",
                                    default_columns=EXPORT_COLUMNS if is_csv and table == "articles" else (),
                                    extra=extra)
            if table == "articles":
                # How many the list holds, counted to one more than the views handle, when one
                # search or one agency or author filter chooses it (with other filters it may
                # hold far fewer: then datasette counts it).
                many = search.many_matches(self.ds.plugin_config("dw_search"))
                await count_asked(db, request, max(many, COMMON_MATCHES) + 1)
                if request.matches is not None and request.matches > many:
                    request.too_many = many
                    extra.update(_nocount="1", _nofacet="1")
            if await self._single_integer_key(db, table):
                asked_next = request.args.get("_next")
                if asked_next and not next_token_is_valid(
                        asked_next, bool(request.args.get("_sort") or request.args.get("_sort_desc")
                                         or self.ds.table_metadata(db.name, table).get("sort")
                                         or self.ds.table_metadata(db.name, table).get("sort_desc"))):
                    raise DatasetteError(
                        "This page's position (_next) is not one the archive gave out: follow the"
                        " list's own “Next page” link or next_url, or start again from the first page.",
                        title="This page cannot be answered as asked", status=400)
                if not _next and not asked_next:
                    token = _next = await self._first_page_next(request, db, table, sorting)
        if streaming and not _size and not request.args.get("_size"):
            _size = self.stream_page or self.ds.max_returned_rows
        try:
            result = await super().data(request, default_labels, _next, _size)
        except Exception as exc:
            interrupted = isinstance(exc, QueryInterrupted) or "interrupted" in str(exc)
            page = int(_size) if str(_size).isdigit() else None
            if streaming and interrupted and page and page > SMALLEST_STREAM_PAGE:
                self.stream_page = max(SMALLEST_STREAM_PAGE, page // STREAM_PAGE_SHRINK)
                logger.info("a CSV page of %d rows ran out of time; asking for %d", page, self.stream_page)
                return await self.data(request, default_labels, None if token else _next, self.stream_page)
            if streaming and later_page:
                self.export_failure = exc
            raise
        if not isinstance(result, tuple):
            return result
        data = result[0]
        if data.get("query_name") and data.get("error"):
            data["error"] = in_words(data["error"])  # a saved query's error
        if token and sorting and isinstance(data.get("query"), dict):
            data["query"] = _strip_first_page_token(data["query"], *sorting)
        elif isinstance(data.get("query"), dict) and is_table:
            data["query"] = dict(data["query"], sql=re.sub(
                r"limit (\d+)$", lambda m: f"limit {int(m[1]) - 1}", data["query"]["sql"].rstrip()))
        if (is_table and table in CASE_INSENSITIVE_TABLES and data.get("next") is None and not later_page
                and not request.args.get("_sort") and not request.args.get("_sort_desc")
                and CASE_INSENSITIVE_TABLES[table] in data["columns"]):
            # The whole table on one page: A to Z whatever the case (dpa, epd, Reuters, Yonhap).
            at = data["columns"].index(CASE_INSENSITIVE_TABLES[table])
            data["rows"] = sorted(data["rows"], key=lambda row: (str(row[at]).lower(), str(row[at])))
        if is_csv:
            data["rows"] = [csv_row(row, data["columns"]) for row in data["rows"]]
        return result

    async def as_csv(self, request, database):
        response = await super().as_csv(request, database)
        if isinstance(response, AsgiStream):
            rows = response.stream_fn
            byte_order_mark = bool(request.args.get("_dl"))

            async def guarded(send):
                if byte_order_mark:
                    await send.write("\ufeff")
                await rows(_StopWhenFailed(send, self))

            response.stream_fn = guarded
        return response


async def names_in_archive(db, column: str, typed: str) -> list[str]:
    """The names an agency filter (`column` "agencies") stands for in the archive, typed in any
    printed form (crawler/dw/credits.py's `names_agency`); an author filter's name as typed."""
    if column != "agencies":
        return [typed]
    known = (await db.execute("select name, full_name from agencies")).rows
    return sorted({row["name"] for row in known if names_agency(typed, row["name"], row["full_name"])},
                  key=str.lower)


async def _counted(db, sql: str, params: dict, bound: int) -> int | None:
    """The rows of `sql`, counted up to `bound`; None when SQLite cannot (the list says why)."""
    try:
        return (await db.execute(f"select count(*) from ({sql} limit {bound})", params)).rows[0][0]
    except Exception:  # noqa: BLE001 - the list's own query says what is wrong
        return None


async def count_asked(db, request: ReaderRequest, bound: int) -> None:
    """Count, up to `bound`, what the articles list's search matches (`request.search_matches`,
    which chooses the search's clause) and, when one search or one agency or author filter is
    all that chooses the list, the list itself (`request.matches`)."""
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    chosen = [(key, value) for key, value in pairs if not key.startswith("_") or key == "_where"]
    if request.search is not None:
        request.search_matches = await _counted(db, _MATCHES, {"search": request.search}, bound)
        if not chosen:
            request.matches = request.search_matches
    elif (len(chosen) == 1 and chosen[0][0] in JOIN_FILTERS and JOIN_FILTERS[chosen[0][0]][1]
          and not any(key.startswith("_search") for key, _ in pairs)):
        column = JOIN_FILTERS[chosen[0][0]][0]
        names = await names_in_archive(db, column, chosen[0][1])
        join, name, rows = JOIN_TABLES[column]
        marks = ", ".join(f":n{i}" for i in range(len(names))) or "null"
        request.matches = await _counted(
            db, f"select distinct article_id from {join} g where g.{name} in ({marks}){rows}",
            {f"n{i}": value for i, value in enumerate(names)}, bound)


@hookimpl
def filters_from_request(request, database, table, datasette):
    """The articles list's agency and author filters (JOIN_FILTERS), an agency in any printed
    form, through the join tables' index (see the module doc)."""
    asked = join_filters_asked(request.query_string)
    if table != "articles" or not asked:
        return None

    async def join_clauses():
        db = datasette.get_database(database)
        clauses, params, described, chosen = [], {}, [], set()
        for index, (column, contains, typed) in enumerate(asked):
            names = await names_in_archive(db, column, typed)
            if contains and column == "agencies":
                chosen.update(names)
            join, name, rows = JOIN_TABLES[column]
            marks = ", ".join(f":dw_{column}_{index}_{i}" for i in range(len(names)))
            params.update({f"dw_{column}_{index}_{i}": value for i, value in enumerate(names)})
            test = (f"exists (select 1 from {join} g where g.article_id = articles.id{rows}"
                    f" and g.{name} in ({marks}))") if names else "0"
            clauses.append(test if contains else f"not {test}")
            what = "agency" if column == "agencies" else "author"
            shown = " or ".join(names) if names else f"“{typed}” (no agency the archive knows)"
            described.append(f"{what} is {shown}" if contains else f"{what} is not {shown}")
        request.scope["dw_agency_names"] = chosen
        return FilterArguments(clauses, params=params, human_descriptions=described,
                               extra_context={"dw_join_filters": described,
                                              "dw_too_many": getattr(request, "too_many", None)})

    return join_clauses


@hookimpl(specname="filters_from_request")
def search_clause(request, database, table, datasette):
    """The articles list's search (`_search`), in the order that costs less (see the module doc)."""
    typed = getattr(request, "search", None)
    if table != "articles" or typed is None:
        return None

    async def clause():
        common = (request.search_matches or 0) >= COMMON_MATCHES
        return FilterArguments([f"{'+' if common else ''}id in ({_MATCHES})"], params={"search": typed},
                               human_descriptions=[f'search matches "{typed}"'],
                               extra_context={"search": typed, "dw_too_many": request.too_many})

    return clause


# What went wrong with a parameter, by SQLite's or Python's message, in words a reader can act on.
_SEARCH_WORDS = ("The search could not be read: it holds a character search does not take (a"
                 " control character, or a quote left open). Search for words; put a phrase in"
                 " double quotes.")
_TOO_LARGE = ("A number in this address is larger than any the archive holds (DW's ids have at"
              " most 8 digits).")
TOO_LONG = ("This took longer than the time the archive allows one page (1 s). Ask for a smaller"
            " page (_size=), or narrow the list by language or by date; the list's CSV link"
            " exports every article, however many, a page at a time.")
_IN_WORDS = [
    # A column of this version's search index missing: the index is an older version's.
    (re.compile(rf"no such column: ({'|'.join(search.COLUMNS[6:])})\b", re.I),
     search.OUTDATED.replace("ARCHIVE", "data/dw.db")),
    (re.compile(r"unterminated string|fts5: syntax error|malformed MATCH|fts5: .*column|"
                r"no such column: .*\bmatch\b", re.I), _SEARCH_WORDS),
    (re.compile(r"too large to convert to SQLite|string or blob too big|integer overflow", re.I),
     _TOO_LARGE),
    (re.compile(r"interrupted|took too long", re.I), TOO_LONG),
    (re.compile(r"Cannot sort table by|Cannot use _sort and _sort_desc", re.I),
     "The list cannot be sorted as asked: _sort= or _sort_desc= (one of them) names one of its"
     " columns, such as published_at, title or language."),
]


_NO_SUCH_TABLE = re.compile(r"^no such table: (.+)$")


def in_words(message) -> str:
    """A sentence for an error of the archive's views (`message` from SQLite or datasette);
    the message itself when it is already words."""
    text = str(message or "")
    for pattern, words in _IN_WORDS:
        if pattern.search(text):
            return words
    return text


class _EndWithoutFinishing:
    """A 'response' that sends nothing more: the server closes the connection of a response it
    began and never finished, which the client sees as a broken download."""

    async def asgi_send(self, send) -> None:
        return None


@hookimpl
def handle_exception(datasette, request, exception):
    """Errors of the archive's pages in words (see `in_words`), answered with datasette's own
    error page or JSON; SQL a person wrote keeps SQLite's message. An export that failed after
    it began ends broken (ExportInterrupted)."""
    if isinstance(exception, ExportInterrupted):
        logger.warning("CSV export %s stopped: %s", request.path if request else "", exception)
        return _EndWithoutFinishing()
    if request is None or "sql" in request.args or "_where" in request.args:
        return None
    if isinstance(exception, DatasetteError):
        message = exception.message
    elif isinstance(exception, (OverflowError, sqlite3.Error, QueryInterrupted)):
        message = str(exception)
    else:
        return None
    missing = _NO_SUCH_TABLE.search(message)
    if missing:  # an address naming no table (`/dw/-/nope`): not found, not "Invalid SQL"
        return datasette_error_page(datasette, request, DatasetteError(
            f"There is no table “{missing[1]}” in this archive: “Every table” in the navigation lists them.",
            title="Not found", status=404))
    words = in_words(message)
    if words == message and not (isinstance(exception, DatasetteError) and exception.status == 400):
        return None
    return datasette_error_page(datasette, request, DatasetteError(
        words, title="This page cannot be answered as asked", status=400))


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["dw_in_words"] = in_words


async def ordered_table(request, datasette):
    format_ = request.url_vars.get("format")
    if format_ and format_ != "csv" and format_ not in datasette.renderers:
        raise NotFound(f"There is no “.{format_}” of this page: add .json or .csv, or nothing.")
    return await OrderedTableView(datasette).dispatch_request(request)


@hookimpl
def register_routes():
    # datasette's own table route, except datasette's /-/ pages (plugin routes are tried first).
    return [(r"^/(?!-/)(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)(\.(?P<format>\w+))?$",
             ordered_table)]


def export_urls(request, table_path: str) -> dict[str, str]:
    """The export links of the list at `table_path` (`/dw/articles`) as `request` filters it:
    `csv` (every matching article, the reader's columns, streamed, a download), `csv_text` (the
    same with the full text), `json` (the first page of the JSON API, lists as arrays)."""
    chosen = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True)
              if k not in _DISPLAY_ARGS]
    columns = [("_col", c) for c in EXPORT_COLUMNS if c != "id"]  # datasette adds the key
    csv = chosen + columns + [("_stream", "on"), ("_dl", "1")]
    arrays = [("_json", c) for c in ("authors", "agencies", "topics")]
    return {"csv": f"{table_path}.csv?{urlencode(csv)}",
            "csv_text": f"{table_path}.csv?{urlencode(chosen + columns + [('_col', 'body')])}"
                        f"&_stream=on&_dl=1",
            "json": f"{table_path}.json?{urlencode(chosen + columns + arrays + [('_shape', 'objects')])}"}


@hookimpl
def extra_template_vars(view_name, table, database, datasette, request):
    if view_name != "table" or table != "articles":
        return {}
    return {"dw_exports": export_urls(request, datasette.urls.table(database, table))}
