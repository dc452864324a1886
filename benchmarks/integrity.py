"""The archive check before a run writes (`crawler/archive/integrity.py`): what `PRAGMA quick_check`
and `PRAGMA integrity_check` each catch, and what each costs, at 1k, 100k and 1M articles.

    python -m benchmarks.integrity [--sizes 1000 100000 1000000] [--seeds 100]

Catches: a generated archive (benchmarks/archive.py's, with its search index) damaged in each
of five ways at three random pages besides the first, over SEEDS seeds per way; for each
variant, whether `integrity_check` reports it and whether `quick_check` does. Costs: wall
seconds of each check on an undamaged archive of each size, with the file in the page cache
(warm: a crawl started soon after the last) and after the file's pages were dropped from it
(cold: `posix_fadvise(DONTNEED)`), of FTS5's own `integrity-check` of the search index, and
of the whole check the crawl runs (`integrity.damage`: the -wal, integrity_check, FTS5).
Writes benchmarks/results-integrity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path

from benchmarks.archive import build_archive
from benchmarks.common import ROOT, WORK
from crawler.archive import integrity

PAGE = 4096
KINDS = ("random bytes", "zeroed", "flipped bits", "swapped", "cut short")


def damage(rng: random.Random, kind: str, pages: int, read) -> tuple[dict[int, bytes], int | None]:
    """Three pages besides the first damaged the `kind` way: ({page: its new bytes}, the page
    the file is cut at, or None). `read(page)` gives a page's bytes as they are."""
    chosen = rng.sample(range(1, pages), 3)
    if kind == "cut short":
        return {}, max(chosen)
    if kind == "swapped":
        return {chosen[0]: read(chosen[1]), chosen[1]: read(chosen[0])}, None
    written = {}
    for page in chosen:
        if kind == "random bytes":
            written[page] = rng.randbytes(PAGE)
        elif kind == "zeroed":
            written[page] = bytes(PAGE)
        else:  # flipped bits
            data = bytearray(read(page))
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(PAGE)] ^= 1 << rng.randrange(8)
            written[page] = bytes(data)
    return written, None


def reports(path: Path, pragma: str) -> bool:
    """True when SQLite's `pragma` finds damage in the file (read-only, nothing created)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
        conn.text_factory = bytes
        try:
            return [row[0] for row in conn.execute(f"PRAGMA {pragma}")] != [b"ok"]
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        return True


def catches(path: Path, seeds: int) -> dict:
    """Per kind of damage: variants seen by both checks, by integrity_check only, by neither.
    Damage is done in place on one copy and undone after each variant (a 1M archive is 5 GB)."""
    work = path.with_name("damaged.db")
    shutil.copyfile(path, work)
    size = path.stat().st_size
    out = {}
    with open(path, "rb") as original, open(work, "r+b") as damaged:
        def read(page: int) -> bytes:
            original.seek(page * PAGE)
            return original.read(PAGE)

        for kind in KINDS:
            seen = Counter()
            for seed in range(seeds):
                written, cut = damage(random.Random(seed), kind, size // PAGE, read)
                for page, data in written.items():
                    os.pwrite(damaged.fileno(), data, page * PAGE)
                if cut is not None:
                    os.truncate(damaged.fileno(), cut * PAGE)
                full, quick = reports(work, "integrity_check"), reports(work, "quick_check")
                seen["both" if full and quick else "integrity_check only" if full
                     else "quick_check only" if quick else "neither"] += 1
                for page in written:  # undone
                    os.pwrite(damaged.fileno(), read(page), page * PAGE)
                if cut is not None:
                    original.seek(cut * PAGE)
                    damaged.seek(cut * PAGE)
                    shutil.copyfileobj(original, damaged, 1 << 20)
                    damaged.flush()
            out[kind] = dict(seen)
    work.unlink()
    return out


def _drop_from_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(fn) -> float:
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    assert not result, f"an undamaged archive reported damage: {result}"  # the work happened
    return elapsed


def costs(path: Path, repeats: int) -> dict:
    """Seconds of each check, warm and cold, on the undamaged archive at `path`."""
    out = {"bytes": path.stat().st_size}
    checks = {
        "quick_check": lambda: integrity._check(path, "immutable=1", "quick_check", 3),
        "integrity_check": lambda: integrity._check(path, "immutable=1", "integrity_check", 3),
        # FTS5's own check of the search index, which integrity_check does not look inside.
        "fts5_integrity_check": lambda: integrity.search_index_damage(path),
        "whole check (integrity.damage)": lambda: integrity.damage(path),
    }
    for name, check in checks.items():
        check()  # warm the cache
        out[f"{name} warm s"] = min(_timed(check) for _ in range(repeats))
        cold = []
        for _ in range(repeats):
            _drop_from_cache(path)
            cold.append(_timed(check))
        out[f"{name} cold s"] = min(cold)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.integrity",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--seeds", type=int, default=100, help="damaged variants per kind (at 1k)")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    for size in args.sizes:
        path = WORK / f"integrity-{size}.db"
        started = time.perf_counter()
        build_archive(path, size)
        row = {"build s": round(time.perf_counter() - started, 1)}
        row.update(costs(path, repeats=3 if size < 1_000_000 else 1))
        # Catching: every seed up to 10k; fewer as each check grows with the archive (at 1M a
        # damaged variant costs both checks, some 25 s).
        seeds = max(3, args.seeds * 10_000 // size) if size > 10_000 else args.seeds
        row["catches"] = catches(path, seeds)
        row["seeds per kind"] = seeds
        results[str(size)] = row
        print(json.dumps({size: row}), flush=True)
        for leftover in WORK.glob(f"integrity-{size}.db*"):
            leftover.unlink()
    out = ROOT / "benchmarks" / "results-integrity.json"  # sizes measured earlier are kept
    kept = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**kept, **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
