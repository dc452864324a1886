"""The `dw` spider's arguments (`-a name=value`), read and checked before anything is fetched.

  lang=en,de       languages by DW path prefix; `all` for all 31 (default `en`)
  sources=news,articles,feeds,revisits
                   where to discover articles (default: all four; none but urls= when it is given);
                   revisits re-checks recent archived articles, hourly on day one, daily in week one
  urls=URL,URL     article URLs, old dw.de / dw-world.de URLs, p.dw.com short links, or @FILE
                   (one per line); as people paste them too: without scheme, `//host/...`,
                   in quotes or angle brackets, with trailing punctuation
  since=YYYY-MM-DD / until=YYYY-MM-DD
                   keep articles whose sitemap or feed date falls in that range (inclusive)
  refresh=all      fetch again articles the archive already holds

A name the spider does not take (`langs=en`: Scrapy would make it an attribute), a value given
empty (`urls=`) and `since` after `until` are refused too. Every function here raises
`ArgumentError` with one line a user can act on; the spider turns it into exit status 3 and the
crawl command's last line (`dw crawl failed: bad argument: …`) before any request, with the
archive not opened.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from crawler import dw

# Where articles are discovered: listings (sitemaps and feeds: a request each, its failures
# counted as `dw/failed/<source>/<reason>`), and the archive's own articles due for a revisit.
LISTING_SOURCES = ("news", "articles", "feeds")
SOURCES = (*LISTING_SOURCES, "revisits")
NAMES = ("lang", "sources", "urls", "since", "until", "refresh")  # what `-a name=value` may name
# Names that tools running the spider pass on their own: scrapyd's job id.
PASSED_BY_TOOLS = ("_job",)


class ArgumentError(ValueError):
    """A spider argument the user gave cannot be used."""


@dataclass
class Arguments:
    """The spider's arguments, checked: languages, URLs, sources, date range, refresh."""

    languages: list[str]
    urls: list[str] = field(default_factory=list)
    url_file: str | None = None  # `urls=@FILE`: its URLs are read as the crawl asks for them
    sources: list[str] = field(default_factory=lambda: list(SOURCES))
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None
    refresh: bool = False

    def given_urls(self) -> Iterator[str]:
        """The URLs given, those of a URL file read line by line as they are asked for."""
        yield from self.urls
        if self.url_file is not None:
            yield from url_file_urls(self.url_file)


def parse_arguments(lang: str | None = None, sources: str | None = None, urls: str | None = None,
                    since: str | None = None, until: str | None = None,
                    refresh: str | None = None) -> Arguments:
    """All the spider's arguments as given on the command line; ArgumentError on the first bad one.

    An argument given with no value (`-a urls=`) is refused: the shell dropped what was meant.
    """
    values = (lang, sources, urls, since, until, refresh)
    given_empty = [name for name, value in zip(NAMES, values, strict=True)
                   if value is not None and not value.strip()]
    if given_empty:
        raise ArgumentError(f"{given_empty[0]}= is empty; give it a value or leave it out")
    languages = parse_languages(lang)
    url_file = urls[1:] if urls and urls.startswith("@") else None
    if url_file is not None:  # read lazily by the spider (`Arguments.given_urls`); checked now
        check_url_file(url_file)
        given: list[str] = []
        usable_urls(url_file_urls(url_file), urls)
    else:
        given = usable_urls(read_urls(urls), urls) if urls else []
    if refresh not in (None, "all", "none"):
        raise ArgumentError(f"refresh={refresh!r}: use refresh=all")
    first, last = parse_day(since, "since"), parse_day(until, "until")
    if first and last and first > last:
        raise ArgumentError(f"since={first} is after until={last}: no article falls in that range")
    return Arguments(languages=languages, urls=given, url_file=url_file,
                     sources=parse_sources(sources, bool(given) or url_file is not None),
                     since=first, until=last, refresh=refresh == "all")


