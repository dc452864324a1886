"""Source: the schema.org `NewsArticle` in the page's JSON-LD that describes this very page.

A page may carry several article objects (separate scripts, or one `@graph`), a related
story's among them: only the one whose `mainEntityOfPage`, `url` or `@id` names this page
(its canonical URL or content id) is used; a lone object that names no page is taken as the
page's own. Otherwise none is used, and `ld_mismatch` is noted. Strings are HTML-unescaped once.
"""

from __future__ import annotations

from collections.abc import Iterator

from crawler import dw
from crawler.extract.lenient_json import loads
from crawler.extract.page import Page
from crawler.text import unescaped

ARTICLE_TYPES = frozenset({"NewsArticle", "Article", "ReportageNewsArticle", "LiveBlogPosting",
                           "AnalysisNewsArticle", "OpinionNewsArticle", "BackgroundNewsArticle"})


def _walk(data, depth: int = 0) -> Iterator[dict]:
    """The objects of a JSON-LD block: top-level ones, in lists and in `@graph`s, 8 levels deep
    at most (a graph nests one or two; deeper is no JSON-LD a page means)."""
    if depth > 8:
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        yield from _walk(data.get("@graph", []), depth + 1)


def _is_article(node: dict) -> bool:
    types = node.get("@type")
    return any(t in ARTICLE_TYPES for t in (types if isinstance(types, list) else [types]))


def _named_ids(node: dict) -> set[int]:
    """The content ids of the DW pages an object says it describes."""
    main = node.get("mainEntityOfPage")
    values = [node.get("url"), node.get("@id"), main]
    if isinstance(main, dict):
        values += [main.get("@id"), main.get("url")]
    ids = set()
    for value in values:
        target = dw.parse_url(unescaped(value)) if isinstance(value, str) else None
        if target is not None:
            ids.add(target.id)
    return ids


def _own_object(page: Page) -> dict | None:
    objects: list[dict] = []
    for script in page.doc.css('script[type="application/ld+json"]'):
        try:
            data = loads(script.text() or "", page.warnings, surrogates=not page.decoded)
        except ValueError as exc:
            page.warnings.append(("ld_unreadable", f"a JSON-LD block cannot be read: {exc}"))
            continue
        objects += [node for node in _walk(data) if _is_article(node)]
    if not objects:
        return None
    named = [(node, _named_ids(node)) for node in objects]
    for node, ids in named:
        if page.id in ids:
            return node
    if len(objects) == 1 and not named[0][1]:
        return objects[0]
    page.warnings.append(("ld_mismatch", f"{len(objects)} JSON-LD article objects, none names"
                                         f" content {page.id}: the page's own markup is used"))
    return None


def _people(node: dict) -> list[str]:
    authors = node.get("author") or []
    authors = authors if isinstance(authors, list) else [authors]
    names = []
    for author in authors:
        if isinstance(author, str):  # `"author": "Jane Example"`, as some writers give it
            names.append(unescaped(author))
        elif isinstance(author, dict) and author.get("@type", "Person") == "Person":
            names.append(unescaped(author.get("name")) or "")
    return names


def read(page: Page) -> dict:
    """title, published_at, modified_at, authors: as this page's JSON-LD object gives them."""
    node = _own_object(page)
    if node is None:
        return {}
    found = {"title": unescaped(node.get("headline")), "authors": _people(node)}
    for name, key in (("published_at", "datePublished"), ("modified_at", "dateModified")):
        if page.date(node.get(key), f"JSON-LD {key}"):
            found[name] = node[key]
    return found
