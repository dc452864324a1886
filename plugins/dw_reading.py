"""Datasette plugin: what the reading view of an article and of a revision needs.

- `dw_revisions(article_id)`: the earlier versions of an article, newest first.
- `dw_diff(revision_id)`: a revision beside the version after it (the next revision of the same
  article, or the article as archived now), as side-by-side HTML tables per changed field.
"""

from __future__ import annotations

import difflib
import json

from datasette import hookimpl
from markupsafe import Markup

DIFF_FIELDS = ("title", "teaser", "body", "authors", "agencies")


def _lines(field: str, value: str | None) -> list[str]:
    if field in ("authors", "agencies"):
        try:
            return [", ".join(json.loads(value or "[]"))]
        except ValueError:
            return [value or ""]
    return (value or "").split("\n\n") if field == "body" else [value or ""]


def side_by_side(before: dict, after: dict, after_label: str) -> list[tuple[str, Markup]]:
    """(field, HTML table) for each field that differs between two versions of an article."""
    tables = []
    for field in DIFF_FIELDS:
        old, new = _lines(field, before.get(field)), _lines(field, after.get(field))
        if old == new:
            continue
        table = difflib.HtmlDiff().make_table(
            old, new, "this version", after_label, context=field == "body", numlines=1)
        # Spaces, not HtmlDiff's &nbsp;, so that long paragraphs wrap in their column.
        tables.append((field, Markup(table.replace("&nbsp;", " "))))
    return tables


@hookimpl
def extra_template_vars(view_name, database, datasette):
    if view_name != "row":
        return {}
    db = datasette.get_database(database)

    async def dw_revisions(article_id) -> list[dict]:
        rows = await db.execute(
            "select id, seen_at, modified_at, changed from revisions where article_id = ?"
            " order by seen_at desc, id desc", [article_id])
        return [dict(row) for row in rows.rows]

    async def dw_diff(revision_id) -> dict:
        revision = (await db.execute("select * from revisions where id = ?", [revision_id])).first()
        if revision is None:
            return {}
        revision = dict(revision)
        later = (await db.execute(
            "select * from revisions where article_id = ? and (seen_at > ? or (seen_at = ? and id > ?))"
            " order by seen_at, id limit 1",
            [revision["article_id"], revision["seen_at"], revision["seen_at"], revision_id])).first()
        if later is not None:
            after, label = dict(later), f"the version after it (until {later['seen_at']})"
        else:
            current = (await db.execute("select * from articles where id = ?",
                                        [revision["article_id"]])).first()
            after, label = dict(current or {}), "the version after it (as archived now)"
        return {"revision": revision, "after": after, "tables": side_by_side(revision, after, label)}

    return {"dw_revisions": dw_revisions, "dw_diff": dw_diff}
