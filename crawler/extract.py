"""Bytes of a DW page in, one `Article` out: a pure function, no Scrapy, no network, no clock.

Sources in order of trust: the JSON-LD `NewsArticle`, the embedded page state
(`__APOLLO_STATE__` / `__APP_STATE__`), the DOM on stable hooks, and the old layout. Pages
are parsed with lexbor (selectolax), about three times as fast as libxml2 on DW's pages.

Run as `python -m crawler.extract PAGE.html [...] [--url URL]` to re-extract saved pages.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime

from selectolax.lexbor import LexborHTMLParser, LexborNode
from w3lib.encoding import html_to_unicode

from crawler import dw
from crawler.items import Article
from crawler.text import clean_text, to_utc

_STATE_MARKERS = ("window.__APP_STATE__", "window.__APOLLO_STATE__")
_IMAGE_ID = re.compile(r"static\.dw\.com/image/(\d+)_|/image/(\d+)_")
# "Image: …", "Bild: …", "Foto: …", "Imagen: …", "Фото: …": a label is one word then a colon.
_CREDIT_LABEL = re.compile(r"^[^\s:：]{1,20}\s*[:：]\s*")
_TITLE_SUFFIX = re.compile(r"\s*(?:\||–|-)\s*DW\s*(?:\||–|-)\s*[\d./-]+\s*$")
_DAY_FORMS = (
    re.compile(r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})$"),
)
_SLASH_DAY = re.compile(r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})$")
_CJK_DAY = re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日$")
# The old layout's byline label in some of DW's languages; rows are also read by position.
_AUTHOR_LABELS = {"author", "authors", "autor", "autorin", "autorin/autor", "autoren", "auteur",
                  "auteurs", "autor/a", "autora", "autores", "автор", "автори", "yazar", "autorka",
                  "مؤلف", "الكاتب", "الكاتبة", "الكاتب/ة", "作者", "लेखक", "mwandishi"}
_JSON = json.JSONDecoder()
_MAX_BLOCKS = 5000  # a page with more body blocks than this is not a news article


class NotAnArticle(Exception):
    """The page is not a DW article; `reason` says why, `id`/`url` say what it was if known."""

    def __init__(self, reason: str, id: int | None = None, url: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.id = id
        self.url = url

    def to_dict(self) -> dict:
        """The failure as a JSON-ready object."""
        return {"id": self.id, "url": self.url, "error": self.reason}


def extract(page: bytes | str, url: str | None = None) -> Article:
    """Extract the article from one DW page; raise `NotAnArticle` when it is none."""
    text = _decode(page)
    doc = LexborHTMLParser(text)
    if doc.root is None:
        raise NotAnArticle("not HTML: nothing to parse", url=url)
    metas = _metas(doc)
    page_url, where = _page_url(doc, metas, url)
    target = dw.parse_url(page_url) if page_url else None
    if target is None:
        if page_url:
            raise NotAnArticle(f"not a DW content page: {where} is {page_url}", url=page_url)
        raise NotAnArticle("not a DW page: no canonical URL (pass --url for a saved page)")
    canonical = dw.canonical_url(page_url)
    if target.kind not in ("article", "live"):
        raise NotAnArticle(f"not an article: {target.kind} page", id=target.id, url=canonical)
    ld = _json_ld(doc)
    state = _page_state(text, target.id)
    article = Article(
        id=target.id,
        url=canonical,
        short_url=dw.short_url(target.id),
        language=target.language or _html_language(doc),
        kind=target.kind,
    )
    _fill_header(article, doc, metas, ld, state)
    _fill_body(article, doc, metas, state)
    if not article.title:
        raise NotAnArticle("no headline found (truncated or not an article page)",
                           id=target.id, url=canonical)
    if not article.body:
        raise NotAnArticle("no article text found (truncated page?)", id=target.id, url=canonical)
    return article


# -- decoding and page identity -------------------------------------------------------------

def _decode(page: bytes | str) -> str:
    if isinstance(page, str):
        text = page
    else:
        if not page.strip():
            raise NotAnArticle("empty page")
        head = page[:4096]
        if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise NotAnArticle("not HTML: binary content")
        try:
            # DW serves UTF-8; bytes that decode as UTF-8 are UTF-8, whatever a header says.
            text = page.decode("utf-8-sig")
        except UnicodeDecodeError:
            _, text = html_to_unicode(None, page)
    if not text.strip():
        raise NotAnArticle("empty page")
    if "<" not in text[:2048]:
        raise NotAnArticle("not HTML: no markup")
    tail = text[-4096:].lower()
    if "</html" not in tail and "</body" not in tail:
        raise NotAnArticle("truncated page: the document ends before </body></html>")
    return text


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


def _page_url(doc, metas: dict, given: str | None) -> tuple[str | None, str]:
    for link in doc.css('link[rel~="canonical"]'):
        href = link.attributes.get("href")
        if href:
            return href.strip(), "canonical link"
    og = metas.get("og:url")
    if og:
        return og, "og:url"
    return given, "given URL"


def _html_language(doc) -> str | None:
    lang = (doc.root.attributes.get("lang") or "").strip().lower().replace("_", "-")
    if lang in dw.LANGUAGES:
        return lang
    base = lang.split("-")[0]
    return base if base in dw.LANGUAGES else None


def _json_ld(doc) -> dict:
    for script in doc.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text() or "")
        except ValueError:
            continue
        for node in _walk_ld(data):
            types = node.get("@type")
            types = types if isinstance(types, list) else [types]
            if any(t in ("NewsArticle", "Article", "ReportageNewsArticle", "LiveBlogPosting")
                   for t in types):
                return node
    return {}


def _walk_ld(data) -> Iterator[dict]:
    if isinstance(data, list):
        for item in data:
            yield from _walk_ld(item)
    elif isinstance(data, dict):
        yield data
        yield from _walk_ld(data.get("@graph", []))


def _page_state(text: str, content_id: int) -> dict:
    """The page's own record in the embedded state, with references resolved one level."""
    start = text.find("window.__APOLLO_STATE__")
    if start >= 0:
        # Apollo's cache is keyed "Type:id": decode that record alone, and others on demand.
        refs = _LazyRecords(text, start)
        for kind in ("Article", "LiveBlog", "Liveblog"):
            record = refs.get(f"{kind}:{content_id}")
            if record:
                return {"record": record, "refs": refs}
    for marker in _STATE_MARKERS:
        start = text.find(marker)
        while start >= 0:
            begin = _skip_ws(text, text.find("=", start) + 1)
            try:
                state, _ = _JSON.raw_decode(text, begin)
            except ValueError:
                state = None
            record = _find_record(state, content_id) if state is not None else None
            if record is not None:
                return {"record": record, "refs": state if isinstance(state, dict) else {}}
            start = text.find(marker, start + len(marker))
    return {}


