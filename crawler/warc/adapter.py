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

from crawler.warc.limits import TooLarge
from crawler.warc.read import Entry, decode

logger = logging.getLogger("crawler.reextract")

_ROOT = Path(__file__).resolve().parents[2]
# What decides an article's stored content: the extractor, DW knowledge, the normaliser.
_EXTRACTOR_SOURCES = ("crawler/extract*", "crawler/dw*", "crawler/text*")
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
    """(content_hash, warc_file, warc_offset, last_seen_at) of an archived article, or None."""
    return archive.db.execute("SELECT content_hash, warc_file, warc_offset, last_seen_at"
                              " FROM articles WHERE id = ?", [content_id]).fetchone()


def write_articles(archive, articles: list[dict], seen_at: str) -> dict[str, int]:
    """Store articles in one transaction: counts of `new`, `updated` (each updated one gets a
    revision with cause `reextract`), `unchanged` and `earlier` (older captures kept as earlier
    revisions); each article carries its capture's date (`fetched_at`)."""
    from crawler import dw

    # As the crawl does for each article it stores: its own short link.
    links = [(dw.encode_short_code(a["id"]), a["id"]) for a in articles]
    counts = archive.write_batch(articles, links, seen_at=seen_at, cause=CAUSE)
    return {verdict: counts[verdict] for verdict in ("new", "updated", "unchanged", "earlier")
            if counts[verdict]}


def default_archive_and_warcs() -> tuple[Path, Path]:
    """`ARCHIVE_PATH` and its captures folder, from the project's Scrapy settings."""
    from scrapy.utils.project import get_project_settings

    from crawler.warc.capture import warc_dir

    settings = get_project_settings()
    return Path(settings.get("ARCHIVE_PATH") or "data/dw.db"), warc_dir(settings)


def captures_of(archive: Path) -> tuple[Path, list[Path]]:
    """(the captures folder of the archive at `archive`, every WARC file holding its captures):
    its own folder (`WARC_DIR` when the project sets one), and the files of an older archive
    in the `warc/` folder it may share with others that its articles name
    (`crawler.archive.paths.capture_files`). Never another archive's."""
    from scrapy.utils.project import get_project_settings

    from crawler.archive import paths

    configured = get_project_settings().get("WARC_DIR")
    return paths.captures_dir(archive, configured), paths.capture_files(archive, configured)


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
    except TooLarge as exc:  # a bomb: refused at the crawl's own size limit
        logger.warning("%s:%d: %s", entry.path, entry.offset, exc)
        return light, "too_large"
    except ValueError as exc:
        logger.warning("%s:%d: %s", entry.path, entry.offset, exc)
        return light, "undecodable"
    charset = entry.content_type.lower().partition("charset=")[2].split(";")[0].strip() or None
    try:
        return light, article_from_page(body, url, charset)
    except Exception:  # noqa: BLE001 - one bad page must not end the run; it is counted
        logger.exception("Extraction failed on %s (%s:%d)", url, entry.path, entry.offset)
        return light, "extractor_error"
