"""A crawl's row in `crawl_runs` from its first moment: written `running` when the run starts (under
its run lock), completed when it ends. A run that never ended (`kill -9`, a power cut, an
out-of-memory kill) leaves its row `running`; the next run on the archive, holding the lock and
so sure that no other run is alive, marks it killed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from crawler.outcome import KILLED, RUNNING


def _in_transaction(db: sqlite3.Connection, work: Callable[[], object]):
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work()
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def start(db: sqlite3.Connection, started_at: str, arguments: str) -> tuple[int, int]:
    """Mark earlier `running` rows killed and add this run's row; (its id, how many were marked).

    Call it only while holding the archive's run lock. Raises sqlite3.Error.
    """
    def work():
        marked = db.execute("UPDATE crawl_runs SET outcome = ?, finish_reason = 'killed'"
                            " WHERE outcome = ?", [KILLED.text, RUNNING.text]).rowcount
        cursor = db.execute("INSERT INTO crawl_runs (started_at, arguments, outcome)"
                            " VALUES (?, ?, ?)", [started_at, arguments, RUNNING.text])
        return cursor.lastrowid, marked

    return _in_transaction(db, work)


def finish(db: sqlite3.Connection, run_id: int | None, run: dict) -> None:
    """Write the run's final row (keys: `crawl_runs` columns) over its `running` one, or add it
    when the run has none. Raises sqlite3.Error."""
    columns = list(run)
    if run_id is None:
        sql = (f"INSERT INTO crawl_runs ({', '.join(columns)})"
               f" VALUES ({', '.join('?' * len(columns))})")
        _in_transaction(db, lambda: db.execute(sql, [run[c] for c in columns]))
        return
    sql = f"UPDATE crawl_runs SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"
    try:
        _in_transaction(db, lambda: db.execute(sql, [*(run[c] for c in columns), run_id]))
    except sqlite3.Error:
        # A full archive (ARCHIVE_MAX_PAGES, the disk) has no room for the stats: the outcome
        # at least, so that the row does not stay `running` and pass for a killed run.
        brief = {c: run[c] for c in ("finished_at", "finish_reason", "outcome") if c in run}
        if not brief or len(brief) == len(run):
            raise
        _in_transaction(db, lambda: db.execute(
            f"UPDATE crawl_runs SET {', '.join(f'{c} = ?' for c in brief)} WHERE id = ?",
            [*brief.values(), run_id]))
        raise
