"""Sitemaps and feeds read as lists of entries: bytes in, (loc, dates, ...) out. No Scrapy.

Read by local name, so that every namespace form found in the wild reads the same: the
sitemaps.org namespace over `http://` or `https://`, Google's older sitemap namespaces, none at
all, or any prefix; news (`news:publication_date`), image, video and hreflang (`xhtml:link`)
extensions are read or passed over without confusing their `loc`s with the page's. Feeds:
RSS 2.0 (`link`, `pubDate`, `dc:date`), RSS 1.0 / RDF (`rdf:about`, `dc:date`) and Atom
(`link href`, `updated`, `published`); DW's `dwsyn:contentID` is kept for a cross-check.

Relative locations are resolved as XML Base (W3C, 2nd edition) and RFC 3986 §5 say, in feeds
and sitemaps alike: against the `xml:base` of the element that holds them, then of each
ancestor in turn (a relative `xml:base` is itself resolved against its parent's), then the
document's own URL. lxml's `element.base` does the same walk but gives up on an IRI (a
`xml:base` with a non-ASCII path, as DW's Unicode slugs are), so the walk is done here, with
`urljoin` (RFC 3986 §5.2). `Content-Location` is not a base (RFC 9110 dropped that).
"""

from __future__ import annotations

import pickle
import re
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

from lxml import etree

_OPTIONS = {"resolve_entities": False, "no_network": True, "huge_tree": False,
            "remove_comments": True, "remove_pis": True, "load_dtd": False}
_XML = etree.XMLParser(recover=True, **_OPTIONS)
GZIP_MAGIC = b"\x1f\x8b"
# Bytes handed to the pull parser at a time: a sitemap's `<url>`s are read and dropped as they
# end, so that lxml never holds a whole 50,000-entry sitemap's tree (libxml2's own buffers
# are a few times this).
_FEED_BYTES = 1 << 16
_BLANK = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what `bytes.strip()` strips

SITEMAP_ROOTS = {"urlset": "urlset", "sitemapindex": "sitemapindex"}
FEED_ROOTS = {"rss": "rss", "rdf": "rdf", "feed": "atom"}
# Entry dates by local name, the publication date first: `since`/`until` read the first one
# an entry gives, change detection the latest of all.
DATE_NAMES = ("publication_date", "pubDate", "published", "issued", "date", "lastmod", "updated",
              "modified")
_DATES = {name.lower(): name for name in DATE_NAMES}


class NotReadable(ValueError):
    """Bytes that are not an XML document (or not a gzip of one)."""


@dataclass(frozen=True)
class Entry:
    """One sitemap `<url>` / `<sitemap>` or feed item: its location and the dates it gives."""

    loc: str
    dates: tuple[tuple[str, str], ...] = ()  # (local name, text) in DATE_NAMES order
    content_id: str | None = None  # a feed's dwsyn:contentID

    def first_date(self) -> str | None:
        """The first date the entry gives, publication dates first."""
        return self.dates[0][1] if self.dates else None


class PackedEntries:
    """A listing's entries kept compressed until they are used, in batches of `batch`.

    A sitemap may list 50,000 URLs (the sitemap protocol's limit): as `Entry` objects that is
    about 20 MB, packed (pickled, zlib level 1) a tenth of it; `drain` gives them back in
    order, one batch unpacked at a time, and frees each batch as it goes.
    """

    def __init__(self, batch: int = 1000):
        self.batch = batch
        self._packed: deque[bytes] = deque()
        self._open: list[tuple] = []
        self._count = 0

    def append(self, entry: Entry) -> None:
        self._open.append((entry.loc, entry.dates, entry.content_id))
        self._count += 1
        if len(self._open) >= self.batch:
            self._packed.append(zlib.compress(pickle.dumps(self._open, pickle.HIGHEST_PROTOCOL), 1))
            self._open = []

    def __len__(self) -> int:
        """Entries appended and not yet drained."""
        return self._count

    def clear(self) -> None:
        self._packed.clear()
        self._open, self._count = [], 0

    def drain(self) -> Iterator[Entry]:
        """The entries in the order appended, each removed as it is given (one pass)."""
        while self._packed:
            # Only this process's own pickles are read here.
            batch = pickle.loads(zlib.decompress(self._packed.popleft()))  # noqa: S301
            self._count -= len(batch)
            for values in batch:
                yield Entry(*values)
        batch, self._open = self._open, []
        self._count -= len(batch)
        for values in batch:
            yield Entry(*values)


