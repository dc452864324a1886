"""An article's versions in time, and where a fetch older than the stored one goes among them.

The archive holds one current version per article (`articles`), its earlier versions
(`revisions`) and every time it was seen (`sightings`: when, with which content hash, and
where that response is kept). The history is the sightings in time order with the runs of
equal content folded: each run is one version, from its first sighting until the next run's
first sighting (the revision's `seen_at`); the last run is the current version, until its
last sighting (`last_seen_at`). Each version's capture (`fetched_at`, `warc_file`,
`warc_offset`) is the first sighting of its run that has one.

A fetch at or after `last_seen_at` is the newest thing known and simply updates the article
(`crawler.archive.store`). A fetch *older* than `last_seen_at` never replaces the current
content: `place()` says what to change so that the history is again the folded sightings, the
new one included. Because every sighting is kept, the history does not depend on the order in
which the fetches arrive: a sighting of the same content inside a version is what later splits
that version exactly where an edit learnt afterwards falls. All timestamps are the archive's
UTC text form, which sorts as time does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crawler.archive.schema import CONTENT_FIELDS

# What a revision row keeps of the version it holds, besides the content fields.
_VERSION_KEYS = ("content_hash", "modified_at", "fetched_at", "warc_file", "warc_offset")
CAPTURE_KEYS = ("fetched_at", "warc_file", "warc_offset")


@dataclass(frozen=True)
class Sighting:
    """One time the article was seen: `at` (its fetch time), the content hash it showed, and
    where that response is kept (None for a 304 or a sighting recorded without WARC)."""

    at: str
    content_hash: str
    warc_file: str | None = None
    warc_offset: int | None = None

    @property
    def capture(self) -> dict:
        return {"fetched_at": self.at, "warc_file": self.warc_file, "warc_offset": self.warc_offset}


@dataclass
class Placement:
    """What to write for an older fetch: `verdict` is `unchanged` (the content the archive
    already has at that time) or `earlier` (kept as an earlier revision). `insert`: new revision
    rows; `update`: (revision id, {column: value}) for revisions that change (their end, what
    changed, their capture); `article`: columns of the article row to change (`first_seen_at`,
    the current version's capture)."""

    verdict: str
    insert: list[dict] = field(default_factory=list)
    update: list[tuple[int, dict]] = field(default_factory=list)
    article: dict = field(default_factory=dict)


def changed(before: Mapping, after: Mapping) -> str:
    """The content fields that differ from `before` to `after`, as the JSON list a revision's
    `changed` holds (a field `before` lacks, NULL, is not counted: it was added later)."""
    return json.dumps([f for f in CONTENT_FIELDS if before.get(f) is not None and before[f] != after.get(f)])


def revision_row(article_id: int, version: Mapping, seen_at: str, after: Mapping, cause: str,
                 capture: Mapping | None = None) -> dict:
    """The `revisions` row keeping `version` (an `articles` or `revisions` row, or a new article
    row) as the article's content until `seen_at`, when `after` was fetched; `capture` (its
    `fetched_at`, `warc_file`, `warc_offset`) when that stretch of the version was seen in
    another capture than the one `version` names."""
    row = {"article_id": article_id, "seen_at": seen_at, "changed": changed(version, after),
           "cause": cause, **{k: version.get(k) for k in _VERSION_KEYS},
           **{f: version.get(f) for f in CONTENT_FIELDS}}
    if capture:
        row.update({k: capture.get(k) for k in CAPTURE_KEYS})
    return row


@dataclass
class _Version:
    start: str
    end: str
    row: Mapping
    is_current: bool

    @property
    def content_hash(self) -> str:
        return self.row["content_hash"]


def versions_of(current: Mapping, revisions: Sequence[Mapping]) -> list[_Version]:
    """The article's versions as spans of time, oldest first (revisions in (seen_at, id) order)."""
    out, start = [], current["first_seen_at"] or current["last_seen_at"]
    for revision in revisions:
        out.append(_Version(start, revision["seen_at"], revision, False))
        start = revision["seen_at"]
    out.append(_Version(start, current["last_seen_at"], current, True))
    return out


def implied_sightings(current: Mapping, revisions: Sequence[Mapping]) -> list[Sighting]:
    """The sightings the versions themselves prove: each version's start (with its capture when
    that is where it was seen) and the current version's last sighting. For an archive made
    before sightings were kept, these are all that is known."""
    out = []
    for version in versions_of(current, revisions):
        row = version.row
        at_capture = row.get("fetched_at") == version.start
        out.append(Sighting(version.start, version.content_hash,
                            row.get("warc_file") if at_capture else None,
                            row.get("warc_offset") if at_capture else None))
    last = current["last_seen_at"]
    same = current.get("fetched_at") == last
    out.append(Sighting(last, current["content_hash"], current.get("warc_file") if same else None,
                        current.get("warc_offset") if same else None))
    return out


def _first_capture(sightings: Sequence[Sighting], digest: str, low: str, high: str,
                   high_inclusive: bool) -> Sighting | None:
    """The first sighting of `digest` in [low, high) (or [low, high]), preferring one whose
    response is kept; None when there is none."""
    inside = [s for s in sightings if s.content_hash == digest and low <= s.at
              and (s.at <= high if high_inclusive else s.at < high)]
    kept = [s for s in inside if s.warc_file]
    return (kept or inside or [None])[0]


def _capture_update(version: _Version, capture: Mapping) -> tuple[str, int | None, dict]:
    """('article' or 'revision', the revision's id, the columns) moving a version's capture."""
    columns = {k: capture.get(k) for k in CAPTURE_KEYS}
    return ("article", None, columns) if version.is_current else ("revision", version.row["id"], columns)


def place(current: Mapping, revisions: Sequence[Mapping], sightings: Sequence[Sighting], row: Mapping,
          fetched_at: str, cause: str) -> Placement:
    """Where the fetch `row` (an `articles` row with its capture), made at `fetched_at`, goes in
    the history of the article whose current row is `current`, whose revisions (rows with `id`,
    `seen_at`, in (seen_at, id) order) are `revisions` and whose sightings so far (any order;
    those the versions imply are added) are `sightings`; `fetched_at` is before
    `current["last_seen_at"]`.

    - Before the first version: with that version's content, the version starts earlier (and
      its capture is this one); with other content, a new first revision.
    - Inside a version with the same content: a sighting, nothing else.
    - Inside a version V with other content: V ends at `fetched_at`; the fetched content runs
      until V's next sighting after it, where V resumes (a copy of V, captured there); when V
      is not seen again before its end, the fetched content runs until V's end (and, when the
      next version has the fetched content, that version simply starts earlier).
    A fetch in the same second as the start of a version goes after it.
    """
    article_id = current["id"]
    versions = versions_of(current, revisions)
    known = sorted({*sightings, *implied_sightings(current, revisions)},
                   key=lambda s: (s.at, s.warc_file is None))
    digest = row["content_hash"]
    capture = {k: row.get(k) for k in CAPTURE_KEYS}
    capture["fetched_at"] = fetched_at
    placement = Placement("earlier")

    def move_capture(version: _Version, columns: Mapping) -> None:
        if version.row.get("warc_file") and not columns.get("warc_file"):
            return  # a version keeps the first capture of it that is kept
        where, revision_id, values = _capture_update(version, columns)
        if where == "article":
            placement.article.update(values)
        else:
            placement.update.append((revision_id, values))

    first = versions[0]
    if fetched_at < first.start:
        placement.article["first_seen_at"] = fetched_at
        if first.content_hash == digest:
            placement.verdict = "unchanged"
            move_capture(first, capture)
        else:
            placement.insert.append(revision_row(article_id, row, first.start, first.row, cause, capture))
        return placement
    index = max(i for i, v in enumerate(versions) if v.start <= fetched_at)
    version = versions[index]
    if version.content_hash == digest:
        placement.verdict = "unchanged"
        if capture["warc_file"] and not version.row.get("warc_file"):
            move_capture(version, capture)  # the first capture of it that is kept
        return placement
    resumes = next((s for s in known if s.content_hash == version.content_hash and s.at > fetched_at
                    and (s.at <= version.end if version.is_current else s.at < version.end)), None)
    if resumes is None and version.is_current:  # only with damaged data: its last sighting is its end
        resumes = Sighting(version.end, version.content_hash)
    if version.is_current:
        before = _first_capture(known, digest=version.content_hash, low=version.start, high=fetched_at,
                                high_inclusive=True)
        placement.insert.append(revision_row(article_id, current, fetched_at, row, cause,
                                             before.capture if before else None))
        placement.insert.append(revision_row(article_id, row, resumes.at, current, cause, capture))
        again = _first_capture(known, version.content_hash, resumes.at, version.end, True) or resumes
        placement.article.update(again.capture)
        return placement
    following = versions[index + 1]
    placement.update.append((version.row["id"], {"seen_at": fetched_at,
                                                 "changed": changed(version.row, row)}))
    if resumes is None:
        if following.content_hash == digest:  # the next version, seen sooner than known
            placement.update[-1][1]["changed"] = version.row["changed"]
            move_capture(following, capture)
        else:
            placement.insert.append(revision_row(article_id, row, version.end, following.row, cause, capture))
        return placement
    again = _first_capture(known, version.content_hash, resumes.at, version.end, False) or resumes
    placement.insert.append(revision_row(article_id, row, resumes.at, version.row, cause, capture))
    placement.insert.append(revision_row(article_id, version.row, version.end, following.row, cause,
                                         again.capture))
    return placement
