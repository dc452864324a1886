"""When an archived article is checked again (the spider's `revisits` source): the one rule, applied
to the archive's rows in one process and to the writer's state in Redis in a distributed crawl.

Hourly on the day of publication, daily in the week after, never later: DW edits a story most
in its first hours. Dates are compared as the archive stores them (UTC `YYYY-MM-DDTHH:MM:SSZ`,
or a bare day, which compares as its first instant).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

WINDOW = timedelta(days=7)  # published longer ago than this: never revisited
DAY_ONE_EVERY = timedelta(hours=1)
AFTER_EVERY = timedelta(days=1)
LIMIT = 5000  # articles revisited in one run at the most, newest first
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def since(now: datetime) -> str:
    """The earliest publication date still revisited at `now`."""
    return (now - WINDOW).strftime(STAMP)


def due(now: datetime, rows: Iterable[tuple], limit: int = LIMIT) -> list[tuple[int, str]]:
    """(id, url) of the `rows` (id, published_at, last_seen_at, url) due for a check at `now`,
    newest publication first."""
    def ago(delta: timedelta) -> str:
        return (now - delta).strftime(STAMP)

    week, day, hour = since(now), ago(timedelta(days=1)), ago(DAY_ONE_EVERY)
    every_day = ago(AFTER_EVERY)
    picked = [(published, article_id, url) for article_id, published, last_seen, url in rows
              if published and last_seen and published >= week
              and ((published >= day and last_seen < hour) or (published < day and last_seen < every_day))]
    picked.sort(reverse=True)
    return [(article_id, url) for _, article_id, url in picked[:limit]]
