"""Datasette plugin: the table and query pages of the archive: every row exactly once in a
table's pages and exports, lists readable in CSV, errors in words.

- **One total order on every page.** datasette 0.65 sorts a table's first page by the sort
  column alone (`order by published_at desc`) and every later page (`_next`) by that column and
  then the primary key (`published_at desc, id`). Where many rows share a value, the first page
  may hold the rows a later page also returns, and never return others: paging the JSON API
  (`next_url`) or streaming the CSV (`_stream=on`) gave some articles twice and lost others. This
  plugin serves the table pages through datasette's own `TableView` with one change: a sorted
  table with a one-column integer primary key gets, on its first page, a `_next` token that
  every row passes (after the largest text when sorted descending, before `null` ascending), so
  the first page is ordered as datasette orders the next ones. Links, counts and facets are
  those of the first page; the token is never seen in a URL.
- **CSV a spreadsheet reads.** In CSV, the JSON list columns (`authors`, `agencies`, `topics`,
  ...) are written as `AP; AFP`, and a download (`_dl=1`) begins with a UTF-8 byte-order mark so
  Excel reads Arabic and accents right.
- **Errors in words.** A bad parameter of the archive's views and saved queries (a search holding
  a control character or an open quote, a number beyond any id) is answered with a sentence
  saying what to change (`in_words`), in HTML and JSON, never SQLite's message; SQL a person
  wrote (`?sql=`, `_where=`) keeps SQLite's own.
- `dw_exports` for the articles list: the CSV (every matching article, streamed) and JSON links
  of what the list shows, with the reader's columns (`EXPORT_COLUMNS`), and the same with the
  full text.
"""

from __future__ import annotations

import json
import re
import sqlite3
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.handle_exception import handle_exception as datasette_error_page
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import AsgiStream
from datasette.views.base import DatasetteError
from datasette.views.table import TableView

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


def first_page_token(sort: str | None, sort_desc: str | None) -> str:
    """The `_next` that selects every row of a table sorted by `sort` or `sort_desc` whose
    primary key is one integer column."""
    if sort_desc:
        return f"{tilde_encode(AFTER_ALL_TEXT)},{BEFORE_ALL_INTEGERS}"
    return f"$null,{BEFORE_ALL_INTEGERS}"  # ascending: nulls come first


def joined_lists(row, columns: list[str]) -> list:
    """A row with its JSON list cells (LIST_COLUMNS) as `a; b`; other cells as they are."""
    out = list(row)
    for index, column in enumerate(columns):
        value = out[index]
        if column in LIST_COLUMNS and isinstance(value, str) and value.startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                continue
            if isinstance(items, list) and all(isinstance(i, str | int | float) for i in items):
                out[index] = LIST_SEPARATOR.join(str(i) for i in items)
    return out


class OrderedTableView(TableView):
    """datasette's table view, its first page ordered as its next ones; CSV lists joined."""

    async def _first_page_next(self, request) -> str | None:
        try:
            db = self.ds.get_database(route=tilde_decode(request.url_vars["database"]))
        except KeyError:
            return None
        table = tilde_decode(request.url_vars["table"])
        if (await self.ds.get_canned_query(db.name, table, request.actor)
                or not await db.table_exists(table)):
            return None
        sort, sort_desc = request.args.get("_sort"), request.args.get("_sort_desc")
        if not sort and not sort_desc:
            metadata = self.ds.table_metadata(db.name, table)
            sort, sort_desc = metadata.get("sort"), metadata.get("sort_desc")
        if not sort and not sort_desc or sort and sort_desc:
            return None  # unsorted: datasette pages by primary key alone; both: its own error
        pks = await db.primary_keys(table)
        if len(pks) != 1:
            return None
        columns = {c.name: c for c in await db.table_column_details(table)}
        if (columns.get(pks[0]) is None or columns[pks[0]].type.upper() != "INTEGER"
                or (sort or sort_desc) not in columns):
            return None  # datasette says what is wrong with the sort column itself
        return first_page_token(sort, sort_desc)

    async def data(self, request, default_labels=False, _next=None, _size=None):
        if not _next and not request.args.get("_next"):
            _next = await self._first_page_next(request)
        result = await super().data(request, default_labels, _next, _size)
        if isinstance(result, tuple) and result[0].get("query_name") and result[0].get("error"):
            result[0]["error"] = in_words(result[0]["error"])  # a saved query's error
        if request.url_vars.get("format") == "csv" and isinstance(result, tuple):
            data = result[0]
            if LIST_COLUMNS & set(data["columns"]):
                data["rows"] = [joined_lists(row, data["columns"]) for row in data["rows"]]
        return result

    async def as_csv(self, request, database):
        response = await super().as_csv(request, database)
        if isinstance(response, AsgiStream) and request.args.get("_dl"):
            rows = response.stream_fn

            async def with_byte_order_mark(send):
                await send.write("\ufeff")
                await rows(send)

            response.stream_fn = with_byte_order_mark
        return response


# What went wrong with a parameter, by SQLite's or Python's message, in words a reader can act on.
_SEARCH_WORDS = ("The search could not be read: it holds a character search does not take (a"
                 " control character, or a quote left open). Search for words; put a phrase in"
                 " double quotes.")
_TOO_LARGE = ("A number in this address is larger than any the archive holds (DW's ids have at"
              " most 8 digits).")
_IN_WORDS = [
    (re.compile(r"unterminated string|fts5: syntax error|malformed MATCH|fts5: .*column|"
                r"no such column: .*\bmatch\b", re.I), _SEARCH_WORDS),
    (re.compile(r"too large to convert to SQLite|string or blob too big|integer overflow", re.I),
     _TOO_LARGE),
    (re.compile(r"interrupted|took too long", re.I),
     "This took longer than the time the archive allows a page. Narrow it: add a filter, a"
     " search word or a date."),
]


def in_words(message) -> str:
    """A sentence for an error of the archive's views (`message` from SQLite or datasette);
    the message itself when it is already words."""
    text = str(message or "")
    for pattern, words in _IN_WORDS:
        if pattern.search(text):
            return words
    return text


@hookimpl
def handle_exception(datasette, request, exception):
    """Errors of the archive's pages in words (see `in_words`), answered with datasette's own
    error page or JSON; SQL a person wrote keeps SQLite's message."""
    if request is None or "sql" in request.args or "_where" in request.args:
        return None
    if isinstance(exception, DatasetteError):
        message = exception.message
    elif isinstance(exception, (OverflowError, sqlite3.Error)):
        message = str(exception)
    else:
        return None
    words = in_words(message)
    if words == message:
        return None
    return datasette_error_page(datasette, request, DatasetteError(
        words, title="This page cannot be answered as asked", status=400))


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["dw_in_words"] = in_words


async def ordered_table(request, datasette):
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
    chosen = [(k, v) for k in request.args if k not in _DISPLAY_ARGS for v in request.args.getlist(k)]
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
