"""The items the crawl produces: one `Article` per DW article page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Image:
    """One picture of an article: where it is, what it shows, who took it."""

    url: str | None
    caption: str | None
    credit: str | None


@dataclass
class Article:
    """Every field of one DW article; the SQLite columns and JSON output use these names."""

    id: int
    url: str
    short_url: str
    language: str | None
    kind: str = "article"
    title: str | None = None
    teaser: str | None = None
    body: str = ""
    subheads: list[str] = field(default_factory=list)
    published_at: str | None = None
    modified_at: str | None = None
    authors: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    credit_line: str | None = None
    agencies: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    # Agencies named in the images' credits (`Joseph Eid/AFP/Getty Images` -> AFP), set by
    # the normaliser from `images`; the archive tags them with the role `photo`.
    photo_agencies: list[str] = field(default_factory=list)
    # Where the response this was read from is kept (crawler/warc.py), and by which extractor.
    warc_file: str | None = None
    warc_offset: int | None = None
    extractor_version: str | None = None

    def to_dict(self) -> dict:
        """The article as plain JSON-ready data."""
        return asdict(self)


@dataclass
class Fetched:
    """How a page answered: its HTTP validators, and whether it was unchanged (304)."""

    article_id: int
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


@dataclass
class ShortLink:
    """A short link known to point at an article, recorded without fetching it."""

    code: str
    article_id: int
