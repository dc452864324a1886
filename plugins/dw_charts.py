"""Datasette plugin: the archive's charts on a server that runs no SQL of its visitors' own.

datasette-dashboards (0.8) fetches each chart's rows through datasette's SQL API
(`/<db>.json?sql=<the chart's query>`) and asks for the `execute-sql` permission on its pages;
it cannot read saved queries. With `default_allow_sql` off (`make serve ALLOW_SQL=off`) that
would turn the charts off with every visitor's SQL. Here `execute-sql` is granted for exactly
what the charts need and nothing else: the dashboards' own pages (`/-/dashboards...`), and the
SQL API when its `sql` is, character for character, the query of one of the charts the
metadata (data/metadata.yml) configures for that database, with no other parameter than
datasette's own (`_shape`, ...). Any other SQL stays refused (403), as datasette refuses it.
"""

from __future__ import annotations

from contextvars import ContextVar
from urllib.parse import parse_qsl

from datasette import hookimpl

# Set while a request of the charts (see the module doc) is answered.
_CHARTS_REQUEST: ContextVar[bool] = ContextVar("dw_charts_request", default=False)
DASHBOARDS_PATH = "/-/dashboards"


def chart_queries(datasette) -> dict[str, set[str]]:
    """The SQL of every configured chart, by the name of the database it runs on."""
    plugins = (datasette.metadata() or {}).get("plugins") or {}
    queries: dict[str, set[str]] = {}
    for dashboard in (plugins.get("datasette-dashboards") or {}).values():
        for chart in (dashboard.get("charts") or {}).values():
            if chart.get("db") and chart.get("query"):
                queries.setdefault(chart["db"], set()).add(chart["query"])
    return queries


def is_chart_request(datasette, path: str, query_string: bytes) -> bool:
    """Whether a GET of `path?query_string` is a dashboard page or the rows of one chart."""
    base = datasette.setting("base_url") or "/"
    if base != "/" and path.startswith(base):
        path = "/" + path[len(base):]
    if path == DASHBOARDS_PATH or path.startswith(DASHBOARDS_PATH + "/"):
        return True
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    sqls = [value for key, value in pairs if key == "sql"]
    if len(sqls) != 1 or any(key != "sql" and not key.startswith("_") for key, _ in pairs):
        return False
    name = path.strip("/").removesuffix(".json")
    return "/" not in name and sqls[0] in chart_queries(datasette).get(name, set())


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def charts_only(scope, receive, send):
            if (scope.get("type") == "http" and scope.get("method") in ("GET", "HEAD")
                    and is_chart_request(datasette, scope.get("path", ""), scope.get("query_string", b""))):
                token = _CHARTS_REQUEST.set(True)
                try:
                    await app(scope, receive, send)
                finally:
                    _CHARTS_REQUEST.reset(token)
            else:
                await app(scope, receive, send)

        return charts_only

    return wrap


@hookimpl(trylast=True)  # after datasette's own check (default_allow_sql), whose answer this overrides
def permission_allowed(datasette, actor, action, resource):
    if action == "execute-sql" and _CHARTS_REQUEST.get():
        return True
    return None
