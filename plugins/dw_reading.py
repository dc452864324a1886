"""Datasette plugin: what the reading view of an article and of a revision needs.

- `dw_revisions(article_id)`: the earlier versions of an article, newest first.
- `dw_diff(revision_id)`: a revision beside the version after it (the next revision of the same
  article, or the article as archived now): side-by-side HTML tables per changed text field, the
  changed words marked, and the pictures before and after when they changed.

The words are compared with diff-match-patch (Myers' diff with a deadline), never longer than
`DIFF_TIME_BUDGET_S` for one page whatever the text: past it the rest of the page is compared
in longer runs (a changed paragraph shown whole), and the page says so (`coarse`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from datasette import hookimpl
from diff_match_patch import diff_match_patch
from markupsafe import Markup, escape

# Text fields compared word by word, in the order shown, with the label a reader sees.
DIFF_FIELDS = {"title": "headline", "teaser": "teaser", "body": "text", "subheads": "subheads",
               "authors": "authors", "credit_line": "credit line", "agencies": "agencies",
               "topics": "topics"}
FIELD_LABELS = {**DIFF_FIELDS, "images": "pictures"}
LIST_FIELDS = {"subheads", "authors", "agencies", "topics"}
DIFF_TIME_BUDGET_S = 0.4  # one revision page's word marking; datasette's SQL limit is 1 s
_MAX_CODES = 0x10FFFF  # distinct words (or paragraphs) one comparison can tell apart


def _as_list(value) -> list:
    if isinstance(value, list):
        return value
    try:
        value = json.loads(value or "[]")
    except (TypeError, ValueError):
        return [value]
    return value if isinstance(value, list) else [value]


def _lines(field: str, value: str | None) -> list[str]:
    if field in LIST_FIELDS:
        return [", ".join(str(v) for v in _as_list(value))]
    return (value or "").split("\n\n") if field == "body" else [value or ""]


class Differ:
    """Compares sequences of strings (words, paragraphs) under one deadline (time.time())."""

    def __init__(self, budget_s: float = DIFF_TIME_BUDGET_S):
        self.engine = diff_match_patch()
        self.deadline = time.time() + budget_s
        self.coarse = False  # True once a comparison ran out of time

    def opcodes(self, a: Sequence[str], b: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
        """difflib-style opcodes (`equal`, `delete`, `insert`) turning `a` into `b`."""
        codes: dict[str, str] = {}

        def encode(items: Sequence[str]) -> str | None:
            out = []
            for item in items:
                code = codes.get(item)
                if code is None:
                    if len(codes) >= _MAX_CODES:
                        return None
                    code = codes[item] = chr(len(codes))
                out.append(code)
            return "".join(out)

        left, right = encode(a), encode(b)
        if left is None or right is None:
            self.coarse = True
            return [("delete", 0, len(a), 0, 0), ("insert", len(a), len(a), 0, len(b))]
        diffs = self.engine.diff_main(left, right, False, self.deadline)
        if time.time() > self.deadline:
            self.coarse = True
        ops, i, j = [], 0, 0
        for op, text in diffs:
            n = len(text)
            if op == diff_match_patch.DIFF_EQUAL:
                ops.append(("equal", i, i + n, j, j + n))
                i, j = i + n, j + n
            elif op == diff_match_patch.DIFF_DELETE:
                ops.append(("delete", i, i + n, j, j))
                i += n
            else:
                ops.append(("insert", i, i, j, j + n))
                j += n
        return ops

    def words(self, old: str, new: str) -> tuple[str, str]:
        """Two HTML strings: `old` with its removed words in <del>, `new` with its added ones in <ins>."""
        a, b = old.split(" "), new.split(" ")
        left, right = [], []
        for op, i1, i2, j1, j2 in self.opcodes(a, b):
            removed, added = escape(" ".join(a[i1:i2])), escape(" ".join(b[j1:j2]))
            if op == "equal":
                left.append(removed)
                right.append(added)
            elif op == "delete":
                left.append(f"<del>{removed}</del>")
            else:
                right.append(f"<ins>{added}</ins>")
        return " ".join(left), " ".join(right)

    def paragraphs(self, old: list[str], new: list[str]) -> list[tuple[str, str]]:
        """(left, right) HTML per changed paragraph: words marked where a paragraph was edited."""
        rows: list[tuple[str, str]] = []
        gone: list[str] = []
        came: list[str] = []

        def flush():
            if len(gone) == len(came):  # paragraphs edited in place: mark their words
                rows.extend(self.words(a, b) for a, b in zip(gone, came, strict=True))
            else:
                width = max(len(gone), len(came))
                lefts = [f"<del>{escape(p)}</del>" for p in gone] + [""] * (width - len(gone))
                rights = [f"<ins>{escape(p)}</ins>" for p in came] + [""] * (width - len(came))
                rows.extend(zip(lefts, rights, strict=True))
            gone.clear()
            came.clear()

        for op, i1, i2, j1, j2 in self.opcodes(old, new):
            if op == "equal":
                flush()
            elif op == "delete":
                gone.extend(old[i1:i2])
            else:
                came.extend(new[j1:j2])
        flush()
        return rows


def side_by_side(before: dict, after: dict, after_label: str,
                 differ: Differ | None = None) -> list[tuple[str, Markup]]:
    """(field label, HTML table) for each text field that differs between two versions of an
    article; for the body, only the paragraphs that changed."""
    differ = differ or Differ()
    tables = []
    for field, label in DIFF_FIELDS.items():
        old, new = _lines(field, before.get(field)), _lines(field, after.get(field))
        if old == new:
            continue
        body = "".join(f"<tr><td>{left}</td><td>{right}</td></tr>"
                       for left, right in differ.paragraphs(old, new))
        tables.append((label, Markup(
            f'<table class="diff" data-field="{field}"><thead><tr><th>this version</th>'
            f"<th>{escape(after_label)}</th></tr></thead><tbody>{body}</tbody></table>")))
    return tables


def changed_images(before: dict, after: dict) -> list[tuple[dict | None, dict | None]]:
    """(picture before, picture after) for each position whose picture, caption or credit
    differs; None where one version has fewer pictures."""
    old = [i for i in _as_list(before.get("images")) if isinstance(i, dict)]
    new = [i for i in _as_list(after.get("images")) if isinstance(i, dict)]
    pairs = []
    for index in range(max(len(old), len(new))):
        a = old[index] if index < len(old) else None
        b = new[index] if index < len(new) else None
        if a != b:
            pairs.append((a, b))
    return pairs


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
            after, label = dict(later), f"the version after it (until {later['seen_at'][:16]} UTC)"
        else:
            current = (await db.execute("select * from articles where id = ?",
                                        [revision["article_id"]])).first()
            after, label = dict(current or {}), "the version after it (as archived now)"
        differ = Differ()
        return {"revision": revision, "after": after, "after_label": label,
                "tables": side_by_side(revision, after, label, differ),
                "images": changed_images(revision, after), "coarse": differ.coarse,
                "changed": [FIELD_LABELS.get(f, f) for f in _as_list(revision.get("changed"))]}

    return {"dw_revisions": dw_revisions, "dw_diff": dw_diff}
