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

A listing is read strictly (XML 1.0 well-formedness, libxml2 without recovery), and an entry is
taken only when the listing held it whole and well-formed: its element closed by its end tag
before the first error. libxml2 gives no event after its first error, so what it gave before is
sound; its recovery is never used (it guesses: a `<loc>` whose `</loc>` is missing became the
cut URL, `.../a-80000370` read as `.../a-80000`, another article; a missing `</url>` nested the
entries after it, dropped uncounted).
- A listing cut short (a transfer that stopped: the first error is where the data ends) keeps
  its whole entries and says it is `truncated`; the entry the cut fell in is not taken. A
  gzipped one (`.xml.gz`) is first verified whole (CRC-32, length): cut, or failing its check,
  it is `DamagedGzip` and nothing is read from it (what it inflates to cannot be trusted).
- DW may serve an unescaped `&` (`?maca=en&x=1`): when the strict reading stops before the end,
  every `&` that starts no entity or character reference is written `&amp;` (`escaped` counts
  them) and the listing read strictly again; if that reads it, its entries are exactly what DW
  meant (`not_well_formed` still says it was not well-formed).
- Any other error (a missing end tag, markup injected, a document served twice, a byte that is
  no character): the whole entries before the first error are kept, and `not_read` says how
  many entries the rest seems to hold (its entries' start tags, whole or not, less those read),
  so that nothing is lost uncounted. `truncated` too when the root's end tag is not at the end.
- A `loc` or feed `link` holding elements is no location (its text is not one URL).
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

from crawler import codings

_OPTIONS = {"resolve_entities": False, "no_network": True, "huge_tree": False,
            "remove_comments": True, "remove_pis": True, "load_dtd": False}
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


class DamagedGzip(NotReadable):
    """A gzipped listing (`.xml.gz`) that fails its CRC-32 or length check, is cut short, or has
    bytes after it that are no gzip member: changed or lost in transfer; refused unread."""


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
    # The document ends before its root element closes (cut in transfer, or gzipped whole, as
    # a gzip that verified, but cut before it was gzipped):
    # only the entries whose element closed are in `entries`.
    truncated: bool = False
    # Not well-formed before its end: libxml2's first error; "" when well-formed, or
    # well-formed up to a cut.
    not_well_formed: str = ""
    # Entries the listing seems to hold after its first error, not read (see the module doc).
    not_read: int = 0
    escaped: int = 0  # unescaped `&`s read as `&amp;`


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

    A gzip (`.xml.gz`) is undone by the crawl's one gzip reader (`crawler.codings`), which
    verifies every member's CRC-32 and length: one that fails, is cut short or has data after
    it that is no member is `DamagedGzip`, and no entry is read from it (a changed byte may be
    a changed id). TooLarge past `max_size` bytes inflated (0: no limit)."""
    if body[:2] == GZIP_MAGIC:
        try:
            body = codings.decode(body, "gzip", max_size)
        except codings.TooLarge as exc:
            raise TooLarge(f"inflates past {max_size} bytes, the listing size limit: refused"
                           f" ({exc.size} bytes inflated so far)") from None
        except codings.Damaged as exc:
            raise DamagedGzip(exc.problem) from None
    start = 3 if body[:3] == b"\xef\xbb\xbf" else 0
    # Blank lines before `<?xml` are an error to a strict parser; skipped without copying the
    # body (a sitemap may be megabytes).
    start = _BLANK.match(body, start).end()
    return memoryview(body)[start:]


class _NotWellFormed(Exception):
    """A listing the strict reading stopped in before its end and before its root element
    closed: libxml2's first error, and what the strict reading (`_Stream`) had read by then."""

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
    read from its tree once it is read. Only entries whose element closed before the first
    error are taken (see the module doc: `truncated`, `not_well_formed`, `not_read`,
    `escaped`). The entries with a location go into `entries` (a new list by default; a
    `PackedEntries` keeps a long listing compact until it is used).
    """
    located: list[Entry] | PackedEntries = [] if entries is None else entries
    document = _document(body, max_size)
    bases = _Bases(base_url)
    try:
        return _streamed(document, bases, located)
    except _NotWellFormed as error:
        first = error
    escaped, count = _escape_ampersands(document, first.reading.encoding)
    if count:
        located.clear()
        try:
            listing = _streamed(memoryview(escaped), bases, located)
            listing.escaped = count
            said = f"{count} unescaped '&' read as '&amp;'"
            listing.not_well_formed = "; ".join(filter(None, (listing.not_well_formed, said)))
            return listing
        except _NotWellFormed as error:  # another error than a bare `&` too
            first, document = error, memoryview(escaped)
    reading = first.reading
    said = f"; {count} unescaped '&' read as '&amp;'" if count else ""
    listing = reading.listing(truncated=not _ending(document, reading.encoding, reading.name),
                              not_well_formed=f"{first}{said}", document=document)
    listing.escaped = count
    return listing


class _Stream:
    """What the strict reading has read so far: the root, and each entry as it closes."""

    def __init__(self, bases: _Bases, located: list[Entry] | PackedEntries):
        self.bases, self.located = bases, located
        self.root, self.name, self.child = None, "", ""
        self.depth, self.without = 0, 0
        self.root_closed = False
        self.encoding: str | None = None  # the document's, once its root started
        self.closed_items: set = set()  # a feed's items and entries that closed
        self.open_items = 0  # a feed's items and entries open at this point

    def take(self, events) -> None:
        for event, element in events:
            if event == "start":
                self.depth += 1
                if self.root is None:
                    self.root, self.name = element, local_name(element)
                    self.encoding = element.getroottree().docinfo.encoding
                    if self.name not in SITEMAP_ROOTS and self.name not in FEED_ROOTS:
                        raise NotReadable(f"neither a sitemap nor a feed: <{self.name or element.tag}>")
                    self.child = {"urlset": "url", "sitemapindex": "sitemap"}.get(self.name, "")
                elif not self.child and local_name(element) in ("item", "entry", *FEED_ROOTS):
                    self.open_items += 1
                continue
            self.depth -= 1
            if self.depth == 0:
                self.root_closed = True
            elif not self.child:  # a feed: its items may be nested anywhere; kept in the tree
                name = local_name(element)
                if name in ("item", "entry", *FEED_ROOTS):
                    self.open_items -= 1
                    # An item inside an item, or inside a feed's root element within the feed,
                    # is none (no feed nests them; a feed served twice, the first copy cut,
                    # gives its items so)
                    if not self.open_items and name in ("item", "entry"):
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

    def listing(self, truncated: bool = False, not_well_formed: str = "",
                document: memoryview | None = None) -> Listing:
        """The listing as read so far; with the `document` it was read from, also how many
        entries that seems to hold beyond those read (`not_read`: a reading that stopped early)."""
        not_read = 0 if document is None else max(0, _entry_tags(document, self) - self.read())
        if self.name in FEED_ROOTS:
            for element in self.root.iter():
                if element in self.closed_items:
                    self._add(_feed_entry(element, self.bases))
            kind = FEED_ROOTS[self.name]
        else:
            kind = SITEMAP_ROOTS[self.name]
        return Listing(kind, self.located, self.without, truncated, not_well_formed, not_read)


def _streamed(document: memoryview, bases: _Bases, located: list[Entry] | PackedEntries) -> Listing:
    """The listing read strictly, as a stream (see `read_listing`): whole, or cut short
    (`truncated`: the data ends inside it, and nothing was wrong before the end), or whole with
    something after its root element (`not_well_formed`, `not_read`); _NotWellFormed when an
    error comes before the end of the data and before the root closed."""
    parser = etree.XMLPullParser(events=("start", "end"), recover=False, **_OPTIONS)
    reading = _Stream(bases, located)
    closing = False
    try:
        for start in range(0, max(len(document), 1), _FEED_BYTES):
            parser.feed(bytes(document[start:start + _FEED_BYTES]))
            reading.take(parser.read_events())
        closing = True
        parser.close()
    except etree.XMLSyntaxError as exc:
        # The events libxml2 gave before its first error are sound (it gives none after it).
        reading.take(parser.read_events())
        if reading.root is None:  # cut inside the root's start tag: a listing with nothing whole yet
            kind = _root_started(document) if closing and _at_end(document, exc, None) else None
            if kind is None:
                raise NotReadable(_error(exc)) from None
            return Listing(kind, located, 0, truncated=True)
        if reading.root_closed:  # only what follows the root is wrong: every entry read whole
            return reading.listing(not_well_formed=_error(exc), document=document)
        if closing and _at_end(document, exc, reading.encoding):  # a cut, nothing else wrong
            return reading.listing(truncated=True, document=document)
        raise _NotWellFormed(_error(exc), reading) from None
    reading.take(parser.read_events())
    return reading.listing()


_FIRST_TAG = re.compile(r"(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>|\s)*<([^\s<>/!?]+)[\s/]", re.DOTALL)


def _root_started(document: memoryview) -> str | None:
    """The kind of listing whose root's start tag the document begins with (cut inside it), or
    None."""
    found = _FIRST_TAG.match(_text_of(document[:4096], None))
    name = found[1].rsplit(":", 1)[-1].lower() if found else ""
    return SITEMAP_ROOTS.get(name) or FEED_ROOTS.get(name)


def _error(exc: etree.XMLSyntaxError) -> str:
    return str(exc.msg if getattr(exc, "msg", None) else exc)


def _text_of(document: memoryview, encoding: str | None) -> str:
    encoding = (encoding or "utf-8").lower()
    try:
        return bytes(document).decode(encoding, "replace")
    except LookupError:
        return bytes(document).decode("utf-8", "replace")


def _at_end(document: memoryview, exc: etree.XMLSyntaxError, encoding: str | None) -> bool:
    """Whether libxml2's error, met when the data ended (`close`: an error in complete data is
    met as it is fed, but for an `&` that starts no reference), is where the data ends (a cut),
    not before it: nothing but an unfinished construct (a tag, a reference, a comment, a
    character's first bytes: no `>`) from the error's line and column (libxml2 counts
    characters) to the end."""
    line, column = getattr(exc, "position", None) or (0, 0)
    if line < 1:
        return False
    text = _text_of(document, encoding)
    at = 0
    for _ in range(line - 1):
        at = text.find("\n", at) + 1
        if at == 0:
            return False
    return ">" not in text[at + max(column - 1, 0):]


_SPECIAL = re.compile(rb"<!\[CDATA\[|<!--|<\?|&")
_SPECIAL_END = {b"<![CDATA[": b"]]>", b"<!--": b"-->", b"<?": b"?>"}
_REFERENCE = re.compile(rb"#[0-9]+;|#x[0-9a-fA-F]+;|[A-Za-z_:][\w.:-]*;")


def _escape_ampersands(document: memoryview, encoding: str | None) -> tuple[bytes, int]:
    """The document with each `&` that starts no entity or character reference written `&amp;`
    (DW may serve `?a=1&b=2` so; CDATA sections, comments and processing instructions left as
    they are), and how many; (b"", 0) when there are none, or the encoding is not one where
    `&` is the byte 0x26 (UTF-16, UTF-32). One pass, linear in the document's length."""
    encoding = (encoding or "utf-8").lower()
    if "16" in encoding or "32" in encoding or "ucs" in encoding:
        return b"", 0
    data = bytes(document)
    parts: list[bytes] = []
    copied = at = 0
    while (found := _SPECIAL.search(data, at)) is not None:
        if found[0] != b"&":
            end = data.find(_SPECIAL_END[found[0]], found.end())
            if end < 0:
                break  # unterminated to the end: nothing after it is escaped
            at = end + len(_SPECIAL_END[found[0]])
            continue
        at = found.end()
        if not _REFERENCE.match(data, at):
            parts += [data[copied:at], b"amp;"]
            copied = at
    if not parts:
        return b"", 0
    parts.append(data[copied:])
    return b"".join(parts), len(parts) // 2


def _entry_tags(document: memoryview, reading: _Stream) -> int:
    """How many entries the document seems to hold, whole or not, wherever they are: its
    entries' start tags (`<url>`, `<sitemap>`; `<item>`, `<entry>` in a feed), or its locations'
    (`<loc>` but an image's; a feed's `<link>` from its first entry on) where there are more
    (damage may have taken an entry's start tag and left its location)."""
    text = _text_of(document, reading.encoding)
    prefix = r"<(?:[^\s<>/:]+:)?"
    names = "item|entry" if reading.name in FEED_ROOTS else reading.child
    entries = [m.start() for m in re.finditer(rf"{prefix}(?:{names})[\s/>]", text, re.IGNORECASE)]
    if reading.name in FEED_ROOTS:
        pattern, start = rf"{prefix}link[\s/>]", entries[0] if entries else 0
    else:
        pattern, start = r"<(?!image:)(?:[^\s<>/:]+:)?loc[\s/>]", 0
    return max(len(entries), len(re.findall(pattern, text[start:], re.IGNORECASE)))


_TAIL = 4096  # bytes of a document's end searched for end tags
_END_TAG = re.compile(r"</([^\s<>/]+)\s*>")


def _ending(document: memoryview, encoding: str | None, root: str) -> bool:
    """Whether the root element's end tag is in the document's last `_TAIL` bytes."""
    encoding = (encoding or "utf-8").lower()
    width = (4 if "32" in encoding or "ucs-4" in encoding
             else 2 if "16" in encoding or "ucs-2" in encoding else 1)
    start = max(0, len(document) - _TAIL)
    start -= start % width  # code units of UTF-16 and UTF-32 begin at even offsets (BOM first)
    tail = _text_of(document[start:], encoding)
    return any(m[1].rsplit(":", 1)[-1].lower() == root for m in _END_TAG.finditer(tail))


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
            loc = loc or ("" if len(child) else bases.resolve(child, _text(child)))
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
            if len(child):
                continue  # markup inside: not one URL
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
