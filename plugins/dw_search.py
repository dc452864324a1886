"""Datasette plugin: search on the articles table that finds Arabic forms, ranked, with snippets.

- `?_search=` (and `_search_<column>`) on any page is folded by crawler/search.py's `fold` before
  datasette reads it, so datasette's own search (metadata: `fts_table: articles_search`,
  `fts_pk: id`) matches the folded index. The words as typed stay in `scope["dw_search_typed"]`
  for the search box. A search without words (`""`, blanks) is dropped: the list is unfiltered.
- `dw_ranked(query)` for the articles page: the rows datasette selected (search and any filters
  or facets), the 50 best by bm25 with a snippet of the matching passage; None (the page stays
  newest first, and says why) when that takes longer than RANKING_TIME_LIMIT_MS.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from markupsafe import Markup, escape

from crawler import search

logger = logging.getLogger(__name__)
RANKED_LIMIT = 50
RANKING_TIME_LIMIT_MS = 500  # then the page lists the matches newest first, as datasette does
SNIPPET_FROM = ("body", "teaser", "credit_line", "authors", "agencies")
_OPEN, _CLOSE = "\x02", "\x03"  # snippet markers, escaped text in between, then <mark>


def _fold_query_string(raw: bytes) -> tuple[bytes, str | None]:
    pairs = parse_qsl(raw.decode("latin-1").encode("latin-1").decode("utf-8", "replace"),
                      keep_blank_values=True)
    typed = None
    folded = []
    for key, value in pairs:
        if key.startswith("_search") and key != "_searchmode":
            typed = typed if typed is not None else value
            if not search.has_words(value):
                continue  # `""`, blanks: no search words, the list unfiltered (not an FTS error)
            value = search.fold(value)
        folded.append((key, value))
    return urlencode(folded).encode("ascii"), typed


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def folded_search(scope, receive, send):
            if scope.get("type") == "http" and b"_search" in scope.get("query_string", b""):
                query_string, typed = _fold_query_string(scope["query_string"])
                scope = dict(scope, query_string=query_string, dw_search_typed=typed)
            await app(scope, receive, send)

        return folded_search

    return wrap


def _snippet_html(text: str | None) -> Markup:
    html = str(escape(text or ""))
    return Markup(html.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>"))


@hookimpl
def extra_template_vars(view_name, table, database, datasette, request):
    if view_name != "table" or table != "articles":
        return {}

    async def dw_ranked(query: dict) -> list[dict] | None:
        """The best matches among the rows of datasette's table query `query` (sql, params);
        None when ranking them takes longer than RANKING_TIME_LIMIT_MS."""
        typed = request.scope.get("dw_search_typed") or request.args.get("_search")
        match = search.match_query(typed or "")
        if not match:
            return []
        sql = query["sql"]
        # datasette's table SQL ends "... [order by ...] limit N"; its rows are what to rank.
        selected = sql[: sql.rindex(" limit ")]
        weights = ", ".join(str(w) for w in search.WEIGHTS)
        # A snippet from the body if it matches there, else the teaser, credit line, authors,
        # agencies (the headline is shown anyway).
        columns = [search.COLUMNS.index(c) for c in SNIPPET_FROM]
        snippets = ", ".join(f"snippet({search.TABLE}, {i}, '{_OPEN}', '{_CLOSE}', '…', 24) as s{i}"
                             for i in columns)
        # Rank first, then make snippets for the best rows only.
        ranked_sql = f"""
            with best as (
              select s.rowid as id, bm25({search.TABLE}, {weights}) as score from {search.TABLE} s
              where {search.TABLE} match :dw_match and s.rowid in (select id from ({selected}))
              order by score limit {RANKED_LIMIT})
            select a.id, a.published_at, a.language, a.title, {snippets}
            from {search.TABLE} join best on best.id = {search.TABLE}.rowid
            join articles a on a.id = best.id
            where {search.TABLE} match :dw_match order by best.score"""
        params = dict(query.get("params") or {}, dw_match=match)
        try:
            results = await datasette.get_database(database).execute(
                ranked_sql, params, custom_time_limit=RANKING_TIME_LIMIT_MS)
        except QueryInterrupted:
            logger.warning("ranking %r took too long; the list stays newest first", typed)
            return None
        hits = []
        for row in results.rows:
            found = next((row[f"s{i}"] for i in columns if _OPEN in (row[f"s{i}"] or "")), "")
            hits.append({**{k: row[k] for k in ("id", "published_at", "language", "title")},
                         "snippet": _snippet_html(found)})
        return hits

    return {"dw_ranked": dw_ranked,
            "dw_search_typed": request.scope.get("dw_search_typed")}
