"""Datasette plugin: the archive's views under any file name, and the SQL functions its queries use.

Loaded with `datasette serve ARCHIVE --metadata data/metadata.yml --template-dir data/templates
--plugins-dir plugins` (what `make serve` runs).

- The metadata describes the archive under the database name `dw` (the demo's `data/dw.db`). At
  startup every served database that is a dw-archive (it has `articles` and `crawl_runs` tables)
  gets that description, its saved queries and the dashboards' charts, whatever its file is
  called. This edits datasette's metadata dict in place (`_metadata_local`, datasette 0.65).
- SQL functions: `dw_agency(text)` the canonical agency name of any printed form (`rtr`,
  `reuters`, `Associated Press`), `dw_agency_note(name)` why one has no full name,
  `dw_content_id(text)` the content id in a short code, short
  link or article URL as pasted, `dw_fold(text)` the search folding of crawler/search.py, `dw_match(text)` its
  MATCH expression for what a reader typed, `dw_snippet(text, typed, language)` the passage of a
  stored text where those words are, marked `[…]`.
- Cells: `crawl_runs.stats` folded under its count of entries; an agency's name links to its page
  and one without a full name says why (crawler/dw/credits.py's AGENCY_NOTES).
- Jinja filters for the templates: `from_json`, `dw_dir` (rtl for DW's right-to-left languages),
  `dw_facet_order`.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from urllib.parse import unquote, urlencode

from datasette import hookimpl
from markupsafe import Markup, escape

from crawler import search
from crawler.dw import AGENCY_NOTES, RTL_LANGUAGES, canonical_agency, decode_short_code, parse_url

logger = logging.getLogger(__name__)

TEMPLATE_DATABASE = "dw"  # the name the metadata describes the archive under
ARCHIVE_TABLES = {"articles", "crawl_runs"}
_CODE = re.compile(r"^[0-9A-Za-z]{1,12}$")


def dw_content_id(text: str | None) -> int | None:
    """The content id named by a short code (`18axi`), a short link or an article URL; else None."""
    if not text:
        return None
    text = unquote(text.strip()).split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if text.isdigit():
        return int(text)
    if _CODE.match(text):
        return decode_short_code(text)
    if "://" not in text:
        text = "https://" + text
    parsed = parse_url(text)
    return parsed.id if parsed else None


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
    conn.create_function("dw_content_id", 1, dw_content_id, deterministic=True)
    conn.create_function("dw_fold", 1, search.fold, deterministic=True)
    conn.create_function("dw_match", 1, search.match_or_nothing, deterministic=True)
    conn.create_function("dw_snippet", 3, lambda text, q, language: search.snippet(text, q, language),
                         deterministic=True)


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
def prepare_jinja2_environment(env):
    env.filters["from_json"] = _from_json
    env.filters["dw_dir"] = lambda language: "rtl" if language in RTL_LANGUAGES else "ltr"
    env.filters["dw_facet_order"] = _facet_order


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
    if table == "agencies" and column == "name" and value:
        href = datasette.urls.database(database) + "/agency?" + urlencode({"agency": value})
        return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    if table == "agencies" and column == "full_name" and value is None:
        name = row["name"]
        note = AGENCY_NOTES.get(name) or ("not known: printed so in a credit line and not (yet) one"
                                          " of the agencies in crawler/dw/credits.py")
        return Markup(f"<em>{escape(note)}</em>")
    return None
