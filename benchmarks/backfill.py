"""`make bench`, backfill part (issue 26): how fast CC-NEWS records are filtered by host.

    python -m benchmarks.backfill [--size-mb 1000] [--repeats 3]

A CC-NEWS-like WARC of about `--size-mb` MB (gzip) is generated once into benchmarks/work/
(response, request and metadata records of many hosts, hosts with `dw` in their names among
them, about 1% DW article pages) and read three ways, each from the start to the end:

- FastWARC's bare iteration: `ArchiveIterator(file, parse_http=False)`, every record, nothing
  read (the floor: decompression and WARC header parsing);
- backfill's filter (what `cc-news` runs on the HTTP body: `crawler.backfill.stream.WarcStream`
  and `passing_records`, then `crawler.backfill.run.check_record`): response records only,
  `WARC-Target-URI` host checked before the block is read, the bytes since the last record
  kept to find a cut-off end, each DW response's block read, kept as a gzip member and
  checked (one whole record, status 200, its page decoded);
- warcio's `ArchiveIterator` doing the same filtering (the other library the issue names).

Records per second are the file's records (all types) over the median elapsed seconds; the
target is backfill's filter at >= 0.5 of FastWARC's bare iteration. Each run proves its work:
the bare iteration counts every record, the filters find exactly the DW responses written.
Prints a table and writes `benchmarks/results-backfill.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from crawler import dw

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work" / "backfill"
RESULTS = ROOT / "benchmarks" / "results-backfill.json"


def generate(path: Path, size_mb: int) -> dict:
    """Write the WARC (unless it is there with its manifest); its manifest: records, DW responses."""
    manifest = path.with_suffix(".json")
    if path.exists() and manifest.exists():
        known = json.loads(manifest.read_text())
        if known.get("size_mb") == size_mb:
            return known
    from warcio.warcwriter import WARCWriter

    from devtools import warcgen

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = WARCWriter(None, gzip=False, warc_version="1.0")
    # A pool of other hosts' pages (varied text), and DW's real pages: reused with new URLs.
    others = list(warcgen.other_host_pages(200, size=40_000, seed=7))
    dw_pages = warcgen.dw_pages()
    records = dw_responses = n = 0
    with open(path, "wb") as out:
        while out.tell() < size_mb * 1_000_000:
            if n % 100 == 0:
                page = dw_pages[(n // 100) % len(dw_pages)]
                page = warcgen.Page(page.url, f"2024-01-{1 + n % 28:02d}T10:00:00Z", page.body)
                dw_responses += 1
            else:
                base = others[n % len(others)]
                page = warcgen.Page(f"{base.url}-{n}", base.date, base.body)
            for member in warcgen.records(page, writer, level=3):
                out.write(member)
            records += 3
            n += 1
    known = {"size_mb": size_mb, "bytes": path.stat().st_size, "records": records,
             "responses": n, "dw_responses": dw_responses}
    manifest.write_text(json.dumps(known))
    return known


def fastwarc_bare(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator

    with open(path, "rb") as handle:
        return sum(1 for _ in ArchiveIterator(handle, parse_http=False, fsspec_args=False))


def backfill_filter(path: Path) -> tuple[int, int]:
    """(responses seen, DW responses kept) by backfill's own filter."""
    from crawler.backfill.run import check_record
    from crawler.backfill.stream import WarcStream, passing_records

    counts: Counter = Counter()
    kept = 0
    with open(path, "rb") as handle:
        for passing in passing_records(WarcStream(handle), counts, lambda: False):
            kept += check_record(passing.read()).body.startswith(b"<")
    return counts["records"], kept


def warcio_filter(path: Path) -> tuple[int, int]:
    from warcio.archiveiterator import ArchiveIterator

    from crawler.backfill.stream import host_of

    seen = kept = 0
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type != "response":
                continue
            seen += 1
            if host_of(record.rec_headers.get_header("WARC-Target-URI") or "") in dw.DW_HOSTS:
                record.raw_stream.read()
                kept += 1
    return seen, kept


def timed(fn, path: Path, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill")
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    path = WORK / f"cc-news-like-{args.size_mb}mb.warc.gz"
    started = time.perf_counter()
    known = generate(path, args.size_mb)
    print(f"WARC: {known['bytes'] / 1e6:.0f} MB, {known['records']} records, {known['dw_responses']} DW"
          f" responses (generated or reused in {time.perf_counter() - started:.0f} s)")
    bare_s, bare = timed(fastwarc_bare, path, args.repeats)
    ours_s, (seen, kept) = timed(backfill_filter, path, args.repeats)
    warcio_s, (w_seen, w_kept) = timed(warcio_filter, path, 1)
    # Proof of work: every record iterated, every DW response found, by each reader.
    assert bare == known["records"], (bare, known)
    assert (seen, kept) == (known["responses"], known["dw_responses"]), (seen, kept, known)
    assert (w_seen, w_kept) == (known["responses"], known["dw_responses"]), (w_seen, w_kept, known)
    rate = {name: known["records"] / seconds for name, seconds in
            (("fastwarc_bare", bare_s), ("backfill_filter", ours_s), ("warcio_filter", warcio_s))}
    results = {**known, "seconds": {"fastwarc_bare": bare_s, "backfill_filter": ours_s,
                                    "warcio_filter": warcio_s},
               "records_per_second": rate,
               "ratio_to_fastwarc_bare": rate["backfill_filter"] / rate["fastwarc_bare"],
               "warcio_ratio_to_fastwarc_bare": rate["warcio_filter"] / rate["fastwarc_bare"]}
    print("| reader | seconds | records/s | of FastWARC's bare iteration |")
    print("|---|---|---|---|")
    for name in ("fastwarc_bare", "backfill_filter", "warcio_filter"):
        print(f"| {name} | {results['seconds'][name]:.1f} | {rate[name]:,.0f} |"
              f" {rate[name] / rate['fastwarc_bare']:.2f} |")
    verdict = "met" if results["ratio_to_fastwarc_bare"] >= 0.5 else "NOT met"
    print(f"backfill's filter at {results['ratio_to_fastwarc_bare']:.2f} of FastWARC's bare iteration"
          f" (target >= 0.5: {verdict})")
    RESULTS.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
