"""Datasette plugin: what the reading view of an article and of a revision needs.

- `dw_revisions(article_id)`: the earlier versions of an article, newest first.
- `dw_diff(revision_id)`: a revision beside the version after it (the next revision of the same
  article, or the article as archived now), as side-by-side HTML tables per changed field.
- Jinja filter `dw_highlight(text, typed, language)`: the text escaped, the words a search for
  `typed` finds in it marked `<mark>` (crawler/search.py's `spans`: the search's own folding and
  stems), for the reading view opened from a search (`?_search=`).
"""

from __future__ import annotations

import json
from difflib import SequenceMatcher

from datasette import hookimpl
from markupsafe import Markup, escape

from crawler import search

DIFF_FIELDS = ("title", "teaser", "body", "authors", "agencies")


def highlight(text: str | None, typed: str | None, language: str | None = None) -> Markup:
    """`text` as HTML, each word the search `typed` finds in it between `<mark>` and `</mark>`."""
    text = text or ""
    out, at = [], 0
    for start, end in search.spans(text, typed, language):
        out += [escape(text[at:start]), Markup("<mark>"), escape(text[start:end]), Markup("</mark>")]
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["dw_highlight"] = highlight


def _lines(field: str, value: str | None) -> list[str]:
    if field in ("authors", "agencies"):
        try:
            return [", ".join(json.loads(value or "[]"))]
        except ValueError:
            return [value or ""]
    return (value or "").split("\n\n") if field == "body" else [value or ""]


def _word_diff(old: str, new: str) -> tuple[str, str]:
    a, b = old.split(" "), new.split(" ")
    left, right = [], []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        removed, added = escape(" ".join(a[i1:i2])), escape(" ".join(b[j1:j2]))
        if op == "equal":
            left.append(removed)
            right.append(added)
            continue
        if removed:
            left.append(f"<del>{removed}</del>")
        if added:
            right.append(f"<ins>{added}</ins>")
    return " ".join(left), " ".join(right)


def _changed_rows(old: list[str], new: list[str]) -> list[tuple[str, str]]:
    """(left, right) HTML per changed paragraph: words marked where a paragraph was edited."""
    rows = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            rows += [_word_diff(a, b) for a, b in zip(old[i1:i2], new[j1:j2], strict=True)]
            continue
        gone = [f"<del>{escape(p)}</del>" for p in old[i1:i2]]
        came = [f"<ins>{escape(p)}</ins>" for p in new[j1:j2]]
        width = max(len(gone), len(came))
        rows += list(zip(gone + [""] * (width - len(gone)), came + [""] * (width - len(came)),
                         strict=True))
    return rows


def side_by_side(before: dict, after: dict, after_label: str) -> list[tuple[str, Markup]]:
    """(field, HTML table) for each field that differs between two versions of an article;
    for the body, only the paragraphs that changed."""
    tables = []
    for field in DIFF_FIELDS:
        old, new = _lines(field, before.get(field)), _lines(field, after.get(field))
        if old == new:
            continue
        body = "".join(f"<tr><td>{left}</td><td>{right}</td></tr>"
                       for left, right in _changed_rows(old, new))
        tables.append((field, Markup(
            f'<table class="diff"><thead><tr><th>this version</th><th>{escape(after_label)}</th>'
            f"</tr></thead><tbody>{body}</tbody></table>")))
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
