"""Datasette plugin: search on the articles table as crawler/search.py folds, segments and stems
every script, ranked, with snippets.

- `?_search=` (and `_search_<column>`) stay as typed (the search box and the page's description
  show the words); datasette's own search (metadata: `fts_table: articles_search`, `fts_pk: id`)
  turns them into a MATCH expression with `escape_fts(...)`, which on an archive's connections is
  crawler/search.py's `match_or_nothing` (the folded words, their stems). A search without words
  (`""`, blanks) is dropped: the list is unfiltered. Filtered to languages (`language=`,
  `language__in=`), the list holds only their articles, which only their stemmers' stems can
  match (each stem is tagged with its language).
- `dw_ranked(query)` for the articles page: the rows datasette selected (search and any filters
  or facets), the 50 best (those matching the words as printed first, then those matched
  through a stem, by bm25 within each; stemmed only in the languages filtered to, if any)
  with the passage that matched, cut from the article's stored
  text and marked by `search.snippet` (the same folding); None (the page stays newest first,
  and says why) when that takes longer than RANKING_TIME_LIMIT_MS. The page does not ask for
  it when datasette counted more than `dw_rank_at_most` (`search.many_matches`) matches, or did not
  count them (plugins/dw_views.py leaves a search of more uncounted).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from markupsafe import Markup, escape

from crawler import search

logger = logging.getLogger(__name__)
RANKED_LIMIT = 50
_warned_outdated: list = []  # an archive's search index from an older version: said once
RANKING_TIME_LIMIT_MS = 500  # then the page lists the matches newest first, as datasette does
SNIPPET_FROM = ("body", "teaser", "credit_line", "authors", "agencies")
_OPEN, _CLOSE = "\x02", "\x03"  # snippet markers, escaped text in between, then <mark>


def _fold_query_string(raw: bytes) -> tuple[bytes, str | None]:
    pairs = parse_qsl(raw.decode("latin-1").encode("latin-1").decode("utf-8", "replace"),
                      keep_blank_values=True)
    typed = None
    kept = []
    for key, value in pairs:
        if key.startswith("_search") and key != "_searchmode":
            typed = typed if typed is not None else value
            if not search.has_words(value):
                continue  # `""`, blanks: no search words, the list unfiltered (not an FTS error)
        kept.append((key, value))
    return urlencode(kept).encode("ascii"), typed


@hookimpl(trylast=True)  # after datasette's own escape_fts, which this one replaces
def prepare_connection(conn):
    try:
        is_archive = conn.execute("select 1 from sqlite_master where name = ?", [search.TABLE]).fetchone()
    except Exception:  # noqa: BLE001 - not a database we can read: leave it as datasette made it
        return
    if is_archive:
        conn.create_function("escape_fts", 1, search.match_or_nothing, deterministic=True)
        if search.outdated(conn) and not _warned_outdated:
            _warned_outdated.append(True)
            logger.warning(search.OUTDATED.replace("ARCHIVE", "the archive"))


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


def _languages_filtered(args) -> list[str] | None:
    """The languages the list is filtered to (`language=de`, `language__exact=de`,
    `language__in=de,fr`), or None: the search then stems only in those."""
    found = [*args.getlist("language"), *args.getlist("language__exact")]
    for value in args.getlist("language__in"):
        found += [code.strip() for code in value.split(",")]
    return [code for code in found if code] or None


def _shown(value: str | None) -> str | None:
    """A column's text as a reader sees it: a JSON list (authors, agencies) as `a, b`."""
    if value and value.startswith("["):
        try:
            return ", ".join(str(v) for v in json.loads(value))
        except ValueError:
            pass
    return value


def _snippet_html(text: str | None) -> Markup:
    html = str(escape(text or ""))
    return Markup(html.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>"))


def ranking_time_limit(datasette) -> int:
    """How long the ranking may take, in ms: RANKING_TIME_LIMIT_MS, or datasette's
    `facet_time_limit_ms` where that is longer (the ranking is an extra of the page, as a
    facet is: a server allowing its facets longer allows the ranking as long)."""
    return max(RANKING_TIME_LIMIT_MS, int(datasette.setting("facet_time_limit_ms") or 0))


@hookimpl
def extra_template_vars(view_name, table, database, datasette, request):
    if view_name != "table" or table != "articles":
        return {}

    async def dw_ranked(query: dict) -> list[dict] | None:
        """The best matches among the rows of datasette's table query `query` (sql, params);
        None when ranking them takes longer than RANKING_TIME_LIMIT_MS."""
        typed = request.scope.get("dw_search_typed") or request.args.get("_search")
        languages = _languages_filtered(request.args)
        match = search.match_query(typed or "", languages)
        if not match:
            return []
        sql = query["sql"]
        # datasette's table SQL ends "... [order by ...] limit N"; its rows are what to rank.
        selected = sql[: sql.rindex(" limit ")]
        # Rank first (the words as printed, then through a stem; bm25 within each), then cut
        # snippets from the best rows' stored text only. `+s.rowid`: the selected ids filter
        # the one full-text scan; as a plain `s.rowid in (...)` SQLite hands them to FTS5 as
        # rowid lookups, one whole MATCH evaluated per selected row (580 ms for 1,000 rows of
        # a 1M archive, 2 ms this way).
        ranked_sql = f"""
            with best as (
              select s.rowid as id, {search.tier()} as tier, {search.bm25()} as score
              from {search.TABLE} s
              where {search.TABLE} match :dw_match and +s.rowid in (select id from ({selected}))
              order by tier, score, id limit {RANKED_LIMIT})
            select a.id, a.published_at, a.language, a.title, {", ".join(f"a.{c}" for c in SNIPPET_FROM)}
            from best join articles a on a.id = best.id order by best.tier, best.score, best.id"""
        params = dict(query.get("params") or {}, dw_match=match,
                      dw_exact=search.exact_query(typed or "", languages) or search.MATCH_NOTHING)
        try:
            results = await datasette.get_database(database).execute(
                ranked_sql, params, custom_time_limit=ranking_time_limit(datasette))
        except QueryInterrupted:
            logger.warning("ranking %r took too long; the list stays newest first",
                           search.searched(typed or "")[0])
            return None
        hits = []
        for row in results.rows:
            # From the body if the words are there, else the teaser, credit line, authors,
            # agencies (the headline is shown anyway).
            found = next(filter(None, (search.snippet(_shown(row[c]), typed, row["language"],
                                                      open=_OPEN, close=_CLOSE)
                                       for c in SNIPPET_FROM)), "")
            hits.append({**{k: row[k] for k in ("id", "published_at", "language", "title")},
                         "snippet": _snippet_html(found)})
        return hits

    return {"dw_ranked": dw_ranked,
            "dw_rank_at_most": search.many_matches(datasette.plugin_config("dw_search")),
            "dw_search_typed": request.scope.get("dw_search_typed")}
