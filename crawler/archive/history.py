"""An article's versions in time, and where a fetch older than the stored one goes among them.

The archive holds one current version per article (`articles`) and its earlier versions
(`revisions`). Read as a timeline, version i is the article's content from its start (the end of
version i-1, or `first_seen_at` for the first) until its end (the revision's `seen_at`: the fetch
time of the version after it); the current version runs from the last revision's `seen_at` (or
`first_seen_at`) until `last_seen_at`, its latest sighting.

A fetch at or after `last_seen_at` is the newest thing known and simply updates the article
(`crawler.archive.store`). A fetch *older* than `last_seen_at` never replaces the current
content: `place()` says where it goes instead, as changes to make to the revisions and to
`first_seen_at`. All timestamps are the archive's UTC text form, which sorts as time does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from crawler.archive.schema import CONTENT_FIELDS

# What a revision row keeps of the version it holds, besides the content fields.
_VERSION_KEYS = ("content_hash", "modified_at", "fetched_at", "warc_file", "warc_offset")


@dataclass
class Placement:
    """What to write for an older fetch: `verdict` is `unchanged` (a version the archive already
    has at that time; nothing but perhaps `first_seen_at`) or `earlier` (kept as an earlier
    revision). `insert`: new revision rows; `update`: (revision id, new seen_at, new changed
    JSON) for revisions whose end moves earlier; `first_seen_at`: the article's new first
    sighting, or None to keep it."""

    verdict: str
    insert: list[dict] = field(default_factory=list)
    update: list[tuple[int, str, str]] = field(default_factory=list)
    first_seen_at: str | None = None


def changed(before: Mapping, after: Mapping) -> str:
    """The content fields that differ from `before` to `after`, as the JSON list a revision's
    `changed` holds (a field `before` lacks, NULL, is not counted: it was added later)."""
    return json.dumps([f for f in CONTENT_FIELDS if before.get(f) is not None and before[f] != after.get(f)])


def revision_row(article_id: int, version: Mapping, seen_at: str, after: Mapping, cause: str) -> dict:
    """The `revisions` row keeping `version` (an `articles` or `revisions` row, or a new article
    row) as the article's content until `seen_at`, when `after` was fetched."""
    return {"article_id": article_id, "seen_at": seen_at, "changed": changed(version, after),
            "cause": cause, **{k: version.get(k) for k in _VERSION_KEYS},
            **{f: version.get(f) for f in CONTENT_FIELDS}}


def place(current: Mapping, revisions: list[Mapping], row: Mapping, fetched_at: str, cause: str) -> Placement:
    """Where the fetch `row` (an `articles` row), made at `fetched_at`, goes in the history of the
    article whose current row is `current` and whose revisions (rows with `id`, `seen_at`, in
    (seen_at, id) order) are `revisions`; `fetched_at` is before `current["last_seen_at"]`.

    - Before the first version: a new first revision (or, same content, only an earlier
      `first_seen_at`).
    - Inside a version with the same content: nothing; with other content, the fetch becomes a
      revision there: the version it fell in now ends at `fetched_at`, and the fetched content
      runs until that version's old end. When that version is the current one (fetched again
      later with its content: an edit undone), it is kept twice, before and after.
    """
    article_id = current["id"]
    versions: list[tuple[str, str, Mapping]] = []  # (start, end, row)
    start = current["first_seen_at"] or fetched_at
    for revision in revisions:
        versions.append((start, revision["seen_at"], revision))
        start = revision["seen_at"]
    versions.append((start, current["last_seen_at"], current))
    digest = row["content_hash"]

    first_start, _, first = versions[0]
    if fetched_at < first_start:
        if first["content_hash"] == digest:
            return Placement("unchanged", first_seen_at=fetched_at)
        return Placement("earlier", insert=[revision_row(article_id, row, first_start, first, cause)],
                         first_seen_at=fetched_at)
    index = max(i for i, (start, _, _) in enumerate(versions) if start <= fetched_at)
    start, end, version = versions[index]
    if version["content_hash"] == digest:
        return Placement("unchanged")
    if fetched_at == start:
        # Two contents fetched in the same second: the older fetch is put first.
        return Placement("earlier", insert=[revision_row(article_id, row, start, version, cause)])
    if version is current:
        # The stored content before and after this fetch: kept as it was until `fetched_at`,
        # the fetched content until the stored one was seen again.
        return Placement("earlier", insert=[
            revision_row(article_id, current, fetched_at, row, cause),
            revision_row(article_id, row, end, current, cause)])
    following = versions[index + 1][2]
    if following["content_hash"] == digest:  # the next version, seen sooner than known
        return Placement("earlier", update=[(version["id"], fetched_at, version["changed"])])
    return Placement("earlier", update=[(version["id"], fetched_at, changed(version, row))],
                     insert=[revision_row(article_id, row, end, following, cause)])
