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

from dataclasses import dataclass, field
from urllib.parse import urljoin

from lxml import etree

_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True,
                       remove_comments=True, remove_pis=True, load_dtd=False)
GZIP_MAGIC = b"\x1f\x8b"

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


@dataclass
class Listing:
    """A sitemap, sitemap index or feed: its kind and its entries, in document order."""

    kind: str  # urlset, sitemapindex, rss, rdf, atom
    entries: list[Entry] = field(default_factory=list)
    without_location: int = 0  # `<url>`s without a `loc`, items and entries without a usable link


def local_name(element) -> str:
    """`{ns}loc`, `sm:loc` (an undeclared prefix), `loc` and `LOC` are all `loc`."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def parse_xml(body: bytes, max_size: int = 0):
    """The document's root element; gzip is undone first. NotReadable when there is none."""
    if body[:2] == GZIP_MAGIC:
        from scrapy.utils.gz import gunzip  # Scrapy's, with its decompression-bomb limit

        try:
            body = gunzip(body, max_size=max_size)
        except (OSError, ValueError, EOFError) as exc:
            raise NotReadable(f"cannot gunzip: {exc}") from None
    if body[:3] == b"\xef\xbb\xbf":
        body = body[3:]
    body = body.lstrip()  # blank lines before `<?xml` are an error to a strict parser
    try:
        root = etree.fromstring(body, parser=_XML)
    except etree.XMLSyntaxError as exc:
        raise NotReadable(str(exc)) from None
    if root is None:
        raise NotReadable("empty document")
    return root


def read_listing(body: bytes, max_size: int = 0, base_url: str | None = None) -> Listing:
    """A sitemap, sitemap index or feed as entries. NotReadable when it is none of these.

    Relative locations (some feeds write `/en/slug/a-123`, or `a-123` under an `xml:base`) are
    resolved against the `xml:base` in scope (see the module doc), then `base_url`, the
    listing's own URL, when given; one that stays relative is returned as written.
    """
    root = parse_xml(body, max_size)
    name = local_name(root)
    bases = _Bases(base_url)
    if name in SITEMAP_ROOTS:
        child = "url" if name == "urlset" else "sitemap"
        entries = [_sitemap_entry(el, bases) for el in root if local_name(el) == child]
    elif name in FEED_ROOTS:
        entries = [_feed_entry(el, bases) for el in root.iter() if local_name(el) in ("item", "entry")]
    else:
        raise NotReadable(f"neither a sitemap nor a feed: <{name or root.tag}>")
    kind = SITEMAP_ROOTS.get(name) or FEED_ROOTS[name]
    located = [e for e in entries if e.loc]
    return Listing(kind, located, len(entries) - len(located))


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
        """`reference` (a `loc`, `link`, `href`, `rdf:about`) as found in `element`."""
        reference = reference.strip()
        base = self.of(element)
        return urljoin(base, reference) if base and reference else reference


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
