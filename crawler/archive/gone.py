"""Articles gone from DW: listed still, but their page answers 404 Not Found or 410 Gone.

DW's sitemaps and feeds go on listing an article for a while after it was removed. Such an
article is no failure of the crawl (nothing the crawler can change) but a fact about the site:
each run counts it as gone (`dw/gone`, `dw/gone/http_404`), logs it once with its URL, and the
archive remembers it in `gone_articles` (its id, URL, status, when it was first found gone and
when it was last asked), so that later runs do not ask for it again, unless

- a listing dates it (its `lastmod` or publication date) after that last check: DW changed it,
  perhaps brought it back; or
- the last check is older than `DW_GONE_RECHECK_DAYS` days (default 30; 0: every run asks
  again), so an article restored without a new date is found within that time.

Nothing archived is touched: an article archived before it went 404 keeps its row and every
revision; its `gone_articles` row only says that DW no longer serves it. An article whose page
answers again (200 or 304) is no longer gone: its row is deleted.

The ids a run found gone are remembered only when some article page of the same run answered
(200 or 304): a run in which every article page answered 404 may be talking to the wrong site
or a broken route (its outcome fails when they are many: `crawler.outcome.every_article_gone`),
and remembering its ids would hide those articles from the next runs, which ask for them again.

An article asked for by `urls=` or a short link that answers 404 stays a failure: the operator
asked for that page. `refresh=all` asks for gone articles too.

A rebuild from the WARC files (`python -m crawler.reextract`) remembers them the same way, from
each request record's account of what was asked (crawler/warc/capture.py `ASKED`) and each
run's other answers (`record_captured`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawler.arguments import SOURCES

GONE_STATUSES = frozenset({404, 410})
# The article requests whose 404/410 means gone: those of a listing, or a revisit of the
# archive's own (not `urls` nor `short_links`: the operator named that page).
GONE_SOURCES = frozenset(SOURCES)
TABLE = "gone_articles"
COLUMNS = {"id": int, "url": str, "status": int, "first_gone_at": str, "checked_at": str}


@dataclass(frozen=True)
class Gone:
    """One article found gone: its DW content id, its dw.com URL, the HTTP status (404, 410) and
    when it was asked (UTC, the archive's form `2026-12-06T04:31:40Z`)."""

    article_id: int
    url: str
    status: int
    checked_at: str


def asked_again(checked_at: str, changed_at: str | None, recheck_before: str) -> bool:
    """Whether an article found gone at `checked_at` is asked for again: a listing dates it after
    that check (`changed_at`, the latest of its entry's dates, UTC), or the check is older than
    `recheck_before` (`recheck_cutoff`). All three in the archive's timestamp form."""
    return bool(changed_at and changed_at > checked_at) or checked_at < recheck_before


def recheck_cutoff(now: datetime, days: float) -> str:
    """The time before which a check of a gone article is too old to be trusted: `days` before
    `now` (an aware datetime), in the archive's timestamp form."""
    return (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(db: sqlite3.Connection) -> dict[int, str]:
    """{article id: when it was last asked} of every article the archive holds as gone."""
    return dict(db.execute(f"SELECT id, checked_at FROM {TABLE}"))


# A check of an article found gone: a new row, or the last check of one known (its first kept).
_UPSERT = (f"INSERT INTO {TABLE} (id, url, status, first_gone_at, checked_at) VALUES (?, ?, ?, ?, ?)"
           " ON CONFLICT(id) DO UPDATE SET url = excluded.url, status = excluded.status,"
           " checked_at = max(checked_at, excluded.checked_at)")


def record_captured(db: sqlite3.Connection, gone: Iterable[Gone], answered: dict[int, str]) -> int:
    """`record` for one run read back from its captures (a rebuild, or a re-read in place of
    captures the archive may have moved past): an article found gone is not remembered when
    the archive saw it answer later (its `last_seen_at` after the check), and an answer at a
    time (`answered`, {article id: when}) forgets only the checks before it; so an earlier
    run's captures never undo what a later run found. The number of articles remembered.
    Raises sqlite3.Error."""
    def seen_since(g: Gone) -> bool:  # by its primary key: any number of ids
        row = db.execute("SELECT last_seen_at FROM articles WHERE id = ?", [g.article_id]).fetchone()
        return bool(row and row[0] and row[0] > g.checked_at)

    rows = [(g.article_id, g.url, g.status, g.checked_at, g.checked_at) for g in gone
            if not seen_since(g)]
    if not (rows or answered):
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(_UPSERT, rows)
        db.executemany(f"DELETE FROM {TABLE} WHERE id = ? AND checked_at <= ?", answered.items())
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return len(rows)


def record(db: sqlite3.Connection, gone: Iterable[Gone], back: Iterable[int]) -> None:
    """Remember the articles found gone (a new row, or the last check of one known: its first
    check kept) and forget those that answered again (`back`), in one transaction.
    Raises sqlite3.Error."""
    gone, back = list(gone), list(back)
    if not (gone or back):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        write(db, gone, back)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def write(db: sqlite3.Connection, gone: Iterable[Gone], back: Iterable[int]) -> None:
    """`record`'s statements, inside a transaction the caller holds (the distributed writer's
    batch: crawler/distributed/state.py). Raises sqlite3.Error."""
    rows = [(g.article_id, g.url, g.status, g.checked_at, g.checked_at) for g in gone]
    db.executemany(_UPSERT, rows)
    db.executemany(f"DELETE FROM {TABLE} WHERE id = ?", [(article_id,) for article_id in back])