class _LazyRecords:
    """Top-level records of an Apollo state in the page's text, decoded when first asked for."""

    def __init__(self, text: str, start: int):
        self.text, self.start, self.cache = text, start, {}

    def get(self, key: str, default=None):
        if key not in self.cache:
            needle = json.dumps(key) + ":"
            at = self.text.find(needle, self.start)
            value = None
            if at >= 0:
                try:
                    value = _JSON.raw_decode(self.text, _skip_ws(self.text, at + len(needle)))[0]
                except ValueError:
                    value = None
            self.cache[key] = value
        value = self.cache[key]
        return default if value is None else value


def _skip_ws(code: str, i: int) -> int:
    while i < len(code) and code[i].isspace():
        i += 1
    return i


def _find_record(state, content_id: int, depth: int = 0):
    if depth > 12:
        return None
    if isinstance(state, dict):
        if str(state.get("id")) == str(content_id) and ("text" in state or "title" in state):
            return state
        for value in state.values():
            if isinstance(value, (dict, list)):
                found = _find_record(value, content_id, depth + 1)
                if found is not None:
                    return found
    elif isinstance(state, list):
        for value in state:
            found = _find_record(value, content_id, depth + 1)
            if found is not None:
                return found
    return None


def _ref(state: dict, value):
    if isinstance(value, dict) and "__ref" in value:
        return state.get("refs", {}).get(value["__ref"], {})
    return value


