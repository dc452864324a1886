"""The items the crawl produces: one `Article` per DW article page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


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
    # Agencies named in the images' credits (`Joseph Eid/AFP/Getty Images` -> AFP), set by
    # the normaliser from `images`; the archive tags them with the role `photo`.
    photo_agencies: list[str] = field(default_factory=list)
    # Where the response this was read from is kept (crawler/warc/capture.py), and by which extractor.
    warc_file: str | None = None
    warc_offset: int | None = None
    extractor_version: str | None = None
    # When the response this was read from was fetched (`YYYY-MM-DDTHH:MM:SSZ`, UTC): its WARC
    # record's WARC-Date (a crawl's capture, a re-extracted or backfilled capture). The archive
    # orders versions by it and never replaces a version with an older fetch.
    fetched_at: str | None = None

    def __post_init__(self) -> None:
        # Not fields (never stored or printed): what reading the page noticed, as
        # (kind, detail) pairs (`ld_mismatch`, `replacement_characters`, ...), and how many
        # fields the normaliser changed, by field, and the agency tokens it kept as printed
        # (empty until the extractor normalised it). The normalise pipeline counts them as stats.
        self.warnings: list[tuple[str, str]] = []
        self.normalized: dict[str, int] = {}
        self.unknown_agencies: list[str] = []
        self.changed_since_normalized = False

    def __setattr__(self, name: str, value) -> None:
        # A field set after the extractor normalised the article (by the spider, a test, an
        # add-on) makes the normalise pipeline run the rules again, for that article only.
        if name in _NORMALIZED_INPUTS and self.__dict__.get("normalized"):
            self.__dict__["changed_since_normalized"] = True
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict:
        """The article as plain JSON-ready data."""
        return asdict(self)


# Fields whose value the normaliser's rules read: where the page's response is kept and which
# extractor read it (set on every crawled article by crawler/warc/capture.py) are not among them, so
# setting those does not make the pipeline normalise the article a second time.
_NORMALIZED_INPUTS = frozenset(f.name for f in fields(Article)) - {
    "warc_file", "warc_offset", "extractor_version", "fetched_at"}
# The fields of an article that hold lists (JSON arrays in the archive and the output).
LIST_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Article) if str(f.type).startswith("list"))
