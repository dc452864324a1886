"""Datasette plugin: the articles list's agency and author facets, counted from the join tables.

datasette's `array` facet reads every selected row whole (`select distinct j.value, inner.*`):
at 100,000 articles it runs past the 200 ms facet limit and the list shows no agencies. The
archive keeps the same lists as join tables (`article_agencies` with role `text`,
`article_authors`, written with the JSON columns in one transaction, one row per article and
name), so a `dw_array` facet counts there, through their indexes, and reads no article row when
the list is not filtered. Its values, counts and links (`agencies__arraycontains=AFP`) are
those of the `array` facet. Configured in data/metadata.yml as `- dw_array: agencies`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import ArrayFacet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

from crawler.dw.credits import names_agency

# column of `articles` -> (join table, its name column, which of its rows)
JOINED = {"agencies": ("article_agencies", "agency", "role = 'text'"),
          "authors": ("article_authors", "author", "1 = 1")}


def facet_sql(column: str, selection_sql: str, limit: int, filtered: bool = True) -> str:
    """Counts per name of `column` among the articles `selection_sql` selects (all of them
    when not `filtered`)."""
    table, name, rows = JOINED[column]
    where = f"{rows}"
    if filtered:  # only the list's articles
        where += f" and article_id in (select id from ({selection_sql}))"
    return (f"select {escape_sqlite(name)} as value, count(*) as count from {escape_sqlite(table)}"
            f" where {where} group by value order by count desc, value limit {limit}")


def filters_rows(pairs) -> bool:
    """Whether a table page's query-string pairs select some rows only: a column filter
    (`language=en`, `agencies__arraycontains=AFP`), a search, `_where` or `_through`. (Its SQL
    always has a `where`: the first page's ordering token of plugins/dw_views.py, which every
    row passes.)"""
    return any(not key.startswith("_") or key.startswith("_search") or key in ("_where", "_through")
               for key, _ in pairs)


class JoinedArrayFacet(ArrayFacet):
    """The `array` facet of `agencies` or `authors`, counted from the join tables."""

    type = "dw_array"

    async def suggest(self):
        return []

    async def facet_results(self):
        results, timed_out = [], []
        size = self.get_facet_size()
        pairs = self.get_querystring_pairs()
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            if column not in JOINED or self.table != "articles":
                continue
            try:
                rows = await self.ds.execute(
                    self.database,
                    facet_sql(column, self.sql, size + 1, filters_rows(pairs)), self.params,
                    truncate=False, custom_time_limit=self.ds.setting("facet_time_limit_ms"))
            except QueryInterrupted:
                timed_out.append(column)
                continue
            values = []
            for row in rows.rows[:size]:
                value = str(row["value"])
                argument = {f"{column}__arraycontains": value}
                # An agency asked in any printed form (`rtr`) is this value (`Reuters`) once
                # plugins/dw_views.py resolved it.
                resolved = self.request.scope.get("dw_agency_names", ()) if column == "agencies" else ()
                selected = (f"{column}__arraycontains", value) in pairs or value in resolved
                if selected:  # every filter naming this agency, in whatever form it was typed
                    kept = [(k, v) for k, v in pairs if not (
                        k == f"{column}__arraycontains"
                        and (v == value or (column == "agencies" and names_agency(v, value))))]
                    path = self.request.path + ("?" + urlencode(kept) if kept else "")
                else:
                    path = path_with_added_args(self.request, argument)
                values.append({"value": value, "label": value, "count": row["count"],
                               "toggle_url": self.ds.absolute_url(self.request, path),
                               "selected": selected})
            results.append({
                "name": column, "type": self.type, "results": values,
                "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(
                    path_with_removed_args(self.request, {"_facet_dw_array": column})),
                "truncated": len(rows) > size})
        return results, timed_out


@hookimpl
def register_facet_classes():
    return [JoinedArrayFacet]
