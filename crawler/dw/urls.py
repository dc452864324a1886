"""dw.com's addresses: hosts, the 31 languages, content URLs, base-62 short codes, canonical URLs.

Source of every fact: `../shared/dw/FACTS.md` ("Content URLs", "Short links").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from w3lib.url import safe_url_string, url_query_cleaner

WWW = "https://www.dw.com"
SHORTLINK = "https://p.dw.com"
FEEDS = "https://rss.dw.com"

# The 31 path prefixes, in DW's own order (FACTS.md).
LANGUAGES: tuple[str, ...] = (
    "sq", "am", "ar", "bn", "bs", "bg", "zh", "zh-hant", "hr", "fa-af", "en", "fr", "de",
    "el", "ha", "hi", "id", "sw", "mk", "ps", "fa-ir", "pl", "pt-002", "pt-br", "ro", "ru",
    "sr", "es", "tr", "uk", "ur",
)  # fmt: skip
RTL_LANGUAGES = frozenset({"ar", "fa-af", "fa-ir", "ps", "ur"})

# The "all" RSS channel per language where it is known; `x` in `rss-{x}-all`.
FEED_CHANNELS: dict[str, str] = {
    "en": "rss-en-all", "de": "rss-de-all", "fr": "rss-fr-all", "ar": "rss-ar-all",
    "ru": "rss-ru-all", "pt-br": "rss-br-all", "pt-002": "rss-por-all", "uk": "rss-ukr-all",
    "tr": "rss-tur-all", "zh": "rss-chi-all", "pl": "rss-pol-all", "ro": "rss-rom-all",
    "el": "rss-gre-all", "hi": "rss-hin-all", "ur": "rss-urd-all", "bn": "rss-ben-all",
    "am": "rss-amh-all", "bs": "rss-bos-all", "es": "rss-es-all", "fa-ir": "rss-fa-all",
}  # fmt: skip

# Content types in URLs (`{type}-{id}`); `av` is the pre-2022 form of audio and video.
CONTENT_TYPES: dict[str, str] = {
    "a": "article", "live": "live", "video": "video", "audio": "audio", "av": "media",
    "g": "gallery", "program": "program", "t": "topic", "s": "section", "person": "person",
    "st": "stream",
}  # fmt: skip

DW_HOSTS = frozenset({"www.dw.com", "dw.com", "amp.dw.com", "m.dw.com"})
OLD_HOSTS = frozenset({"www.dw.de", "dw.de", "www.dw-world.de", "dw-world.de"})
SHORTLINK_HOSTS = frozenset({"p.dw.com"})
FEED_HOSTS = frozenset({"rss.dw.com"})
TRACKING_PARAMS = ("maca", "at_medium", "at_campaign", "at_share_source", "at_origin")

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_INDEX = {c: i for i, c in enumerate(_BASE62)}
_CONTENT_PATH = re.compile(r"^/(?:(?P<lang>[a-z]{2}(?:-[a-z0-9]{2,4})?)/)?(?:(?P<slug>[^/]*)/)?"
                           r"(?P<type>[a-z]+)-(?P<id>\d+)/?$")
_OLD_ARTICLE_PATH = re.compile(r"/dw/article/0,,(?P<id>\d+),00\.html$")
_SHORT_PATH = re.compile(r"^/p/(?P<code>[0-9A-Za-z]+)/?$")
# The largest content id taken as DW's: 2**53 - 1, the largest integer a JSON consumer (DW's own
# JavaScript page state, datasette's JSON API, a browser) holds exactly; DW's ids are 8 digits
# today (FACTS.md), so the bound leaves room for ids a billion times larger, and is far inside
# SQLite's 64-bit INTEGER. A number above it in a URL or a short code is not a DW content id.
MAX_CONTENT_ID = 2**53 - 1
_MAX_ID_DIGITS = len(str(MAX_CONTENT_ID))


def is_content_id(value: object) -> bool:
    """True for an int in 1..`MAX_CONTENT_ID` (a DW content id can be; bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CONTENT_ID


def _content_id(digits: str) -> int | None:
    if len(digits.lstrip("0")) > _MAX_ID_DIGITS:  # int() of thousands of digits would raise
        return None
    value = int(digits)
    return value if is_content_id(value) else None


def encode_short_code(content_id: int) -> str:
    """Write a content id as DW's base-62 short code."""
    if content_id < 0:
        raise ValueError("content ids are not negative")
    digits = []
    while True:
        content_id, rest = divmod(content_id, 62)
        digits.append(_BASE62[rest])
        if content_id == 0:
            return "".join(reversed(digits))


def decode_short_code(code: str) -> int:
    """Read a base-62 short code back into its content id."""
    if not code:
        raise ValueError("empty short code")
    value = 0
    for char in code:
        try:
            value = value * 62 + _BASE62_INDEX[char]
        except KeyError:
            raise ValueError(f"not a base-62 short code: {code!r}") from None
    return value


def short_url(content_id: int) -> str:
    """The `p.dw.com` short link of a content id."""
    return f"{SHORTLINK}/p/{encode_short_code(content_id)}"


@dataclass(frozen=True)
class DwUrl:
    """What a DW URL names: a content item (`kind`, `id`) or a short link (`code`)."""

    kind: str  # article, live, video, ..., or "shortlink"
    id: int
    language: str | None = None
    slug: str | None = None
    code: str | None = None
    old_host: bool = False  # on www.dw.de or www.dw-world.de


def fetched_by_short_link(target: DwUrl) -> str | None:
    """The short code through which content found at `target` is fetched, or None when its
    own URL is fetched: the one rule for every URL found (given with `urls=`, listed in a
    sitemap or feed). A URL on an old host (`www.dw.de/{slug}/a-{id}`, 2012-15;
    `www.dw-world.de/dw/article/0,,{id},00.html`, until 2011; FACTS.md) is on no origin and
    names no language, but its id is the content id of today: `p.dw.com/p/{code}` redirects to
    where the content is now. A short link is fetched as such; other content than articles is
    not fetched at all."""
    if target.kind == "shortlink":
        return target.code
    if target.kind == "article" and (target.old_host or target.language is None):
        return encode_short_code(target.id)
    return None


# A page names its own URL several times (canonical link, og:url, JSON-LD), and pages share their
# topic and image links: both readers below are pure functions of the string, remembered. Sized
# for that nearness: a listed article is now admitted as its request goes out (not thousands
# ahead), and the two caches full at 16,384 entries each were 7.9 MiB of a crawl's peak.
URL_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=URL_CACHE_SIZE)
def parse_url(url: str) -> DwUrl | None:
    """Recognise a dw.com, dw.de, dw-world.de or p.dw.com URL; None for anything else, and for
    an id (or short code) beyond `MAX_CONTENT_ID` or of 0."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    if host in SHORTLINK_HOSTS:
        m = _SHORT_PATH.match(parts.path)
        if not m:
            return None
        code = m["code"]
        if len(code.lstrip("0")) > 9:  # 62**9 > MAX_CONTENT_ID: no need to decode a longer one
            return None
        content_id = decode_short_code(code)
        return DwUrl(kind="shortlink", id=content_id, code=code) if is_content_id(content_id) else None
    if host in OLD_HOSTS:
        m = _OLD_ARTICLE_PATH.search(path)
        if m:
            content_id = _content_id(m["id"])
            return DwUrl(kind="article", id=content_id, old_host=True) if content_id else None
    if host not in DW_HOSTS and host not in OLD_HOSTS:
        return None
    m = _CONTENT_PATH.match(path)
    if not m or m["type"] not in CONTENT_TYPES:
        return None
    lang = m["lang"]
    if lang is not None and lang not in LANGUAGES:
        # `/{slug}/a-{id}` on dw.de has no language; anything else is not a content URL.
        if host in OLD_HOSTS and m["slug"] is None:
            lang, slug = None, lang
        else:
            return None
    else:
        slug = m["slug"]
    content_id = _content_id(m["id"])
    if content_id is None:
        return None
    return DwUrl(kind=CONTENT_TYPES[m["type"]], id=content_id, language=lang, slug=slug,
                 old_host=host in OLD_HOSTS)


# A Wayback Machine capture's address: `/web/{14-digit timestamp}{flag like id_}/{original URL}`.
# Matched on any host (or none: a capture's links are rewritten to `/web/...` paths), since
# pywb-based archives other than web.archive.org use the same form.
_WAYBACK = re.compile(r"^(?:(?:https?:)?//[^/]+)?/web/\d{4,14}(?:[a-z]{2}_)?/"
                      r"(?P<url>(?:https?:/|//|www\.).+)$", re.IGNORECASE)


def unwrapped(url: str) -> str:
    """The original URL inside a web.archive.org (pywb) capture address; any other URL as given.

    `https://web.archive.org/web/20130101000000/http://www.dw.de/x/a-16863843` →
    `http://www.dw.de/x/a-16863843` (an original written without scheme gets `http://`).
    """
    m = _WAYBACK.match(url.strip())
    if not m:
        return url
    original = m["url"]
    if not re.match(r"^https?:/", original, re.IGNORECASE):
        original = "http://" + original.lstrip("/")
    # Wayback may collapse `http://` to `http:/` in its paths.
    return re.sub(r"^(https?):/+", r"\1://", original, flags=re.IGNORECASE)


@functools.lru_cache(maxsize=URL_CACHE_SIZE)
def canonical_url(url: str) -> str:
    """`https://www.dw.com/...`, percent-encoded as DW prints it, without tracking parameters."""
    cleaned = url_query_cleaner(url.strip(), TRACKING_PARAMS, remove=True, keep_fragments=False)
    parts = urlsplit(cleaned)
    host = (parts.hostname or "").lower()
    if host in DW_HOSTS:
        parts = parts._replace(scheme="https", netloc="www.dw.com")
    return safe_url_string(urlunsplit(parts))


def article_url(language: str, slug: str, content_id: int) -> str:
    """The canonical URL of an article from its parts."""
    return canonical_url(f"{WWW}/{language}/{slug}/a-{content_id}")


def is_dw_host(url: str) -> bool:
    """True for any host DW serves content, short links or feeds from."""
    host = (urlsplit(url).hostname or "").lower()
    return host in DW_HOSTS | OLD_HOSTS | SHORTLINK_HOSTS | FEED_HOSTS


_IMAGE_ID = re.compile(r"static\.dw\.com/image/(\d+)_|/image/(\d+)_")


def image_url(image_id: int | str) -> str:
    """DW's stable address of an image, in the 940×529 format (`_6`) its pages share."""
    return f"https://static.dw.com/image/{image_id}_6.jpg"


def image_url_in(text: str | None) -> str | None:
    """The stable image address for the first DW image named in `text` (a src, srcset, URL)."""
    m = _IMAGE_ID.search(text or "")
    return image_url(m.group(1) or m.group(2)) if m else None
