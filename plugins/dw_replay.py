"""Datasette plugin: the "as captured" link of an article or a revision: its page replayed by
pywb from the archive's own WARC files (`make replay`), as it was captured.

- `dw_as_captured(row)` (an `articles` or `revisions` row): `{"href", "at"}`, or None when no
  capture of that version is kept (`warc_file`). The link is built from the capture's own
  WARC record: the URL that was captured (`WARC-Target-URI`: an old slug, `amp.dw.com`,
  `http://`, whatever pywb indexed it under) and its `WARC-Date`, not from the article's
  canonical URL. A record that cannot be read here (the WARC folder elsewhere) falls back to
  the row's `url` and `fetched_at`.

The replay's address is a setting, not part of the templates: the environment's `DW_REPLAY`
(`make serve` sets it from `REPLAY_PORT`, or `REPLAY=https://replay.example.org/dw`), else the
plugin's `replay` in metadata (`plugins: {dw-replay: {replay: ...}}`), else
`http://127.0.0.1:8090/dw` (what `make replay` serves).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from datasette import hookimpl

DEFAULT_REPLAY = "http://127.0.0.1:8090/dw"


def replay_origin(datasette) -> str:
    """Where pywb replays the archive's captures (`{origin}/{timestamp}/{url}`)."""
    configured = (datasette.plugin_config("dw-replay") or {}).get("replay")
    return (os.environ.get("DW_REPLAY") or configured or DEFAULT_REPLAY).rstrip("/")


def _candidates(warc_file: str, archive: str | None) -> list[Path]:
    """Where a stored `warc_file` may be: as stored, or by its name in the archive's captures
    folders (its own, and the `warc/` beside it of archives made before each had its own)."""
    path = Path(warc_file)
    out = [path]
    if archive:
        from crawler.archive import paths

        with_name = [paths.captures_dir(archive) / path.name, paths.legacy_captures_dir(archive) / path.name]
        out += [p for p in with_name if p != path]
    return out


_FOUND: dict[tuple[str, int, str | None], tuple[str, str]] = {}  # records never change once written


def captured_as(warc_file: str, offset: int, archive: str | None) -> tuple[str, str] | None:
    """(WARC-Target-URI, WARC-Date as 14 digits) of the record at `offset`, or None."""
    key = (warc_file, offset, archive)
    if key not in _FOUND:
        found = _read_head(warc_file, offset, archive)
        if found is None:
            return None
        if len(_FOUND) > 100_000:
            _FOUND.clear()
        _FOUND[key] = found
    return _FOUND[key]


def _read_head(warc_file: str, offset: int, archive: str | None) -> tuple[str, str] | None:
    from warcio.archiveiterator import ArchiveIterator

    from crawler.dates import to_utc
    from crawler.warc.read import target_uri

    for path in _candidates(warc_file, archive):
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                record = next(iter(ArchiveIterator(handle)))
                uri = target_uri(record.rec_headers.get_header("WARC-Target-URI"))
                when = to_utc(record.rec_headers.get_header("WARC-Date"))
        except Exception:  # noqa: BLE001, S112 - any unreadable file: try the next place
            continue
        if uri and when:
            return uri, _digits(when)
    return None


def _digits(when: str) -> str:
    return "".join(c for c in when if c.isdigit())[:14]


@hookimpl
def extra_template_vars(view_name, database, datasette):
    if view_name != "row":
        return {}
    db = datasette.get_database(database)

    async def dw_as_captured(row) -> dict | None:
        row = dict(row or {})
        if not row.get("warc_file") or row.get("warc_offset") is None:
            return None
        found = await asyncio.to_thread(captured_as, row["warc_file"], int(row["warc_offset"]), db.path)
        uri, stamp = found or (row.get("url"), _digits(row.get("fetched_at") or ""))
        if not (uri and stamp):
            return None
        at = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[8:10]}:{stamp[10:12]}"
        return {"href": f"{replay_origin(datasette)}/{stamp}/{uri}", "at": at}

    return {"dw_as_captured": dw_as_captured}
