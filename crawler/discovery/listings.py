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

A listing is read strictly first (XML 1.0 well-formedness, libxml2 without recovery), so that an
entry is taken only when it is whole: its element closed by its end tag. A listing cut short (a
transfer without Content-Length that stopped, a truncated `.xml.gz`) is well-formed up to the cut:
its whole entries are kept, the entry the cut fell in is not (its `loc` cut from
`.../a-80000370` to `.../a-80000` would name another article), and the listing says it is
`truncated`. A listing that is not well-formed before its end (DW may serve an unescaped `&`) is
read with libxml2's recovery, as before, and says so (`not_well_formed`); if it also ends before
its root element closes, the entries its end may have left open are dropped.
"""

from __future__ import annotations

import pickle
import re
import struct
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
# Those of DATE_NAMES that say when the article was published (`dc:date` is an RSS 1.0 item's
# date); the others say when it last changed.
PUBLICATION_DATES = frozenset(DATE_NAMES[:5])


class NotReadable(ValueError):
    """Bytes that are not an XML document (or not a gzip of one)."""


class TooLarge(NotReadable):
    """A gzipped listing that inflates past the size limit (a gzip bomb): refused unread."""


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
    # The document ends before its root element closes (cut in transfer, or a truncated gzip):
    # only the entries whose element closed are in `entries`.
    truncated: bool = False
    # Not well-formed before its end: libxml2's first error (the listing was then read with its
    # recovery); "" when well-formed, or well-formed up to a cut.
    not_well_formed: str = ""


def size_limit_problem(value, name: str = "DW_LISTING_MAXSIZE") -> str | None:
    """Why a listing size limit as set (`-s DW_LISTING_MAXSIZE=…`: a string, or an int from a
    settings file) cannot be used, in words; None when it can: a whole number of bytes, at
    least 1. No "0 = no limit" as Scrapy's DOWNLOAD_MAXSIZE has: a gzipped sitemap must be
    inflated within a bound (a gzip bomb)."""
    try:
        size = int(str(value).strip())
    except ValueError:
        return f"{name}={value!r} is not a whole number of bytes (the sitemap protocol's limit: 52428800)"
    if size < 1:
        return (f"{name}={value} is no limit: a listing's size, gzipped ones inflated, must be"
                " bounded; give a number of bytes, e.g. 52428800 (the sitemap protocol's limit)")
    return None


def local_name(element) -> str:
    """`{ns}loc`, `sm:loc` (an undeclared prefix), `loc` and `LOC` are all `loc`."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _document(body: bytes, max_size: int = 0) -> memoryview:
    """The XML document in `body`: gzip undone, a BOM and blank lines before it left out.

    A gzip cut short gives what it inflates to (Scrapy's `gunzip` returns that): an XML
    document cut short, read as such. TooLarge past `max_size` bytes inflated (0: no limit)."""
    if body[:2] == GZIP_MAGIC:
        from scrapy.utils.gz import gunzip  # Scrapy's, with its decompression-bomb limit

        try:
            body = gunzip(body, max_size=max_size)
        except ValueError as exc:  # the only ValueError `gunzip` raises: its size limit
            raise TooLarge(f"inflates past {max_size} bytes, the listing size limit: refused"
                           f" ({exc})") from None
        except (OSError, EOFError, struct.error, zlib.error) as exc:  # zlib's: a corrupt deflate stream
            raise NotReadable(f"cannot gunzip: {exc}") from None
    start = 3 if body[:3] == b"\xef\xbb\xbf" else 0
    # Blank lines before `<?xml` are an error to a strict parser; skipped without copying the
    # body (a sitemap may be megabytes).
    start = _BLANK.match(body, start).end()
    return memoryview(body)[start:]


class _NotWellFormed(Exception):
    """A listing the strict reading stopped in before its root element closed: libxml2's error,
    and what the strict reading had read (`_Stream`) by then. lxml raises a push parser's error
    only when it is closed, and an error met at the end of the data (a cut) and one before it
    (an unescaped `&`) may be the same error, so which it was is found by the recovery reading
    (`_whole`)."""

    def __init__(self, message: str, reading: _Stream):
        super().__init__(message)
        self.reading = reading