@dataclass
class Listing:
    """A sitemap, sitemap index or feed: its kind and its entries, in document order."""

    kind: str  # urlset, sitemapindex, rss, rdf, atom
    entries: list[Entry] | PackedEntries = field(default_factory=list)
    without_location: int = 0  # `<url>`s without a `loc`, items and entries without a usable link


def local_name(element) -> str:
    """`{ns}loc`, `sm:loc` (an undeclared prefix), `loc` and `LOC` are all `loc`."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _document(body: bytes, max_size: int = 0) -> memoryview:
    """The XML document in `body`: gzip undone, a BOM and blank lines before it left out."""
    if body[:2] == GZIP_MAGIC:
        from scrapy.utils.gz import gunzip  # Scrapy's, with its decompression-bomb limit

        try:
            body = gunzip(body, max_size=max_size)
        except (OSError, ValueError, EOFError) as exc:
            raise NotReadable(f"cannot gunzip: {exc}") from None
    start = 3 if body[:3] == b"\xef\xbb\xbf" else 0
    # Blank lines before `<?xml` are an error to a strict parser; skipped without copying the
    # body (a sitemap may be megabytes).
    start = _BLANK.match(body, start).end()
    return memoryview(body)[start:]


class _NotStreamed(Exception):
    """A listing the stream leaves to the whole-tree reading: a feed, or XML that is not
    well-formed (libxml2 recovers from errors differently when it reads a document in pieces,
    so such a document is read whole, as it always was)."""


def read_listing(body: bytes, max_size: int = 0, base_url: str | None = None,
                 entries: list[Entry] | PackedEntries | None = None) -> Listing:
    """A sitemap, sitemap index or feed as entries. NotReadable when it is none of these.

    Relative locations (some feeds write `/en/slug/a-123`, or `a-123` under an `xml:base`) are
    resolved against the `xml:base` in scope (see the module doc), then `base_url`, the
    listing's own URL, when given; one that stays relative is returned as written.

    A well-formed sitemap is read as a stream: each `<url>` / `<sitemap>` is read when it ends
    and then dropped, so that memory holds one entry's elements, not the whole tree (a
    40,000-URL sitemap's tree and entries took 30 MB). Feeds, and XML with errors (read with
    libxml2's recovery), are read whole. The entries with a location go into `entries` (a new
    list by default; a `PackedEntries` keeps a long listing compact until it is used).
    """
    located: list[Entry] | PackedEntries = [] if entries is None else entries
    document = _document(body, max_size)
    bases = _Bases(base_url)
    try:
        return _streamed(document, bases, located)
    except _NotStreamed:
        located.clear()
        return _whole(document, bases, located)


def _streamed(document: memoryview, bases: _Bases, located: list[Entry] | PackedEntries) -> Listing:
    """A well-formed sitemap read as a stream (see `read_listing`); _NotStreamed otherwise."""
    parser = etree.XMLPullParser(events=("start", "end"), recover=False, **_OPTIONS)
    root, name, child, depth, without = None, "", "", 0, 0
    try:
        for start in range(0, max(len(document), 1), _FEED_BYTES):
            parser.feed(bytes(document[start:start + _FEED_BYTES]))
            for event, element in parser.read_events():
                if event == "start":
                    depth += 1
                    if root is None:
                        root, name = element, local_name(element)
                        if name not in SITEMAP_ROOTS:
                            raise _NotStreamed  # a feed's items may be nested anywhere
                        child = "url" if name == "urlset" else "sitemap"
                    continue
                depth -= 1
                if depth != 1:
                    continue
                if local_name(element) == child:
                    entry = _sitemap_entry(element, bases)
                    if entry.loc:
                        located.append(entry)
                    else:
                        without += 1
                root.remove(element)  # its tail (text after it) goes with it
        parser.close()
    except etree.XMLSyntaxError:
        raise _NotStreamed from None
    return Listing(SITEMAP_ROOTS[name], located, without)


def _whole(document: memoryview, bases: _Bases, located: list[Entry] | PackedEntries) -> Listing:
    """The listing read from the whole document's tree, libxml2 recovering from errors."""
    try:
        root = etree.fromstring(bytes(document), parser=_XML)
    except etree.XMLSyntaxError as exc:
        raise NotReadable(str(exc)) from None
    if root is None:
        raise NotReadable("empty document")
    name = local_name(root)
    if name in SITEMAP_ROOTS:
        child = "url" if name == "urlset" else "sitemap"
        entries = (_sitemap_entry(el, bases) for el in root if local_name(el) == child)
    elif name in FEED_ROOTS:
        entries = (_feed_entry(el, bases) for el in root.iter() if local_name(el) in ("item", "entry"))
    else:
        raise NotReadable(f"neither a sitemap nor a feed: <{name or root.tag}>")
    without = 0
    for entry in entries:
        if entry.loc:
            located.append(entry)
        else:
            without += 1
    return Listing(SITEMAP_ROOTS.get(name) or FEED_ROOTS[name], located, without)