# -- header: title, teaser, dates, people, topics -------------------------------------------

def _fill_header(article: Article, doc, metas: dict, ld: dict, state: dict) -> None:
    record = state.get("record", {})
    header = _first(doc, "article header", "article")
    legacy = _first(doc, 'div[class="col3"]') if header is None else None
    rows = _legacy_rows(doc) if legacy is not None else {}

    h1 = _text(_first(header, "h1")) or _text(_first(legacy, "h1"))
    article.title = _longer(_clean(ld.get("headline")) or _clean(record.get("title")), h1) \
        or _title_from_meta(doc, metas)
    article.teaser = (_clean(record.get("teaser"))
                      or _text(_first(header, ".teaser-text"))
                      or _text(_first(legacy, 'p[class="intro"]'))
                      or _clean(metas.get("og:description") or metas.get("description")))

    article.published_at = (to_utc(ld.get("datePublished"))
                            or to_utc(record.get("firstPublicationDate"))
                            or _day(_text(_first(header, "time")), article.language)
                            or _day(rows.get("date"), article.language)
                            or to_utc(metas.get("date")))
    article.modified_at = to_utc(ld.get("dateModified")) or to_utc(record.get("lastModifiedDate"))

    article.authors = _people(_ld_people(ld) or _state_people(record, state)
                              or _dom_people(header) or _split_names(rows.get("author")))
    article.topics = _unique(_state_topics(record) or _kicker_topics(header)
                             or rows.get("keywords") or _meta_keywords(metas))


def _longer(structured: str | None, shown: str | None) -> str | None:
    """The structured headline, unless it is a shortened form of the one the page shows."""
    if structured and shown and len(shown) > len(structured):
        stem = re.sub(r"[.…\s]+$", "", structured)
        if stem and shown.startswith(stem):
            return shown
    return structured or shown


def _title_from_meta(doc, metas: dict) -> str | None:
    title = metas.get("og:title") or _text(_first(doc, "title"))
    return _clean(_TITLE_SUFFIX.sub("", title)) if title else None


def _ld_people(ld: dict) -> list[str]:
    authors = ld.get("author") or []
    authors = authors if isinstance(authors, list) else [authors]
    return [a.get("name", "") for a in authors
            if isinstance(a, dict) and a.get("@type", "Person") == "Person"]


def _state_people(record: dict, state: dict) -> list[str]:
    names = []
    for person in record.get("persons") or []:
        person = _ref(state, person)
        if isinstance(person, dict) and person.get("personType", "AUTHOR") == "AUTHOR":
            names.append(person.get("fullName") or "")
    return names


def _dom_people(header) -> list[str]:
    box = _first(header, ".author-details")
    if box is None:
        return []
    links = box.css(".author-link, .author")
    if links:
        return [_text(el) for el in links]
    # 2024 markup: each person in a span, the place in a `span.extra-info` beside it.
    names = []
    for span in _children(box, "span"):
        names.append(_clean("".join(_own_text(span, skip_class="extra-info"))))
    return names


def _split_names(value: str | None) -> list[str]:
    if not value:
        return []
    return re.split(r"\s*(?:,|/|&|\band\b|\bund\b)\s*", value)


def _people(names: list[str]) -> list[str]:
    people = []
    for name in names:
        name = _clean(name)
        if not name or not dw.is_person(name):
            continue
        if name not in people:
            people.append(name)
    return people


def _state_topics(record: dict) -> list[str]:
    topics = []
    category = record.get("thematicFocusCategory")
    if isinstance(category, dict) and category.get("name"):
        topics.append(category["name"])
    for key, value in record.items():
        if key.startswith("regions(") and isinstance(value, list):
            topics += [r.get("alignedName") for r in value if isinstance(r, dict)]
    return [t for t in (_clean(t) for t in topics) if t]


def _kicker_topics(header) -> list[str]:
    kicker = _first(header, '[data-tracking-name="content-detail-kicker"]')
    if kicker is None:
        return []
    items = _children(kicker, "span") or kicker.css("a")
    return [t for t in (_text(el) for el in items) if t]