def read_listing(body: bytes, max_size: int = 0, base_url: str | None = None,
                 entries: list[Entry] | PackedEntries | None = None) -> Listing:
    """A sitemap, sitemap index or feed as entries. NotReadable when it is none of these
    (TooLarge when a gzip inflates past `max_size` bytes).

    Relative locations (some feeds write `/en/slug/a-123`, or `a-123` under an `xml:base`) are
    resolved against the `xml:base` in scope (see the module doc), then `base_url`, the
    listing's own URL, when given; one that stays relative is returned as written.

    A listing is read as a stream, strictly: a sitemap's `<url>` / `<sitemap>` is read when it
    ends and then dropped, so that memory holds one entry's elements, not the whole tree (a
    40,000-URL sitemap's tree and entries took 30 MB); a feed's items (nested anywhere) are
    read from its tree once it is read. Only entries whose element closed are taken: a listing
    cut short keeps those before the cut (`truncated`). XML with an error before its end is
    read whole with libxml2's recovery (`not_well_formed`; see the module doc). The entries with
    a location go into `entries` (a new list by default; a `PackedEntries` keeps a long listing
    compact until it is used).
    """
    located: list[Entry] | PackedEntries = [] if entries is None else entries
    document = _document(body, max_size)
    bases = _Bases(base_url)
    try:
        return _streamed(document, bases, located)
    except _NotWellFormed as error:
        return _whole(document, bases, located, str(error), error.reading)


class _Stream:
    """What the strict reading has read so far: the root, and each entry as it closes."""

    def __init__(self, bases: _Bases, located: list[Entry] | PackedEntries):
        self.bases, self.located = bases, located
        self.root, self.name, self.child = None, "", ""
        self.depth, self.without = 0, 0
        self.root_closed = False
        self.closed_items: set = set()  # a feed's items and entries that closed

    def take(self, events) -> None:
        for event, element in events:
            if event == "start":
                self.depth += 1
                if self.root is None:
                    self.root, self.name = element, local_name(element)
                    if self.name not in SITEMAP_ROOTS and self.name not in FEED_ROOTS:
                        raise NotReadable(f"neither a sitemap nor a feed: <{self.name or element.tag}>")
                    self.child = {"urlset": "url", "sitemapindex": "sitemap"}.get(self.name, "")
                continue
            self.depth -= 1
            if self.depth == 0:
                self.root_closed = True
            elif not self.child:  # a feed: its items may be nested anywhere; kept in the tree
                if local_name(element) in ("item", "entry"):
                    self.closed_items.add(element)  # held, so that lxml keeps this proxy
            elif self.depth == 1:
                if local_name(element) == self.child:
                    self._add(_sitemap_entry(element, self.bases))
                self.root.remove(element)  # its tail (text after it) goes with it

    def _add(self, entry: Entry) -> None:
        if entry.loc:
            self.located.append(entry)
        else:
            self.without += 1

    def read(self) -> int:
        """The entries read whole so far, with a location or not."""
        return len(self.closed_items) if self.name in FEED_ROOTS else len(self.located) + self.without

    def listing(self, truncated: bool = False, not_well_formed: str = "") -> Listing:
        if self.name in FEED_ROOTS:
            for element in self.root.iter():
                if element in self.closed_items:
                    self._add(_feed_entry(element, self.bases))
            kind = FEED_ROOTS[self.name]
        else:
            kind = SITEMAP_ROOTS[self.name]
        return Listing(kind, self.located, self.without, truncated, not_well_formed)


def _streamed(document: memoryview, bases: _Bases, located: list[Entry] | PackedEntries) -> Listing:
    """The listing read strictly, as a stream (see `read_listing`); _NotWellFormed when an error
    comes before the end of the data."""
    parser = etree.XMLPullParser(events=("start", "end"), recover=False, **_OPTIONS)
    reading = _Stream(bases, located)
    try:
        for start in range(0, max(len(document), 1), _FEED_BYTES):
            parser.feed(bytes(document[start:start + _FEED_BYTES]))
            reading.take(parser.read_events())
        parser.close()
    except etree.XMLSyntaxError as exc:
        if reading.root_closed:  # only what follows the root is wrong: every entry read whole
            return reading.listing(not_well_formed=_error(exc))
        raise _NotWellFormed(_error(exc), reading) from None
    reading.take(parser.read_events())
    return reading.listing()


