"""Datasette plugin: the archive's views under any file name, and the SQL functions its queries use.

Loaded with `datasette serve ARCHIVE --metadata data/metadata.yml --template-dir data/templates
--plugins-dir plugins` (what `make serve` runs).

- The metadata describes the archive under the database name `dw` (the demo's `data/dw.db`). At
  startup every served database that is a dw-archive (it has `articles` and `crawl_runs` tables)
  gets that description, its saved queries and the dashboards' charts, whatever its file is
  called. This edits datasette's metadata dict in place (`_metadata_local`, datasette 0.65).
- SQL functions: `dw_agency(text)` the canonical agency name of any printed form (`rtr`,
  `reuters`, `Associated Press`), `dw_names_agency(typed, name, full_name)` whether what a
  reader typed names that agency of the archive (crawler/dw/credits.py's one resolver: `OTS`
  names `ots`, `agencia lusa` names Lusa), `dw_agency_note(name)` why one has no full name,
  `dw_content_id(text)` the content id in a short code, short link or article URL as pasted,
  `dw_fold(text)` the search folding of crawler/search.py, `dw_match(text[, languages])` its
  MATCH expression for what a reader typed (stemmed only in the languages named, if any),
  `dw_exact(text[, languages])` the one without stems (the ranking's first tier),
  `dw_in_languages(language, languages)` whether a language is one named (all when none),
  `dw_snippet(text, typed, language)` the passage of a stored text where those words are,
  marked `[…]`.
- Cells: `crawl_runs.stats` folded under its count of entries; an agency's name links to its page
  and one without a full name says why (crawler/dw/credits.py's AGENCY_NOTES).
- Cells of the saved queries: an article's id and headline link to its reading view, a
  revision's to its page, an agency to its page; `changed` in words.
- Agency filters take any printed form: `agencies__arraycontains=rtr` (or `reuters`,
  `Agence France-Presse`) is read as `Reuters` before datasette sees it, as on the agency page.
- The site's navigation on every page (`dw_site_links()`: the list, agencies, charts, saved
  queries of the first archive served), error pages included.
- Jinja filters for the templates: `from_json`, `dw_dir` (rtl for DW's right-to-left languages),
  `dw_facet_order`, `dw_query_pairs`; globals `dw_site_links`, `dw_is_archive`,
  `dw_reader_tables` (home and database pages), `dw_query_limit`, `dw_search_cut` and `dw_search_total` (saved
  queries that stop at their own limit).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import weakref
from urllib.parse import parse_qsl, unquote, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from markupsafe import Markup, escape

from crawler import search
from crawler.arguments import clean_pasted_url
from crawler.dw import (
    AGENCY_NOTES,
    MAX_CONTENT_ID,
    RTL_LANGUAGES,
    canonical_agency,
    decode_short_code,
    is_content_id,
    parse_url,
)
from crawler.dw.credits import names_agency

logger = logging.getLogger(__name__)

TEMPLATE_DATABASE = "dw"  # the name the metadata describes the archive under
ARCHIVE_TABLES = {"articles", "crawl_runs"}
_CODE = re.compile(r"^[0-9A-Za-z]{1,12}$")


def dw_content_id(text: str | None) -> int | None:
    """The content id named by a short code (`18axi`), a short link or an article URL as pasted
    (in quotes or angle brackets, with sentence punctuation after it: crawler/arguments.py's
    `clean_pasted_url`, as the crawler reads `urls=`); else None."""
    if not text:
        return None
    text = clean_pasted_url(unquote(text)).split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if text.isdigit():
        value = int(text) if len(text) <= len(str(MAX_CONTENT_ID)) else None
    elif _CODE.match(text):
        value = decode_short_code(text)
    else:
        parsed = parse_url(text if "://" in text else "https://" + text)
        value = parsed.id if parsed else None
    return value if is_content_id(value) else None  # never a number SQLite cannot hold


def dw_agency(text: str | None) -> str | None:
    """The canonical name of an agency as printed or typed in any case; None when not known."""
    return canonical_agency(text) if text else None


def dw_agency_note(name: str | None) -> str | None:
    """Why a token printed among the agencies has no full name, where crawler/dw/credits.py says so."""
    return AGENCY_NOTES.get(name) if name else None


@hookimpl
def prepare_connection(conn):
    conn.create_function("dw_agency", 1, dw_agency, deterministic=True)
    conn.create_function("dw_agency_note", 1, dw_agency_note, deterministic=True)
    conn.create_function("dw_names_agency", 3, names_agency, deterministic=True)
    conn.create_function("dw_content_id", 1, dw_content_id, deterministic=True)
    conn.create_function("dw_fold", 1, search.fold, deterministic=True)
    conn.create_function("dw_match", 1, search.match_or_nothing, deterministic=True)
    conn.create_function("dw_match", 2, search.match_or_nothing, deterministic=True)
    conn.create_function("dw_exact", 1, search.exact_or_nothing, deterministic=True)
    conn.create_function("dw_exact", 2, search.exact_or_nothing, deterministic=True)
    conn.create_function("dw_in_languages", 2, in_languages, deterministic=True)
    conn.create_function("dw_snippet", 3, lambda text, q, language: search.snippet(text, q, language),
                         deterministic=True)


def in_languages(language: str | None, named: str | None) -> bool:
    """Whether an article's language is one a reader named (`de`, `de fr`, `de,fr`); every
    language when none is named."""
    codes = search.languages_named(named)
    return codes is None or language in codes


_ARCHIVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # datasette -> archive names


@hookimpl
def startup(datasette):
    async def alias_archives():
        metadata = datasette._metadata_local
        template = (metadata.get("databases") or {}).get(TEMPLATE_DATABASE)
        if not template:
            return
        archives = []
        for name, db in datasette.databases.items():
            if name.startswith("_"):
                continue
            if ARCHIVE_TABLES <= set(await db.table_names()):
                archives.append(name)
        _ARCHIVES[datasette] = archives
        for name in archives:
            metadata["databases"].setdefault(name, copy.deepcopy(template))
        if TEMPLATE_DATABASE not in datasette.databases and archives:
            # The dashboards name their database; point them at the (first) archive served.
            for dashboard in (metadata.get("plugins") or {}).get("datasette-dashboards", {}).values():
                for chart in dashboard.get("charts", {}).values():
                    if chart.get("db") == TEMPLATE_DATABASE:
                        chart["db"] = archives[0]
            logger.info("dw-archive views applied to %s", ", ".join(archives))

    return alias_archives


@hookimpl
def prepare_jinja2_environment(env, datasette):
    env.filters["from_json"] = _from_json
    env.filters["dw_dir"] = lambda language: "rtl" if language in RTL_LANGUAGES else "ltr"
    env.filters["dw_facet_order"] = _facet_order
    env.filters["dw_query_pairs"] = lambda query_string: parse_qsl(query_string or "", keep_blank_values=True)
    env.globals["dw_site_links"] = lambda: site_links(datasette)
    env.globals["dw_is_archive"] = lambda name: name in (_ARCHIVES.get(datasette) or ())
    env.globals["dw_query_limit"] = query_limit
    env.globals["dw_table_description"] = lambda database, table: (
        datasette.table_metadata(database, table).get("description"))

    async def reader_tables(database: str) -> list[str]:
        """The archive's tables a reader opens, in READER_TABLES order, then the others shown."""
        db = datasette.get_database(database)
        names = await db.table_names()
        hidden = set(await db.hidden_table_names())
        return ([t for t in READER_TABLES if t in names]
                + sorted((t for t in names if t not in READER_TABLES and t not in hidden), key=str.lower))

    async def search_total(database: str, typed: str | None, language: str | None = None) -> int | None:
        """How many articles the saved search's words match (in the languages named, if any);
        None past `search_count_limit`."""
        if not search.has_words(typed):
            return None
        try:
            result = await datasette.get_database(database).execute(
                f"select count(*) from {search.TABLE} s join articles a on a.id = s.rowid"
                f" where {search.TABLE} match dw_match(:q, :language)"
                " and dw_in_languages(a.language, :language)",
                {"q": typed, "language": language or ""}, custom_time_limit=search_count_limit(datasette))
        except QueryInterrupted:
            return None
        return result.first()[0]

    env.globals["dw_reader_tables"] = reader_tables
    env.globals["dw_search_total"] = search_total
    env.globals["dw_search_cut"] = search_cut


