"""The three web archives backfill reads, each as the units of work it is resumed by.

- `commoncrawl`: one CDX query per crawl and language (`www.dw.com/{lang}/`, prefix match,
  `status:200`), page by page where the index server pages (`showNumPages`); each capture's
  record is fetched from the WARC store with an HTTP `Range` request (its gzip member).
- `wayback`: one CDX query per language (`statuscode:200`, `collapse=digest`, `from`/`to`),
  page by page where the server pages (`showNumPages`, `page=`), else in the parts its
  resumption keys mark (`showResumeKey`); each capture fetched raw (`{timestamp}id_/{url}`).
- `cc-news`: a month's `warc.paths.gz`; each WARC streamed (never stored whole), its records
  filtered by `WARC-Target-URI` host as they pass, resumed with a `Range` request from the
  gzip member after the last one written.

The CDX API shape is the one the Wayback Machine, Common Crawl's index server and pywb share
(https://github.com/webrecorder/pywb/wiki/CDX-Server-API,
https://github.com/internetarchive/wayback/tree/master/wayback-cdx-server); field names differ
(`original`/`url`, `statuscode`/`status`, `mimetype`/`mime`) and are read in both forms.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode, urlsplit

from crawler import dw
from crawler.backfill.client import PoliteClient

logger = logging.getLogger("crawler.backfill")

SOURCES = ("commoncrawl", "cc-news", "wayback")
CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4,14}")


class BadListing(ValueError):
    """An index or listing answer that is not what the archive's API returns (HTML, cut-off JSON,
    plain text where JSON was asked): the listing failed, it is not empty."""


@dataclass(frozen=True)
class Capture:
    """One capture a CDX index lists: its original URL, 14-digit timestamp and content digest;
    for Common Crawl also where its record is (`filename`, `offset`, `length`)."""

    url: str
    timestamp: str
    digest: str = ""
    mime: str = ""
    status: str = ""
    filename: str = ""
    offset: int = 0
    length: int = 0

    @property
    def fetched_at(self) -> str:
        """The capture's time in the archive's form (`2024-01-30T10:00:00Z`)."""
        t = (self.timestamp + "00000000000000")[:14]
        return f"{t[:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


@dataclass
class CdxAnswer:
    """One CDX answer: its rows (dicts of field -> value; a row that is not one is None), and the
    resumption key to ask for the rest with, when the server gave one."""

    rows: list[dict | None]
    resume_key: str | None = None


def cdx_answer(text: str) -> CdxAnswer:
    """The rows of a CDX answer in `output=json`: the Wayback Machine's array of arrays (the first
    the field names; `[]` then `[key]` at the end: a resumption key) or pywb's and Common
    Crawl's one JSON object per line. An empty answer is no rows.

    Raises `BadListing` for anything else (an HTML page, plain-text CDX lines, cut-off JSON).
    """
    text = text.strip()
    if not text:
        return CdxAnswer([])
    if text.startswith("<"):
        raise BadListing(f"an HTML page, not a CDX answer: {text[:80]!r}")
    if text.startswith("["):
        try:
            table = json.loads(text)
        except ValueError as exc:
            raise BadListing(f"cut-off or broken JSON ({exc})") from None
        if not isinstance(table, list):
            raise BadListing("a JSON value that is no table of rows")
        if not table:
            return CdxAnswer([])
        names = table[0]
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            raise BadListing(f"its first row is no list of field names: {str(names)[:80]!r}")
        body, key = table[1:], None
        if len(body) >= 2 and body[-2] == [] and isinstance(body[-1], list) and len(body[-1]) == 1:
            body, key = body[:-2], str(body[-1][0])
        rows = [dict(zip(names, row, strict=False)) if isinstance(row, list) and len(row) == len(names)
                else None for row in body]
        return CdxAnswer(rows, key)
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise BadListing(f"a line that is not JSON: {line[:80]!r}") from None
        rows.append(value if isinstance(value, dict) else None)
    return CdxAnswer(rows)


def as_capture(row: dict | None, needs_record: bool = False) -> Capture:
    """The capture a CDX row names; ValueError when a field it needs is missing or malformed (a
    timestamp of digits, a URL; for Common Crawl's records a file name and a whole-number offset
    and length)."""
    if not isinstance(row, dict):
        raise ValueError(f"a row that is not one: {str(row)[:80]!r}")
    url = str(row.get("original") or row.get("url") or "")
    timestamp = str(row.get("timestamp") or "")
    if not url or not _TIMESTAMP.fullmatch(timestamp):
        raise ValueError(f"no URL or timestamp: {str(row)[:120]!r}")
    try:
        offset, length = int(row.get("offset") or 0), int(row.get("length") or 0)
    except (TypeError, ValueError):
        raise ValueError(f"offset or length not a number: {str(row)[:120]!r}") from None
    filename = str(row.get("filename") or "")
    if needs_record and not (filename and offset >= 0 and length > 0):
        raise ValueError(f"no record location (filename, offset, length): {str(row)[:120]!r}")
    return Capture(url=url, timestamp=timestamp, digest=str(row.get("digest") or ""),
                   mime=str(row.get("mimetype") or row.get("mime") or ""),
                   status=str(row.get("statuscode") or row.get("status") or ""),
                   filename=filename, offset=offset, length=length)


def no_captures(status: int, text: str) -> bool:
    """True for Common Crawl's way of saying a query matched nothing: a 404 whose JSON body says
    `No Captures found` (any other 404 is a failed listing: a wrong crawl or endpoint)."""
    return status == 404 and "no captures found" in text[:500].lower()


@dataclass(frozen=True)
class Query:
    """One CDX query: the endpoint and its parameters (without `page`); `key` names it in the
    progress table."""

    endpoint: str
    params: tuple[tuple[str, str], ...]

    def url(self, page: int | None = None, **extra: str) -> str:
        params = list(self.params) + [(k, v) for k, v in extra.items()]
        if page is not None:
            params.append(("page", str(page)))
        return f"{self.endpoint}?{urlencode(params)}"

    @property
    def key(self) -> str:
        return self.url()


def stamp(day: date | None, end: bool = False) -> str | None:
    """A CDX `from` / `to` value for a day (to the second, the end of the day for `to`)."""
    if day is None:
        return None
    return day.strftime("%Y%m%d") + ("235959" if end else "000000")


def language_queries(endpoint: str, languages: list[str], since: date | None, until: date | None,
                     status_field: str, collapse: bool) -> list[Query]:
    """One prefix query per language for the articles under `www.dw.com/{lang}/`."""
    queries = []
    for lang in languages:
        params = [("url", f"www.dw.com/{lang}/"), ("matchType", "prefix"), ("output", "json"),
                  ("filter", f"{status_field}:200")]
        if collapse:
            params.append(("collapse", "digest"))
        for name, value in (("from", stamp(since)), ("to", stamp(until, end=True))):
            if value:
                params.append((name, value))
        queries.append(Query(endpoint, tuple(params)))
    return queries


def probe(client: PoliteClient, query: Query) -> int | CdxAnswer | None:
    """Ask the server how many pages the query's answer has (`showNumPages`): a number (the
    Wayback Machine: `N`; Common Crawl: `{"pages": N, ...}`); the answer itself when the server
    does not page and answers with the rows (pywb); None when it says neither (no paging: the
    query is read without pages, after resumption keys)."""
    response = client.get(query.url(showNumPages="true"))
    text = response.text.strip() if response.status_code == 200 else ""
    if response.status_code != 200:
        return None
    try:
        value = json.loads(text) if text and "\n" not in text else None
    except ValueError:
        value = None
    if isinstance(value, dict) and "pages" in value:
        value = value["pages"]
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    try:
        return cdx_answer(text)
    except BadListing:
        return None


def crawl_list(client: PoliteClient, collinfo_url: str) -> list[dict]:
    """Common Crawl's crawls (`collinfo.json`): entries with `id`, `from`, `to`; ValueError
    when the answer is not that list."""
    response = client.get(collinfo_url)
    if response.status_code != 200:
        raise ValueError(f"{collinfo_url}: HTTP {response.status_code}")
    try:
        entries = response.json()
    except ValueError:
        raise ValueError(f"{collinfo_url}: not JSON") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("id") for e in entries):
        raise ValueError(f"{collinfo_url}: not a list of crawls")
    return entries


def crawls_in_range(entries: list[dict], since: date | None, until: date | None) -> list[str]:
    """The ids of the crawls whose dates (when given) meet the range, oldest first."""
    crawls = []
    for entry in entries:
        start, end = str(entry.get("from") or "")[:10], str(entry.get("to") or "")[:10]
        if until and start and start > until.isoformat():
            continue
        if since and end and end < since.isoformat():
            continue
        crawls.append(str(entry["id"]))
    return sorted(crawls)


def news_paths(client: PoliteClient, url: str) -> list[str]:
    """The WARC paths a CC-NEWS `warc.paths.gz` lists (gzip or plain text), in order.

    Raises ValueError when there is no such listing (a 404: a month CC-NEWS has no files for,
    or a wrong endpoint) or it cannot be read.
    """
    response = client.get(url)
    if response.status_code != 200:
        raise ValueError(f"{url}: HTTP {response.status_code}")
    data = response.content
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{url}: damaged gzip ({exc})") from None
    paths = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if any(p.startswith("<") or " " in p for p in paths):
        raise ValueError(f"{url}: not a list of WARC paths")
    return paths


def months(since: date, until: date) -> list[tuple[int, int]]:
    """(year, month) of every month from `since` to `until`."""
    out, (y, m) = [], (since.year, since.month)
    while (y, m) <= (until.year, until.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def wanted(url: str, languages: set[str]) -> str:
    """`article` for a dw.com article URL in one of `languages`, else why not."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return "not_dw"
    if host not in dw.DW_HOSTS:
        return "not_dw"
    target = dw.parse_url(url)
    if target is None:
        return "not_dw_content"
    if target.kind != "article":
        return f"type/{target.kind}"
    if target.language not in languages:
        return "other_language"
    return "article"