_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


class _Bases:
    """The base URI in scope at an element: the `xml:base` of the element and of each ancestor,
    outermost first, each resolved against the one before, starting from the document's URL."""

    def __init__(self, document: str | None):
        self.document = document or ""

    def of(self, element) -> str:
        declared = []
        while element is not None:
            value = element.get(_XML_BASE)
            if value is not None:
                declared.append(value.strip())
            element = element.getparent()
        base = self.document
        for value in reversed(declared):
            base = urljoin(base, value) if base else value
        return base

    def resolve(self, element, reference: str) -> str:
        """`reference` (a `loc`, `link`, `href`, `rdf:about`) as found in `element`; "" (an entry
        without a usable link, counted and skipped by the spider) when it or a base in scope is
        no URL that `urljoin` accepts."""
        reference = reference.strip()
        try:
            base = self.of(element)
            return urljoin(base, reference) if base and reference else reference
        except ValueError:  # urljoin refuses it (`https://www.dw.com]]>/`): no usable link
            return ""


def _text(element) -> str:
    return (element.text or "").strip()


def _dates(found: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((_DATES[key], found[key]) for key in _DATES if found.get(key))


def _sitemap_entry(url, bases: _Bases) -> Entry:
    loc, found = "", {}
    for child in url:
        name = local_name(child)
        if name == "loc":
            loc = loc or bases.resolve(child, _text(child))
        elif name in _DATES:
            found.setdefault(name, _text(child))
        elif name == "news":  # news:news/news:publication_date; image:, video:, xhtml: are not the page
            for inner in child.iter():
                if local_name(inner) == "publication_date":
                    found.setdefault("publication_date", _text(inner))
    return Entry(loc, _dates(found))


# RFC 4287 §4.2.7.2: a link relation given as a name is the IRI of that name in IANA's registry;
# either form names it.
_IANA_RELATIONS = "http://www.iana.org/assignments/relation/"


def link_relation(rel: str | None) -> str:
    """An Atom `link`'s relation as a registered name: `alternate` when none is given (RFC 4287
    §4.2.7.2), `alternate` too for `http://www.iana.org/assignments/relation/alternate`."""
    rel = (rel or "").strip() or "alternate"
    if rel.lower().startswith(_IANA_RELATIONS):
        rel = rel[len(_IANA_RELATIONS):]
    return rel.lower()


def _feed_entry(item, bases: _Bases) -> Entry:
    link, content_id, found = "", None, {}
    for child in item:
        name = local_name(child)
        if name == "link":
            rel = link_relation(child.get("rel"))
            if _text(child):
                link = link or bases.resolve(child, _text(child))
            elif child.get("href") and rel == "alternate":
                link = link or bases.resolve(child, child.get("href"))
        elif name in _DATES:
            found.setdefault(name, _text(child))
        elif name == "contentid":
            content_id = _text(child) or None
    if not link:  # RSS 1.0 names the item by rdf:about; RSS 2.0 may give only a permalink guid,
        # Atom an `id` that is the page's URL
        about = next((v for k, v in item.attrib.items() if k.rsplit("}", 1)[-1] == "about"), "")
        guid = next((c for c in item if local_name(c) == "guid"), None)
        atom_id = next((_text(c) for c in item if local_name(c) == "id"), "")
        if about:
            link = bases.resolve(item, about)
        elif guid is not None and guid.get("isPermaLink", "true") != "false":
            link = bases.resolve(guid, _text(guid))
        elif atom_id.startswith(("http://", "https://")):
            link = atom_id
    return Entry(link, _dates(found), content_id)