def _error(exc: etree.XMLSyntaxError) -> str:
    return str(exc.msg if getattr(exc, "msg", None) else exc)


def _whole(document: memoryview, bases: _Bases, located: list[Entry] | PackedEntries,
           error: str = "not well-formed", strict: _Stream | None = None) -> Listing:
    """The listing read from the whole document's tree, libxml2 recovering from errors.

    When the document ends before its root element's end tag, the entries its end may have
    left open (those on the tree's last branch, but one whose end tag ends the data) are
    dropped: recovery closes them as if they were whole. When recovery then reads nothing the
    strict reading (`strict`) did not, the error was the cut itself: the document is
    well-formed up to it, and the strict reading's entries are the listing's, exactly."""
    try:
        root = etree.fromstring(bytes(document), parser=_XML)
    except etree.XMLSyntaxError as exc:
        raise NotReadable(str(exc)) from None
    if root is None:
        raise NotReadable("empty document")
    name = local_name(root)
    if name in SITEMAP_ROOTS:
        child = "url" if name == "urlset" else "sitemap"
        elements = [el for el in root if local_name(el) == child]
    elif name in FEED_ROOTS:
        child = ""
        elements = [el for el in root.iter() if local_name(el) in ("item", "entry")]
    else:
        raise NotReadable(f"neither a sitemap nor a feed: <{name or root.tag}>")
    closed, last = _ending(document, root.getroottree().docinfo.encoding, name)
    truncated = not closed
    left_open: set = set()
    if truncated:
        listed = set(elements)
        branch = [el for el in _last_branch(root) if el in listed]
        if branch and last == local_name(branch[-1]):
            branch.pop()  # the data ends with its end tag: the innermost one closed
        left_open = set(branch)
        if (strict is not None and strict.name in ("", name) and len(elements) >= strict.read()
                and all(el in left_open for el in elements[strict.read():])):
            if not strict.name:  # cut before the root's start tag ended: nothing whole yet
                located.clear()
                return Listing(SITEMAP_ROOTS.get(name) or FEED_ROOTS[name], located, 0, True)
            return strict.listing(truncated=True)
    located.clear()
    without = 0
    for element in elements:
        if element in left_open:
            continue
        entry = _sitemap_entry(element, bases) if child else _feed_entry(element, bases)
        if entry.loc:
            located.append(entry)
        else:
            without += 1
    return Listing(SITEMAP_ROOTS.get(name) or FEED_ROOTS[name], located, without, truncated, error)


def _last_branch(root) -> list:
    """The elements from the root's last child down to the last element of the document: the
    only ones the end of the data can have left open."""
    branch = []
    element = root
    while len(element):
        element = element[-1]
        branch.append(element)
    return branch


_TAIL = 4096  # bytes of a document's end searched for end tags
_END_TAG = re.compile(r"</([^\s<>/]+)\s*>")
_AFTER_ROOT = re.compile(r"(?:\s|<!--.*?-->|<\?.*?\?>)*\Z", re.DOTALL)  # what XML allows after the root


def _ending(document: memoryview, encoding: str | None, root: str) -> tuple[bool, str]:
    """(whether the root element's end tag is in the document's last `_TAIL` bytes, the local
    name of the end tag that ends the document, or "" when it ends otherwise), lower case.
    Whatever follows the root's end tag (an error, read by recovery or not) is no part of it."""
    encoding = (encoding or "utf-8").lower()
    width = (4 if "32" in encoding or "ucs-4" in encoding
             else 2 if "16" in encoding or "ucs-2" in encoding else 1)
    start = max(0, len(document) - _TAIL)
    start -= start % width  # code units of UTF-16 and UTF-32 begin at even offsets (BOM first)
    try:
        tail = bytes(document[start:]).decode(encoding, "replace")
    except LookupError:
        tail = bytes(document[start:]).decode("utf-8", "replace")
    names = [(m[1].rsplit(":", 1)[-1].lower(), m.end()) for m in _END_TAG.finditer(tail)]
    closed = any(name == root for name, _ in names)
    last = names[-1][0] if names and _AFTER_ROOT.match(tail, names[-1][1]) else ""
    return closed, last


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
