"""What re-extraction needs from the rest of the crawler, in one place: the extractor's version,
the page -> stored-article path (extract, normalise, hash) and the archive writer.

A change in any of them is a change to this module only.
"""

from __future__ import annotations

import hashlib
import logging
import signal
from dataclasses import asdict, replace
from functools import cache
from importlib.metadata import version
from pathlib import Path

from crawler.warc.read import Entry, decode

logger = logging.getLogger("crawler.reextract")

_ROOT = Path(__file__).resolve().parents[2]
# What decides an article's stored content: the extractor, DW knowledge, the normaliser, the
# date reader, the fields.
_EXTRACTOR_SOURCES = ("crawler/extract*", "crawler/dw*", "crawler/text*", "crawler/dates*", "crawler/items*")
CAUSE = "reextract"


@cache
def extractor_version() -> str:
    """`<package version>+<12 hex digits of the extractor's and normaliser's source>`.

    Any change to the code that decides an article's content changes it; no one has to
    remember to bump a number.
    """
    digest = hashlib.sha256()
    for pattern in _EXTRACTOR_SOURCES:
        for path in sorted(_ROOT.glob(pattern)):
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                if file.suffix == ".py":
                    digest.update(file.relative_to(_ROOT).as_posix().encode())
                    digest.update(file.read_bytes())
    return f"{version('dw-archive')}+{digest.hexdigest()[:12]}"


def article_from_page(body: bytes, url: str, charset: str | None) -> dict | str:
    """The normalised article dict of one page, or the kind of page it is when not an article.

    Does what the crawl does to a fetched page: extract (which applies the one normaliser,
    `pipelines.normalize`), keep `kind == "article"`, hash.
    """
    from crawler.archive import as_record
    from crawler.extract import NotAnArticle, extract

    try:
        article = extract(body, url=url, encoding=charset)
    except NotAnArticle:
        return "not_an_article"
    if article.kind != "article":
        return f"type/{article.kind}"
    article.extractor_version = extractor_version()
    return as_record(asdict(article))


def open_archive(path: Path):
    """The archive at `path`, opened as the crawl opens it."""
    from crawler.archive import Archive

    return Archive(path)


def stored_source(archive, content_id: int) -> tuple | None:
    """(content_hash, warc_file, warc_offset, last_seen_at, the names of its empty columns) of
    an archived article, or None. A column is empty (NULL) when an upgrade added it after the
    article was stored, or when the extractor of the time found nothing for it."""
    cursor = archive.db.execute("SELECT * FROM articles WHERE id = ?", [content_id])
    row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip((c[0] for c in cursor.description), row, strict=True))
    empty = frozenset(name for name, value in values.items() if value is None)
    return (values["content_hash"], values["warc_file"], values["warc_offset"],
            values["last_seen_at"], empty)


def fills(record: dict, empty: frozenset) -> bool:
    """True when the article would give a value to one of the stored row's empty columns."""
    from crawler.archive.records import article_row

    return any(article_row(record).get(name) is not None for name in empty)


def write_articles(archive, articles: list[dict], seen_at: str) -> dict[str, int]:
    """Store articles in one transaction: counts of `new` and `updated` (each updated one gets a
    revision with cause `reextract`)."""
    from crawler import dw

    # As the crawl does for each article it stores: its own short link.
    links = [(dw.encode_short_code(a["id"]), a["id"]) for a in articles]
    counts = archive.write_batch(articles, links, seen_at=seen_at, cause=CAUSE)
    return {verdict: counts[verdict] for verdict in ("new", "updated", "unchanged") if counts[verdict]}


def default_archive_and_warcs() -> tuple[Path, Path]:
    """`ARCHIVE_PATH` and the WARC folder from the project's Scrapy settings."""
    from scrapy.utils.project import get_project_settings

    from crawler.warc.capture import warc_dir

    settings = get_project_settings()
    return Path(settings.get("ARCHIVE_PATH")), warc_dir(settings)


# -- the workers ---------------------------------------------------------------------------

def quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop


def extract_record(task: tuple[Entry, str]) -> tuple[Entry, dict | str]:
    """In a worker: (entry with its payload, real URL) -> (the entry without its payload,
    the article dict or the kind of page it was)."""
    entry, url = task
    light = replace(entry, payload=None)
    try:
        body = decode(entry)
    except ValueError as exc:
        logger.warning("%s:%d: %s", entry.path, entry.offset, exc)
        return light, "undecodable"
    charset = entry.content_type.lower().partition("charset=")[2].split(";")[0].strip() or None
    try:
        return light, article_from_page(body, url, charset)
    except Exception:  # noqa: BLE001 - one bad page must not end the run; it is counted
        logger.exception("Extraction failed on %s (%s:%d)", url, entry.path, entry.offset)
        return light, "extractor_error"
