"""The three web archives backfill reads, each as the units of work it is resumed by.

- `commoncrawl`: one CDX query per crawl and language (`www.dw.com/{lang}/`, prefix match,
  `status:200`), page by page where the index server pages (`showNumPages`); each capture's
  record is fetched from the WARC store with an HTTP `Range` request (its gzip member).
- `wayback`: one CDX query per language (`statuscode:200`, `collapse=digest`, `from`/`to`),
  page by page where the server pages; each capture fetched raw (`{timestamp}id_/{url}`).
- `cc-news`: a month's `warc.paths.gz`; each WARC streamed (never stored whole), its records
  filtered by `WARC-Target-URI` host as they pass, resumed with a `Range` request from the
  gzip member after the last one written.

The CDX API shape is the one the Wayback Machine, Common Crawl's index server and pywb share
(https://github.com/webrecorder/pywb/wiki/CDX-Server-API); field names differ
(`original`/`url`, `statuscode`/`status`, `mimetype`/`mime`) and are read in both forms.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode, urlsplit

from crawler import dw
from crawler.backfill.client import PoliteClient

logger = logging.getLogger("crawler.backfill")

SOURCES = ("commoncrawl", "cc-news", "wayback")


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


def cdx_rows(text: str) -> list[dict]:
    """The rows of a CDX answer in `output=json`: the Wayback Machine's array of arrays (the first
    the field names) or pywb's one JSON object per line. An empty answer is no rows."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        table = json.loads(text)
        if not table:
            return []
        names = table[0]
        return [dict(zip(names, row, strict=False)) for row in table[1:]]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def as_capture(row: dict) -> Capture:
    return Capture(url=row.get("original") or row.get("url") or "", timestamp=row.get("timestamp", ""),
                   digest=row.get("digest", ""), mime=row.get("mimetype") or row.get("mime") or "",
                   status=str(row.get("statuscode") or row.get("status") or ""),
                   filename=row.get("filename", ""), offset=int(row.get("offset") or 0),
                   length=int(row.get("length") or 0))


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


def page_count(client: PoliteClient, query: Query) -> int:
    """How many pages the server splits the query's answer into (`showNumPages`); 1 when it
    does not page (pywb over CDXJ answers with the rows themselves)."""
    response = client.get(query.url(showNumPages="true"))
    if response.status_code != 200:
        return 1
    text = response.text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return 1
    if isinstance(value, dict):  # Common Crawl: {"pages": N, "pageSize": 5, "blocks": M}
        value = value.get("pages")
    return max(int(value), 1) if isinstance(value, int) else 1


def crawl_list(client: PoliteClient, collinfo_url: str, since: date | None,
               until: date | None) -> list[str]:
    """The ids of Common Crawl's crawls (`collinfo.json`), oldest first, those whose dates
    (when given) meet the range."""
    response = client.get(collinfo_url)
    if response.status_code != 200:
        raise ValueError(f"{collinfo_url}: HTTP {response.status_code}")
    crawls = []
    for entry in response.json():
        start, end = (entry.get("from") or "")[:10], (entry.get("to") or "")[:10]
        if until and start and start > until.isoformat():
            continue
        if since and end and end < since.isoformat():
            continue
        crawls.append(entry["id"])
    return sorted(crawls)


def news_paths(client: PoliteClient, url: str) -> list[str]:
    """The WARC paths a CC-NEWS `warc.paths.gz` lists (gzip or plain text), in order."""
    response = client.get(url)
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        raise ValueError(f"{url}: HTTP {response.status_code}")
    data = response.content
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def months(since: date, until: date) -> list[tuple[int, int]]:
    """(year, month) of every month from `since` to `until`."""
    out, (y, m) = [], (since.year, since.month)
    while (y, m) <= (until.year, until.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def wanted(url: str, languages: set[str]) -> str:
    """`article` for a dw.com article URL in one of `languages`, else why not."""
    if (urlsplit(url).hostname or "").lower() not in dw.DW_HOSTS:
        return "not_dw"
    target = dw.parse_url(url)
    if target is None:
        return "not_dw_content"
    if target.kind != "article":
        return f"type/{target.kind}"
    if target.language not in languages:
        return "other_language"
    return "article"
