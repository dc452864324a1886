"""Re-extraction's progress: what is done (to resume after a stop) and what is shown meanwhile."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger("crawler.reextract")

LOG_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
PROGRESS_TABLE = "reextract_progress"
SAVE_EVERY = 1.0  # seconds between checkpoint writes (a kill redoes at most this much)


class Checkpoint:
    """Records done by an unfinished run, in the archive; emptied when a run completes."""

    def __init__(self, db, version: str):
        self.db = db
        self.version = version
        table = db[PROGRESS_TABLE]
        if not table.exists():
            table.create({"warc_file": str, "warc_offset": int, "extractor_version": str},
                         pk=("warc_file", "warc_offset"))
        db.execute(f"DELETE FROM {PROGRESS_TABLE} WHERE extractor_version != ?", [version])
        self.pending: list[tuple[str, int, str]] = []
        self.saved_at = time.monotonic()

    def done(self) -> set[tuple[str, int]]:
        return set(self.db.execute(f"SELECT warc_file, warc_offset FROM {PROGRESS_TABLE}"))

    def mark(self, path: str, offset: int) -> None:
        self.pending.append((Path(path).name, offset, self.version))
        if len(self.pending) >= 200 or time.monotonic() - self.saved_at >= SAVE_EVERY:
            self.save()

    def save(self) -> None:
        self.saved_at = time.monotonic()
        if self.pending:
            self.db.conn.executemany(f"INSERT OR IGNORE INTO {PROGRESS_TABLE} VALUES (?, ?, ?)",
                                     self.pending)
            self.pending = []

    def finish(self) -> None:
        self.pending = []
        self.db.execute(f"DELETE FROM {PROGRESS_TABLE}")


def progress(results: Iterator, files: list[Path]) -> Iterator:
    """Results, with a progress bar on a terminal, or a log line every LOG_EVERY seconds; both
    give pages per second and an ETA, from how far into the files the results are."""
    starts, total = {}, 0
    for path in files:
        starts[str(path)] = total
        total += path.stat().st_size if path.exists() else 0
    started = last = time.monotonic()
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc="re-extracting", smoothing=0.1)
    try:
        for n, result in enumerate(results, start=1):
            yield result
            entry = result[0]
            done = starts.get(entry.path, 0) + entry.offset
            now = time.monotonic()
            if bar is not None:
                bar.update(done - bar.n)
                bar.set_postfix_str(f"{n} pages, {n / max(now - started, 1e-6):.0f} pages/s",
                                    refresh=False)
            elif now - last >= LOG_EVERY:
                last = now
                rate, share = n / (now - started), done / total if total else 1.0
                eta = (now - started) * (1 - share) / share if share else 0.0
                logger.info("re-extracted %d pages (%.0f/s), %.0f%% of the WARC bytes,"
                            " about %.0f s to go", n, rate, share * 100, eta)
    finally:
        if bar is not None:
            bar.close()