def check_names(names: Iterable[str]) -> None:
    """ArgumentError for the first name the spider does not take (Scrapy would make it an
    attribute and carry on), with the closest name it does take as a hint."""
    for name in names:
        if name in NAMES or name in PASSED_BY_TOOLS:
            continue
        close = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}=?" if close else ""
        raise ArgumentError(f"unknown argument {name}={hint} (the dw spider takes {', '.join(NAMES)})")


def parse_languages(value: str | None) -> list[str]:
    """`en,de` or `all` as a list of DW path prefixes; the one rule for the crawl's `-a lang=` and
    the backfill's `--lang`: case and spaces ignored, empty items too (`en,` is `en`), but a list
    with no language at all (`,`) is refused. Raises ArgumentError."""
    if not value or value.strip() == "all":
        return list(dw.LANGUAGES) if value else ["en"]
    langs = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not langs:
        raise ArgumentError(f"no language in {value!r}; give e.g. en,de or all")
    unknown = [lang for lang in langs if lang not in dw.LANGUAGES]
    if unknown:
        raise ArgumentError(f"unknown language {', '.join(unknown)}; DW has {' '.join(dw.LANGUAGES)}")
    return langs


def parse_day(value: str | None, name: str) -> str | None:
    """A `YYYY-MM-DD` argument, checked."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ArgumentError(f"{name}={value!r} is not a date like 2024-01-30") from None


def parse_sources(value: str | None, has_urls: bool) -> list[str]:
    """`news,articles,feeds` as a list; `urls` alone when URLs were given and no sources."""
    if not value:
        return [] if has_urls else list(SOURCES)
    sources = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ArgumentError(f"unknown source {', '.join(unknown)}; use {','.join(SOURCES)}")
    return sources


# Where a new URL starts in a list: old dw-world.de URLs hold commas (`0,,123,00.html`), so a
# list is split at commas, semicolons or whitespace only before something that opens a URL.
_HOST = r"(?:(?:www|p|m|amp)\.)?dw(?:-world)?\.(?:com|de)\b"
_URL_START = re.compile(rf"[,;\s]+(?=[\"'<«‹“‘„(\[{{`]*(?:https?://|//|{_HOST}))", re.IGNORECASE)
# A URL inside other text: `[title](https://...)`, `see www.dw.com/...`.
_URL_CHARS = r"[^\s<>\"'«»‹›“”‘’()\[\]{}`]"
_EMBEDDED = re.compile(rf"(?:https?:)?//{_URL_CHARS}+|{_HOST}/{_URL_CHARS}*", re.IGNORECASE)


# A URL file is read up to these sizes, so that `urls=@/dev/zero` (or any huge or endless file)
# is refused at once instead of filling memory: a million URLs fit in 64 MiB, and no URL, even
# pasted inside a line of Markdown, comes near 64 KiB.
MAX_URL_FILE = 64 * 1024 * 1024
MAX_URL_LINE = 64 * 1024


def check_url_file(path: str) -> None:
    """Check a URL file before it is read: a regular file (a named pipe or a device could block
    or never end), within `MAX_URL_FILE` bytes, UTF-8 (a BOM allowed), no line over
    `MAX_URL_LINE` bytes; ArgumentError saying which is not so. One pass in C over the bytes:
    about a second for 64 MiB."""
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            raise ArgumentError(f"the URL file {path} is not a regular file (a named pipe, a device"
                                " or a folder): write the URLs to a file and give that")
        if status.st_size > MAX_URL_FILE:
            raise ArgumentError(f"the URL file {path} is larger than {MAX_URL_FILE // 2**20} MiB:"
                                " split it into several runs")
        for line in _file_lines(path):
            line.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ArgumentError(f"cannot read the URL file {path}: {reason}") from None


def _file_lines(path: str) -> Iterator[bytes]:
    """The lines of a URL file as bytes (the BOM dropped), within the limits; ArgumentError past
    either (the file may have grown since it was checked)."""
    size = 0
    with open(path, "rb") as handle:
        while line := handle.readline(MAX_URL_LINE + 1):
            if len(line) > MAX_URL_LINE and not line.endswith(b"\n"):
                raise ArgumentError(f"the URL file {path} has a line longer than"
                                    f" {MAX_URL_LINE // 1024} KiB: not a list of URLs")
            if size == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            size += len(line)
            if size > MAX_URL_FILE:
                raise ArgumentError(f"the URL file {path} is larger than"
                                    f" {MAX_URL_FILE // 2**20} MiB: split it into several runs")
            yield line


def url_file_urls(path: str) -> Iterator[str]:
    """The URLs of a URL file (`check_url_file`ed), one a line, cleaned as `read_urls` cleans
    them (blank lines and # comments skipped), read as they are asked for: a run of a million
    URLs sends its first request at once."""
    for raw in _file_lines(path):
        line = raw.decode("utf-8", "replace")
        if line.strip() and not line.lstrip().startswith("#"):
            url = clean_pasted_url(line)
            if url:
                yield url


def read_urls(value: str | None) -> list[str]:
    """URLs separated by commas, semicolons or blanks, or `@FILE` with one URL per line (blank
    lines and # comments skipped; checked by `check_url_file`).

    Each is cleaned as people paste them (`clean_pasted_url`); what is not a DW URL stays as
    given, for the spider to count and skip.
    """
    if not value:
        return []
    if value.startswith("@"):
        check_url_file(value[1:])
        return list(url_file_urls(value[1:]))
    return [clean_pasted_url(u) for u in _URL_START.split(value) if clean_pasted_url(u)]


# Wrappers people paste around a URL: quotes (straight, curly, guillemets), angle brackets
# (mail and Markdown), brackets; and the sentence punctuation after it.
_OPENERS = "\"'<«‹“‘„([{`"
_CLOSERS = "\"'>»›”’“)]}`"
_TRAILING = ".,;:!?…" + _CLOSERS
_SCHEMELESS = re.compile(r"^(?:(?:www|p|m|amp)\.)?dw(?:-world)?\.(?:com|de)(?:[/:?#]|$)", re.IGNORECASE)


def clean_pasted_url(value: str) -> str:
    """A URL as a person pastes it, as an absolute `https://` URL where it names a DW host.

    `  <www.dw.com/en/x/a-1>. ` -> `https://www.dw.com/en/x/a-1`; `//p.dw.com/p/18axi` ->
    `https://p.dw.com/p/18axi`; `dw.com/...` and `p.dw.com/p/...` get `https://`; a DW URL
    inside other text (`[title](https://...)`) is taken out of it. Other text comes back
    trimmed of whitespace and wrappers, unchanged otherwise ('' when nothing is left).
    """
    url = value.strip().strip("\u200b\ufeff").strip()
    while url and url[0] in _OPENERS:
        url = url[1:].lstrip()
    while url and url[-1] in _TRAILING:
        url = url[:-1].rstrip()
    if url.startswith("//"):
        url = "https:" + url
    elif _SCHEMELESS.match(url):
        url = "https://" + url
    if not dw.parse_url(url) and (embedded := _EMBEDDED.search(url)) and embedded[0] != url:
        return clean_pasted_url(embedded[0])
    return url


def usable_urls(urls: Iterable[str], given: str) -> list[str] | None:
    """`urls` unchanged (None for an iterator: read until the first usable one) when at least
    one names a DW article or short link; else ArgumentError."""
    count, first = 0, None
    for url in urls:
        count += 1
        first = first if first is not None else url
        target = dw.parse_url(url)
        if target is not None and target.kind in ("article", "shortlink"):
            return urls if isinstance(urls, list) else None
    shown = f" (first: {first[:80]!r})" if first is not None else ""
    raise ArgumentError(f"urls={given[:80]!r}: none of the {count} URLs given is a DW article"
                        f" URL or short link{shown}")