def _meta_keywords(metas: dict) -> list[str]:
    value = metas.get("keywords") or metas.get("news_keywords") or ""
    return [k.strip() for k in value.split(",") if k.strip()]


def _legacy_rows(doc) -> dict:
    """The old layout's `ul.smallList`, read by structure since its labels are localised."""
    rows: dict = {}
    for li in doc.css('ul[class="smallList"] > li'):
        label = _text(_first(li, "strong")) or ""
        links = li.css("a")
        value = _clean(" ".join(node.text() for node in li.iter(include_text=True) if node.tag == "-text"))
        if any("/search/" in (a.attributes.get("href") or "") for a in links):
            rows["keywords"] = [t for t in (_text(a) for a in links) if t]
        elif value and "p.dw.com" in value:
            rows["permalink"] = value
        elif value and not links and "date" not in rows and _day(value, None):
            rows["date"] = value
        elif value and not links and "author" not in rows and (
                label.rstrip(":").casefold() in _AUTHOR_LABELS or ("date" in rows and label)):
            rows["author"] = value
    return rows


# -- body: paragraphs, subheads, images, credit line ----------------------------------------

def _fill_body(article: Article, doc, metas: dict, state: dict) -> None:
    container = _first(doc, '[data-tracking-name="rich-text"]', "article .rich-text")
    legacy = container is None and _first(doc, 'div[class="longText"]') is not None
    if container is None:
        html = state.get("record", {}).get("text")
        if html:
            container = LexborHTMLParser(html).body
        else:
            container = _first(doc, 'div[class="longText"]')
    images = _lead_images(doc, metas, state, legacy)
    blocks: list[tuple[str, str]] = []
    if container is not None:
        for kind, value in _blocks(container):
            if kind == "image":
                images.append(value)
            else:
                blocks.append((kind, value))
            if len(blocks) > _MAX_BLOCKS:
                break
    _take_credit_line(article, blocks)
    article.subheads = [text for kind, text in blocks if kind == "subhead"]
    article.body = "\n\n".join(text for _, text in blocks)
    article.images = images


def _blocks(container) -> Iterator[tuple[str, object]]:
    for el in container.iter():
        tag = el.tag
        classes = f" {el.attributes.get('class') or ''} "
        if tag == "p":
            text = _text(el)
            if text:
                yield "paragraph", text
        elif tag in ("h2", "h3", "h4"):
            text = _text(el)
            if text:
                yield "subhead", text
        elif tag == "figure" or " picBox " in classes:
            image = _image(el)
            if image:
                yield "image", image
        elif tag in ("ul", "ol"):
            for li in _children(el, "li"):
                text = _text(li)
                if text:
                    yield "paragraph", text
        elif tag == "blockquote" and not el.attributes.get("data-id"):
            text = _text(el)
            if text:
                yield "paragraph", text
        elif tag == "div" and " advertisement " not in classes and _children(el, "p"):
            yield from _blocks(el)


def _lead_images(doc, metas: dict, state: dict, legacy: bool) -> list[dict]:
    if legacy:
        box = _first(doc, 'div[class="col3"] > div.picBox')
        image = _image(box) if box is not None else None
        return [image] if image and image["caption"] else []
    for figure in doc.css("article figure"):
        if figure.css_first("figcaption") is None or _inside_body_or_footer(figure):
            continue
        image = _image(figure)
        if image:
            return [_lead_url(image, metas)]
    record = state.get("record", {})
    link = _ref(state, record.get("mainContentImageLink"))
    if isinstance(link, dict) and link.get("targetId"):
        target = _ref(state, link.get("target")) or {}
        return [{"url": dw_image_url(link["targetId"]),
                 "caption": _clean(link.get("description")),
                 "credit": _clean(target.get("licenserSupplement"))}]
    return []


