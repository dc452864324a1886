"""The first two steps: decode the bytes, and identify the page (which DW content, which layout).

Decoding follows the HTML standard's order, as w3lib implements it: a byte-order mark, the
HTTP `Content-Type` charset, the page's `<meta charset>`, then detection (UTF-8 when the bytes
are valid UTF-8, else windows-1252, the web's legacy default). One exception, for a site that
serves UTF-8: bytes that are valid UTF-8 are read as UTF-8 whatever a header or meta says, since
text in a legacy charset is practically never valid UTF-8, while a mislabelled UTF-8 page is
common (its "ü" would otherwise be stored as "Ã¼").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser
from w3lib.encoding import html_to_unicode, http_content_type_encoding, read_bom

from crawler import dw
from crawler.dates import UnknownZone, utc_stamp


class NotAnArticle(Exception):
    """The page is not a DW article; `reason` says why, `id`/`url` say what it was if known,
    `kind` names a refusal counted apart (`too_deep`, `too_costly`: a page too costly to read),
    else None."""

    def __init__(self, reason: str, id: int | None = None, url: str | None = None,
                 kind: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.id = id
        self.url = url
        self.kind = kind

    def to_dict(self) -> dict:
        """The failure as a JSON-ready object."""
        return {"id": self.id, "url": self.url, "error": self.reason}


@dataclass
class Page:
    """One parsed page and what identifying it found; sources read it, and add `warnings`."""

    text: str
    doc: LexborHTMLParser
    metas: dict[str, str]
    id: int
    url: str  # canonical
    kind: str  # article or live
    language: str | None
    old_layout: bool  # `div.longText` / `div.col3` and no `<article>`: DW's layout until mid-2023
    warnings: list[tuple[str, str]] = field(default_factory=list)
    memo: dict = field(default_factory=dict)  # what one source finds once for its own readers
    # True when `text` was decoded from bytes: it holds no surrogate code point (a `str` given
    # may), so JSON read from it is searched for surrogate escapes only.
    decoded: bool = False

    def date(self, value, where: str):
        """`value` when it is a date `crawler.dates` can read (the normaliser makes it UTC), else
        None; a date whose zone is unknown is never taken as UTC: it is a warning
        (`unknown_zone`, naming `where` it was) and not used."""
        if not isinstance(value, str) or not value.strip():
            return None
        try:
            return value if utc_stamp(value)[0] else None
        except UnknownZone as exc:
            self.warnings.append(("unknown_zone", f"{where}: {exc}"))
            return None


def _utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _detect(body: bytes) -> str | None:
    return "utf-8" if _utf8(body) is not None else None


def _content_type(encoding: str | None) -> str | None:
    """A `Content-Type` value for w3lib from a charset name or a whole header value."""
    encoding = (encoding or "").strip().replace("'", '"')
    if not encoding:
        return None
    if any(mark in encoding for mark in "/;="):
        return encoding
    return f"text/html; charset={encoding}"


def decode(page: bytes | str, encoding: str | None = None
           ) -> tuple[str, list[tuple[str, str]], bytes | None]:
    """The page's text, decoding warnings, and the bytes when the text is their plain UTF-8
    decoding (else None: lexbor is given the text); `encoding` is the HTTP charset
    (`windows-1252`) or the whole `Content-Type` value. Raises `NotAnArticle` for empty,
    binary or cut pages."""
    warnings: list[tuple[str, str]] = []
    utf8 = None
    if isinstance(page, str):
        text = page
    else:
        if not page or page.isspace():
            raise NotAnArticle("empty page")
        if _binary(page[:4096]):
            raise NotAnArticle("not HTML: binary content")
        header = _content_type(encoding)
        if header and "charset" in header.lower() and http_content_type_encoding(header) is None:
            warnings.append(("unknown_charset", f"the HTTP charset in {header!r} is not one we know"))
        text = _utf8(page) if read_bom(page)[0] is None else None
        if text is not None:  # valid UTF-8: nothing was replaced, any U+FFFD is the page's own
            utf8 = page
        else:
            used, text = html_to_unicode(header, page, default_encoding="cp1252", auto_detect_fun=_detect)
            replaced = text.count("\ufffd")
            if replaced and "utf" in used:  # U+FFFD the page itself holds is not a decoding loss
                replaced -= page.count("\ufffd".encode())
            if replaced > 0:
                warnings.append(("replacement_characters",
                                 f"{replaced} bytes could not be decoded as {used}"))
    if not text or text.isspace():
        raise NotAnArticle("empty page")
    if "<" not in text[:2048]:
        raise NotAnArticle("not HTML: no markup")
    # A stray NUL in a text page is a slip of its writer, not binary (in UTF-8 a NUL byte is the
    # NUL character and nothing else, so the bytes are searched: faster than the text).
    if (b"\x00" in utf8) if utf8 is not None else ("\x00" in text):
        warnings.append(("nul_bytes", f"{text.count(chr(0))} NUL characters removed"))
        text, utf8 = text.replace("\x00", ""), None
    if _truncated(text):
        raise NotAnArticle("truncated page: the document ends before </body></html>"
                           " or the article's closing markup")
    return text, warnings, utf8


# C0 control bytes that are not whitespace: text never holds many of them.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\f\r") + b"\x7f"


def _binary(head: bytes) -> bool:
    """Mostly binary: UTF-16 without BOM excepted, over 1% NULs or 5% other control bytes (one
    stray NUL in a page is not enough)."""
    if not head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    controls = len(head) - len(head.translate(None, _CONTROL))
    return head.count(b"\x00") > len(head) / 100 or controls > len(head) / 20


def _truncated(text: str) -> bool:
    """Cut short: no `</body>` or `</html>` at the end (both optional in HTML5), and not ending
    on a tag after the article's closing `</article>` either. A page cut inside the article
    never has both; Scrapy refuses a body shorter than its Content-Length anyway."""
    tail = text[-4096:]
    if "</html" in tail or "</body" in tail:  # as nearly every page writes them: no lowering
        return False
    tail = tail.lower()
    if "</html" in tail or "</body" in tail:
        return False
    return not (text.rstrip().endswith(">") and "</article>" in text.lower())


# Elements open at once that a page may hold. lexbor's parse time grows faster than the square of
# the nesting (nested `<div>`s: 7 ms at 2,000 levels, 0.6 s at 20,000, 39 s at 100,000), and the
# parse runs in the crawl's one reactor thread, so a deeper page is refused before it is parsed.
# DW's pages nest under 20 deep; Chromium builds no tree deeper than 512.
MAX_DEPTH = 2048
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
# Elements that never nest by being left open: void ones, and those whose end tag is optional
# (the parser closes them at the next sibling).
_NOT_NESTING = frozenset(
    "area base br col embed hr img input link meta param source track wbr keygen"
    " p li dt dd option optgroup tr td th tbody thead tfoot rb rt rp rtc colgroup caption".split())


def nesting_depth(html: str) -> int:
    """How many elements `html` holds open at once at most, from its tags alone (an upper
    bound of its tree's depth: elements that close themselves are left out, a stray end tag
    closes nothing); linear, without parsing."""
    deepest = depth = 0
    for close, name in _TAG.findall(html):
        if name.lower() in _NOT_NESTING:
            continue
        if close:
            depth -= depth > 0
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


# Attributes a page may hold. lexbor (and lxml: libxml2 alike) checks each new attribute of an
# element against those before it, and keeps attribute names in a table that slows as it fills:
# one `<p>` with 20,000 distinct attributes takes 0.6 s to parse, 40,000 7.6 s; 200,000 distinct
# names spread over as many elements 8.1 s. Real DW pages (../shared/dw/pages, data/sample-site)
# hold at most 7 attributes on one element, 1,555 in all and 59 distinct names (counted as below:
# tags inside scripts and comments included), so the limits leave a wide margin. Within them a
# parse costs at most a few hundredths of a second more (tests/test_hostile_property.py).
MAX_ATTRIBUTES_PER_ELEMENT = 256
MAX_ATTRIBUTES = 100_000
MAX_ATTRIBUTE_NAMES = 1_000
# A start tag and the text of its attributes, as HTML's tokenizer reads them: a quote delimits a
# value only after `=`, and `>` inside a quoted value does not end the tag. Possessive, so linear.
_START_TAG = re.compile(r"""<[A-Za-z][^\t\n\f\r />]*+"""
                        r"""((?:[^>=]++|=[\t\n\f\r ]*+(?:"[^"]*+"?|'[^']*+'?)?+)*+)""")
# One attribute (its name captured) in such text.
_ATTRIBUTE = re.compile(r"""[\t\n\f\r /]*+([^\t\n\f\r />][^\t\n\f\r /=>]*+)"""
                        r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"?|'[^']*+'?|[^\t\n\f\r >]*+))?+""")


def attribute_counts(html: str) -> tuple[int, int, int]:
    """(the most attributes on one element, attributes in all, distinct attribute names) of
    `html`, from its start tags alone (an upper bound: tags in scripts and comments count too);
    linear, without parsing."""
    regions = _START_TAG.findall(html)
    # An attribute takes at least two characters of a tag's text but the last, so only a tag
    # text longer than twice the limit can hold more; only those are counted one by one.
    widest = max((len(_ATTRIBUTE.findall(region)) for region in regions
                  if len(region) > 2 * MAX_ATTRIBUTES_PER_ELEMENT), default=0)
    names = _ATTRIBUTE.findall(" ".join(regions))
    distinct = set(names)
    # Names are counted lowercased. Lowercasing the few distinct names gives the same set as
    # lowercasing all the tags' text (no character lowercases to or from a delimiter, so the
    # same names are found), without the cost of the latter: a third of this scan on a real
    # page. ASCII names only: Python lowers a Greek capital sigma by its neighbours.
    if all(name.isascii() for name in distinct):
        return widest, len(names), len({name.lower() for name in distinct})
    return widest, len(names), len(set(_ATTRIBUTE.findall(" ".join(regions).lower())))


def refuse_costly(html: str, what: str = "the page") -> None:
    """Raise `NotAnArticle` when `html` would be too costly to parse: kind `too_deep` when it
    nests more than `MAX_DEPTH` elements deep (a page with fewer tags than that cannot, so most
    pages are not scanned for it), kind `too_costly` when one element holds more than
    `MAX_ATTRIBUTES_PER_ELEMENT` attributes, the page more than `MAX_ATTRIBUTES`, or more than
    `MAX_ATTRIBUTE_NAMES` distinct names. One linear scan each, before parsing."""
    if html.count("<") > MAX_DEPTH:
        depth = nesting_depth(html)
        if depth > MAX_DEPTH:
            raise NotAnArticle(f"{what} nests {depth} elements deep (more than {MAX_DEPTH}):"
                               " refused before parsing, too costly to read", kind="too_deep")
    widest, total, distinct = attribute_counts(html)
    for count, limit, name in ((widest, MAX_ATTRIBUTES_PER_ELEMENT, "attributes on one element"),
                               (total, MAX_ATTRIBUTES, "attributes"),
                               (distinct, MAX_ATTRIBUTE_NAMES, "distinct attribute names")):
        if count > limit:
            raise NotAnArticle(f"{what} holds {count} {name} (more than {limit}): refused before"
                               " parsing, too costly to read", kind="too_costly")


def _metas(doc) -> dict[str, str]:
    """Meta values by `name` or `property`, from `content` or (as some savers write) `value`."""
    metas: dict[str, str] = {}
    for el in doc.css("meta"):
        attributes = el.attributes
        key = attributes.get("property") or attributes.get("name")
        value = attributes.get("content") or attributes.get("value")
        if key and value and key not in metas:
            metas[key] = value.strip()
    return metas


def _absolute(url: str, given: str | None) -> str:
    """`url` resolved against the page's own URL (a scheme-relative one against dw.com's
    scheme), with a Wayback Machine capture address unwrapped to the archived page's URL."""
    url = url.strip()
    if given or url.startswith("//"):
        url = urljoin(dw.unwrapped(given) if given else f"{dw.WWW}/", url)
    return dw.unwrapped(url)


# A page URL longer than this is not trusted (DW's are under 300 characters; the sitemap
# protocol allows 2,048): a 4 MB canonical link once named another article.
MAX_PAGE_URL = 2048


def _page_url(doc, metas: dict, given: str | None, warnings: list) -> tuple[str | None, str]:
    for link in doc.css('link[rel~="canonical"]'):
        href = link.attributes.get("href")
        if href and href.strip():
            if len(href.strip()) <= MAX_PAGE_URL:
                return _absolute(href, given), "canonical link"
            warnings.append(("canonical_too_long", f"a canonical link of {len(href.strip()):,}"
                             f" characters (more than {MAX_PAGE_URL:,}) is not trusted"))
            break
    og = metas.get("og:url")
    if og and len(og) <= MAX_PAGE_URL:
        return _absolute(og, given), "og:url"
    return (dw.unwrapped(given) if given else None), "given URL"


def _given_id(given: str | None) -> int | None:
    """The id of the article or live blog at the URL the page was fetched from, if it names one."""
    target = dw.parse_url(dw.unwrapped(given)) if given and len(given) <= MAX_PAGE_URL else None
    return target.id if target is not None and target.kind in ("article", "live") else None


def _html_language(doc) -> str | None:
    lang = (doc.root.attributes.get("lang") or "").strip().lower().replace("_", "-")
    if lang in dw.LANGUAGES:
        return lang
    base = lang.split("-")[0]
    return base if base in dw.LANGUAGES else None


def identify(text: str, given_url: str | None = None, *, utf8: bytes | None = None) -> Page:
    """Parse the page and name its content; raise `NotAnArticle` for anything but an article.

    `utf8`: the page's bytes when `text` is their UTF-8 decoding; lexbor parses them without
    encoding `text` again. A page nested deeper than `MAX_DEPTH` is refused unparsed."""
    refuse_costly(text)
    doc = LexborHTMLParser(utf8 if utf8 is not None else text)
    if doc.root is None:
        raise NotAnArticle("not HTML: nothing to parse", url=given_url)
    metas = _metas(doc)
    warnings: list[tuple[str, str]] = []
    page_url, where = _page_url(doc, metas, given_url, warnings)
    target = dw.parse_url(page_url) if page_url else None
    if target is None:
        if page_url:
            raise NotAnArticle(f"not a DW content page: {where} is {page_url[:300]}", url=page_url[:300])
        raise NotAnArticle("not a DW page: no canonical URL (pass --url for a saved page)")
    canonical = dw.canonical_url(page_url)
    if target.kind not in ("article", "live"):
        raise NotAnArticle(f"not an article: {target.kind} page", id=target.id, url=canonical)
    given_id = _given_id(given_url)
    if given_id is not None and given_id != target.id:
        # DW redirects a moved article's URL to the new one, whose page names itself: a page
        # fetched at one article's URL that names another is not trusted as either.
        raise NotAnArticle(f"the page at {given_url} names article {target.id} ({where}), not"
                           f" {given_id}: the ids disagree, so it is archived as neither",
                           id=given_id, url=given_url, kind="ids_disagree")
    old_layout = (doc.css_first("article") is None
                  and doc.css_first('div[class="longText"], div[class="col3"]') is not None)
    return Page(text=text, doc=doc, metas=metas, id=target.id, url=canonical, kind=target.kind,
                language=target.language or _html_language(doc), old_layout=old_layout,
                warnings=warnings)
