"""The item the crawl produces: one `Article` per DW article page, as plain data.

Everything about a field is said here, once: its name (the archive's column, the JSON key), its
type and default, and, in its metadata, whether it is content (`NOT_CONTENT`: a change in it
alone is no new version of the article) and whether it is a column of `articles`
(`NOT_A_COLUMN`). The archive's schema, the content hash and the extractor's output all follow
these declarations; nothing else lists the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from crawler import dw

# Field metadata. Not content: which article this is, when it was published, where its page is
# kept, and every field computed from others (see `crawler.extract.normalize.DERIVED`): those
# change when a rule of ours changes, not when DW edits the article.
NOT_CONTENT = {"content": False}
NOT_A_COLUMN = {"content": False, "column": False}


@dataclass
class Article:
    """Every field of one DW article; the SQLite columns and JSON output use these names."""

    id: int = field(metadata=NOT_CONTENT)
    url: str = field(metadata=NOT_CONTENT)
    short_url: str = field(metadata=NOT_CONTENT)  # derived from `id`
    language: str | None = field(metadata=NOT_CONTENT)
    kind: str = field(default="article", metadata=NOT_CONTENT)
    title: str | None = None
    teaser: str | None = None
    body: str = ""
    subheads: list[str] = field(default_factory=list)
    published_at: str | None = field(default=None, metadata=NOT_CONTENT)
    modified_at: str | None = field(default=None, metadata=NOT_CONTENT)
    authors: list[str] = field(default_factory=list)
    # The kicker's category and region (`Politik`, `Russische Föderation`).
    topics: list[str] = field(default_factory=list)
    # Topic tags as the page prints them, in page order: the old layout's keywords, the
    # related-topics links (`/t-{id}` topic pages), the page state's topics.
    tags: list[str] = field(default_factory=list)
    # DW topic ids of `tags`, in the same order, where the page shows them; else empty.
    tag_ids: list[int] = field(default_factory=list)
    credit_line: str | None = None
    agencies: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    # Other DW content the article links to as cross-links ("Read more: …" in the old layout),
    # canonical URLs in page order; not part of the body.
    related: list[str] = field(default_factory=list)
    # Agencies named in the images' credits (`Joseph Eid/AFP/Getty Images` -> AFP), derived
    # from `images` by the normaliser; the archive tags them with the role `photo`
    # (`article_agencies`) instead of keeping a column.
    photo_agencies: list[str] = field(default_factory=list, metadata=NOT_A_COLUMN)
    # Where the response this was read from is kept (crawler/warc/capture.py), and by which extractor.
    warc_file: str | None = field(default=None, metadata=NOT_CONTENT)
    warc_offset: int | None = field(default=None, metadata=NOT_CONTENT)
    extractor_version: str | None = field(default=None, metadata=NOT_CONTENT)
    # When the response this was read from was fetched (`YYYY-MM-DDTHH:MM:SSZ`, UTC): its WARC
    # record's WARC-Date (a crawl's capture, a re-extracted or backfilled capture). The archive
    # orders versions by it and never replaces a version with an older fetch.
    fetched_at: str | None = field(default=None, metadata=NOT_CONTENT)
    # True when the body was cut at the extractor's safety limit (crawler/extract/body.py
    # MAX_BLOCKS): the stored body is not the whole article, and the next run fetches the page
    # again (and reports the cut again) instead of taking the archived article as up to date.
    body_truncated: bool = field(default=False, metadata=NOT_CONTENT)

    def __post_init__(self) -> None:
        # Not fields (never stored or printed): the extractor's report on this page, which the
        # crawl's stats count (pipelines/normalize.py): what reading it noticed, as (kind,
        # detail) pairs (`ld_mismatch`, `replacement_characters`, ...), how many fields the
        # normaliser changed, by field, and the agency tokens it kept as printed.
        self.warnings: list[tuple[str, str]] = []
        self.normalized: dict[str, int] = {}
        self.unknown_agencies: list[str] = []

    def to_dict(self) -> dict:
        """The article as plain JSON-ready data."""
        return asdict(self)


ARTICLE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Article))
# The fields of an article that hold lists (JSON arrays in the archive and the output).
LIST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Article) if str(f.type).startswith("list"))
# What an article's version is made of: a change in any of these is an edit (a revision).
CONTENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Article) if f.metadata.get("content", True))
# The fields with a column of their own in `articles`.
COLUMN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Article) if f.metadata.get("column", True))
# What an article cannot be archived or shown without.
REQUIRED: tuple[str, ...] = ("id", "url", "title")


def missing_required(article: Any) -> list[str]:
    """The required fields an article (an `Article` or any mapping) lacks, in `REQUIRED` order;
    an `id` that is no DW content id (`dw.is_content_id`) counts as missing. The one place
    they are checked: by the extractor, the pipeline, the archive and the archive writer."""
    get = article.get if isinstance(article, Mapping) else lambda name: getattr(article, name, None)
    missing = [] if dw.is_content_id(get("id")) else ["id"]
    return missing + [name for name in REQUIRED[1:] if not get(name)]