SEARCH_COUNT_LIMIT_MS = 500


def search_count_limit(datasette) -> int:
    """How long the saved search's count may take, in ms: SEARCH_COUNT_LIMIT_MS, or datasette's
    `facet_time_limit_ms` where that is longer (the count is an extra of the page, as a facet
    is, and as the ranking's limit is read in dw_search)."""
    return max(SEARCH_COUNT_LIMIT_MS, int(datasette.setting("facet_time_limit_ms") or 0))


def search_cut(typed: str | None) -> str:
    """A sentence saying which words of a search were left out (`crawler.search.searched`), or ""."""
    kept, cut = search.searched(typed or "")
    if not cut:
        return ""
    return (f"Only the first {search.MAX_QUERY_WORDS} words of a search are searched"
            f" (within {search.MAX_QUERY_CHARACTERS:,} characters): this one searched"
            f" “{kept.strip()}”, and the words after it were left out.")
_LIMIT = re.compile(r"\blimit\s+(\d+)\s*$", re.I)


def query_limit(sql: str | None) -> int | None:
    """The row limit a saved query's SQL ends with (`... limit 100`), or None."""
    found = _LIMIT.search(sql or "")
    return int(found[1]) if found else None


def site_links(datasette) -> list[tuple[str, str]]:
    """(label, path) of the archive's main pages, for the first archive served; [] without one."""
    archives = _ARCHIVES.get(datasette) or []
    if not archives:
        return []
    urls, name = datasette.urls, archives[0]
    return [("Articles", urls.table(name, "articles")), ("Agencies", urls.database(name) + "/agency"),
            ("Charts", urls.path("-/dashboards/archive")),
            ("Saved queries", urls.database(name) + "#queries"),
            ("Every table", urls.database(name) + "#tables")]