def _inside_body_or_footer(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag == "footer" or parent.attributes.get("data-tracking-name") == "rich-text":
            return True
        parent = parent.parent
    return False


def _lead_url(image: dict, metas: dict) -> dict:
    if image["url"] is None:
        og = metas.get("og:image")
        image["url"] = _image_url(og) if og else None
    return image


def _image(el) -> dict | None:
    caption_el = _first(el, "figcaption") or _first_child(el, "p")
    caption = credit = None
    if caption_el is not None:
        credit = _text(_first(caption_el, "small"))
        caption = _clean("".join(_own_text(caption_el, skip_tag="small")))
    if credit:
        credit = _clean(_CREDIT_LABEL.sub("", credit, count=1))
    url = None
    for img in el.css("img, source"):
        attributes = img.attributes
        url = _image_url(" ".join(filter(None, (attributes.get("data-url"), attributes.get("src"),
                                                 attributes.get("srcset")))))
        if url:
            break
    if not (url or caption or credit):
        return None
    return {"url": url, "caption": caption or None, "credit": credit or None}


def dw_image_url(image_id: int | str) -> str:
    """DW's stable address of an image, in the 940×529 format its pages share."""
    return f"https://static.dw.com/image/{image_id}_6.jpg"


def _image_url(value: str) -> str | None:
    m = _IMAGE_ID.search(value or "")
    return dw_image_url(m.group(1) or m.group(2)) if m else None


def _take_credit_line(article: Article, blocks: list[tuple[str, str]]) -> None:
    if not blocks or blocks[-1][0] != "paragraph":
        return
    parsed = dw.parse_credit_line(blocks[-1][1])
    if parsed is None:
        return
    article.credit_line = blocks.pop()[1]
    article.agencies = parsed[0]


# -- small helpers ---------------------------------------------------------------------------

def _first(node, *selectors: str):
    """The first node the first matching selector finds under `node`, or None."""
    if node is None:
        return None
    for selector in selectors:
        found = node.css_first(selector)
        if found is not None:
            return found
    return None


def _children(node, tag: str) -> list:
    """Direct element children of `node` with this tag."""
    return [child for child in node.iter() if child.tag == tag]


def _first_child(node, tag: str):
    return next((child for child in node.iter() if child.tag == tag), None)


def _own_text(node, skip_tag: str | None = None, skip_class: str | None = None) -> Iterator[str]:
    """The text under `node`, leaving out the subtrees of one tag or one class."""
    for child in node.iter(include_text=True):
        if child.tag == "-text":
            yield child.text()
        elif child.tag == skip_tag or (skip_class and skip_class in
                                       (child.attributes.get("class") or "").split()):
            continue
        else:
            yield from _own_text(child, skip_tag, skip_class)


_clean = clean_text


def _text(el) -> str | None:
    if el is None:
        return None
    return _clean(el.text(deep=True, separator=""))


def _unique(items) -> list[str]:
    out: list[str] = []
    for item in items or []:
        item = _clean(item)
        if item and item not in out:
            out.append(item)
    return out


def _day(value: str | None, language: str | None) -> str | None:
    """A day printed on the page (`30.01.2024`, `06/14/2026`) as `YYYY-MM-DD`."""
    value = _clean(value)
    if not value:
        return None
    for form in (*_DAY_FORMS, _CJK_DAY):
        m = form.match(value)
        if m:
            return _valid_day(int(m["y"]), int(m["m"]), int(m["d"]))
    m = _SLASH_DAY.match(value)
    if m:
        a, b, year = int(m["a"]), int(m["b"]), int(m["y"])
        # English pages print month/day; the others day/month. A part over 12 settles it.
        month_first = (language == "en" and a <= 12) or b > 12
        return _valid_day(year, a, b) if month_first else _valid_day(year, b, a)
    return None


def _valid_day(year: int, month: int, day: int) -> str | None:
    try:
        return datetime(year, month, day).strftime("%Y-%m-%d")
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Print one JSON object per page; exit 1 if any page is not an article."""
    parser = argparse.ArgumentParser(prog="python -m crawler.extract", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="saved DW pages")
    parser.add_argument("--url", help="the page's URL, for a page saved without its canonical link")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.paths:
        try:
            with open(path, "rb") as handle:
                result = extract(handle.read(), url=args.url).to_dict()
        except NotAnArticle as exc:
            result = exc.to_dict()
        except OSError as exc:
            result = {"id": None, "url": None, "error": f"cannot read {path}: {exc.strerror}"}
        if "error" in result:
            failed += 1
            result["path"] = path
        print(json.dumps(result, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