READER_TABLES = ("articles", "agencies", "revisions", "crawl_runs", "short_links", "authors")


# Filters whose value is an agency name: read any printed form as the canonical name.
_AGENCY_FILTERS = re.compile(r"^agencies__array(not)?contains$")
_AGENCY_COLUMN_FILTERS = re.compile(r"^agency(__exact|__not)?$")


def canonical_agency_filters(query_string: bytes, path: str) -> bytes:
    """The query string with the agency of every agency filter in its canonical form
    (`agencies__arraycontains=rtr` -> `Reuters`); unchanged when none needs it."""
    pairs = parse_qsl(query_string.decode("latin-1").encode("latin-1").decode("utf-8", "replace"),
                      keep_blank_values=True)
    on_links = path.rstrip("/").rsplit("/", 1)[-1].split(".")[0] == "article_agencies"
    changed = False
    for index, (key, value) in enumerate(pairs):
        if _AGENCY_FILTERS.match(key) or (on_links and _AGENCY_COLUMN_FILTERS.match(key)):
            name = canonical_agency(value)
            if name and name != value:
                pairs[index] = (key, name)
                changed = True
    return urlencode(pairs).encode("ascii") if changed else query_string


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def agency_filters(scope, receive, send):
            if scope.get("type") == "http" and b"agenc" in scope.get("query_string", b""):
                scope = dict(scope, query_string=canonical_agency_filters(
                    scope["query_string"], scope.get("path", "")))
            await app(scope, receive, send)

        return agency_filters

    return wrap


FACET_ORDER = ("language", "agencies", "authors")


def _facet_order(facets: list[dict]) -> list[dict]:
    """The list page's facets: language, agencies, authors, then any other asked for."""
    return sorted(facets, key=lambda f: (FACET_ORDER + (f["name"],)).index(f["name"]))


def _from_json(value):
    if not value:
        return []
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return [value]


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if table == "crawl_runs" and column == "stats" and value:
        try:
            stats = json.loads(value)
        except ValueError:
            return None
        lines = "\n".join(f"{key}: {stats[key]}" for key in sorted(stats))
        return Markup(f"<details><summary>{len(stats)} stats</summary>"
                      f"<pre style='white-space: pre-wrap'>{escape(lines)}</pre></details>")
    if table is None and value is not None and database in (_ARCHIVES.get(datasette) or ()):
        return _query_cell(row, value, column, database, datasette)
    if table == "agencies" and column == "name" and value:
        href = datasette.urls.database(database) + "/agency?" + urlencode({"agency": value})
        return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    if table == "agencies" and column == "full_name" and value is None:
        name = row["name"]
        note = AGENCY_NOTES.get(name) or ("not known: printed so in a credit line and not (yet) one"
                                          " of the agencies in crawler/dw/credits.py")
        return Markup(f"<em>{escape(note)}</em>")
    return None


def _query_cell(row, value, column, database, datasette) -> Markup | None:
    """A cell of a saved query (or SQL) on an archive: ids and headlines link to the reading
    view, revisions to their page, agencies to theirs; `changed` in words."""
    keys = set(row.keys())
    urls = datasette.urls
    if column in ("id", "title") and {"id", "title"} <= keys and isinstance(row["id"], int):
        return Markup(f'<a href="{escape(urls.row(database, "articles", row["id"]))}">{escape(value)}</a>')
    if column in ("revision", "title") and "revision" in keys and isinstance(row["revision"], int):
        return Markup(f'<a href="{escape(urls.row(database, "revisions", row["revision"]))}">'
                      f"{escape(value)}</a>")
    if column == "changed" and isinstance(value, str) and value.startswith("["):
        return Markup(escape(", ".join(str(name) for name in _from_json(value))))
    if column == "agency" and isinstance(value, str):
        href = urls.database(database) + "/agency?" + urlencode({"agency": value})
        return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    return None
