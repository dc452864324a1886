"""Source: DW's old layout (until mid-2023, still served by web archives).

`div.col3` holds the `h1` and `p.intro`, `div.longText` the body, `div.picBox` the figures, and
a `ul.smallList` labelled rows (Date/Datum, Author/Autorin/Autor, Keywords/Schlagwörter,
Permalink). The labels are localised, so rows are also read by what they hold: a row's value
becomes the byline only when it reads as people, never when it is a date, a place or a desk.

Inside `div.longText` the old layout set cross-links to other stories as blocks of their own:
`<p><strong>Read more: </strong><a href="/en/…/a-123">Title</a></p>`, several in one paragraph
(`<br>` between them), the label in one paragraph and the links in the next or in a list,
"Lesen Sie auch:", "Leia também:", "اقرأ أيضا", "ተጨማሪ ያንብቡ፦" and so on in every language. A
block is DW's fixed label (`READ_MORE`) and links to DW content, with nothing else outside the
links but separators of any script, conjunctions and dates (`cross_links`). They are links, not
the article's words: left out of the body, and kept as the article's `related` URLs. A label
DW does not print ("Scholz said:", "Update:", "Important:") is text, and so is its link.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urljoin

from crawler import dw
from crawler.dates import printed_day
from crawler.dw.credits import CREDIT_LABEL_COLONS
from crawler.extract.body import image, read_body
from crawler.extract.nodes import first, text
from crawler.extract.page import Page
from crawler.text import clean_text

# Row labels in some of DW's languages, compared case-folded without a trailing colon.
_AUTHOR_LABELS = {"yazar", "مؤلف", "الكاتب", "الكاتبة", "الكاتب/ة", "作者", "लेखक", "mwandishi",
                  "penulis", "marubuci", "szerző", "συντάκτης", "نویسنده", "লেখক", "ደራሲ"}
# "Author", "Autor", "Autorin", "Autori", "Auteur", "Autore", "Автор", "Аутор", ...
_AUTHOR_STEMS = ("aut", "авт", "аут")
_OTHER_LABELS = {
    # dates
    "date", "datum", "fecha", "data", "дата", "tarih", "التاريخ", "日期", "तारीख", "tarehe",
    "updated", "aktualisiert", "last update", "letzte aktualisierung", "actualizado", "mis à jour",
    # places
    "place", "location", "ort", "lieu", "lugar", "local", "место", "miejsce", "yer", "المكان",
    "地点", "mahali", "dateline",
    # desks
    "desk", "redaktion", "editor", "editors", "ressort", "rubrik", "department", "section",
    "redacción", "rédaction", "redação", "редакция",
}  # fmt: skip
# The keywords row, which some pages print without links.
_KEYWORD_LABELS = {"keywords", "schlagwörter", "palabras clave", "mots-clés", "palavras-chave",
                   "ключевые слова", "ключові слова", "anahtar kelimeler", "słowa kluczowe",
                   "كلمات مفتاحية", "关键词", "fjalë kyçe", "кључне речи", "parole chiave"}
_NAME_SPLIT = re.compile(r"\s*(?:,|/|&|\band\b|\bund\b)\s*")
# Scripts written without spaces between names (Chinese, Japanese, Korean).
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _name_shaped(name: str) -> bool:
    """A person's byline as DW prints one: not a date, desk or agency, and two words or more
    (a lone word in such a row is a place: `Kiew`, `Bonn`) unless the script uses no spaces."""
    return dw.is_person(name) and (len(name.split()) >= 2 or bool(_UNSPACED.search(name)))


def _names(value: str, by_label: bool) -> list[str]:
    names = [n for n in (clean_text(part) for part in _NAME_SPLIT.split(value)) if n]
    shaped = [n for n in names if _name_shaped(n)]
    # Under an author label a lone-word byline is kept when nothing in the row is name-shaped.
    return shaped or ([n for n in names if dw.is_person(n)] if by_label else [])


def _is_author_label(label: str) -> bool:
    return label in _AUTHOR_LABELS or label.startswith(_AUTHOR_STEMS)


def _rows(doc, language: str | None) -> dict:
    """The `ul.smallList` rows: date, author (names), keywords, permalink.

    A row labelled as the byline wins; failing that, the first row after the date whose value
    reads as people (by position, for labels in languages not listed here)."""
    rows: dict = {}
    by_position = None
    for li in doc.css('ul[class="smallList"] > li'):
        label = (text(first(li, "strong")) or "").rstrip(":：").strip().casefold()
        links = li.css("a")
        value = clean_text(" ".join(n.text() for n in li.iter(include_text=True) if n.tag == "-text"))
        if any("/search/" in (a.attributes.get("href") or "") for a in links):
            rows["keywords"] = [t for t in (text(a) for a in links) if t]
        elif label in _KEYWORD_LABELS and value and not links:
            rows["keywords"] = [k for k in (clean_text(k) for k in value.split(",")) if k]
        elif not value or links:
            continue
        elif "p.dw.com" in value:
            rows["permalink"] = value
        elif "date" not in rows and printed_day(value, language):
            rows["date"] = value
        elif "author" in rows or label in _OTHER_LABELS:
            continue
        elif _is_author_label(label):
            rows["author"] = _names(value, by_label=True) or None
            if rows["author"] is None:
                del rows["author"]
        elif label and "date" in rows and by_position is None:
            by_position = _names(value, by_label=False) or None
    if "author" not in rows and by_position:
        rows["author"] = by_position
    return rows


# Labels of DW's cross-link paragraphs in its languages, case-folded, without the colon.
READ_MORE = frozenset({
    "read more", "read also", "also read", "related", "see also", "more on this", "more on the topic",
    "mehr zum thema", "lesen sie auch", "lesen sie mehr", "mehr dazu", "auch interessant", "weiterlesen",
    "siehe auch", "lea también", "lee también", "leer más", "lea más", "más información", "leia também",
    "leia mais", "saiba mais", "lire aussi", "à lire aussi", "lire également", "читайте также",
    "читайте еще", "читайте ещё", "читайте також", "читайте більше", "czytaj także", "czytaj też",
    "czytaj więcej", "przeczytaj także", "ayrıca okuyun", "bunu da okuyun", "okuyun", "daha fazla oku",
    "اقرأ أيضا", "اقرأ أيضاً", "إقرأ أيضا", "إقرأ أيضاً", "اقرأ المزيد", "بیشتر بخوانید",
    "همچنین بخوانید", "بیشتر بخوانيد", "延伸阅读", "延伸閱讀", "相关阅读", "相關閱讀", "阅读更多",
    "baca juga", "soma pia", "soma zaidi", "karanta", "karanta kuma", "यह भी पढ़ें", "इसे भी पढ़ें",
    "और पढ़ें", "یہ بھی پڑھیے", "یہ بھی پڑھیں", "مزید پڑھیے", "আরো পড়ুন", "আরও পড়ুন", "διαβάστε επίσης",
    "διαβάστε ακόμη", "citiți și", "citiţi şi", "citește și", "pročitajte još", "pročitajte i",
    "pročitajte više", "прочитајте још", "прочитајте и", "прочитајте повеќе", "прочетете още",
    "прочетете също", "още по темата", "lexoni edhe", "lexo edhe", "lexoni më shumë", "ተጨማሪ ያንብቡ",
    "نور ولولئ", "دا هم ولولئ",
    # the old layout's links to a video or audio item
    "watch video", "video ansehen", "listen to audio", "audio anhören",
})  # fmt: skip
# Words that may stand between the links of one cross-link paragraph ("A, B and C").
_CONJUNCTIONS = frozenset({"and", "und", "y", "e", "et", "и", "і", "i", "ve", "و", "oraz", "și",
                           "şi", "dhe", "na", "da", "और", "এবং", "和", "及", "και", "ou", "or", "oder"})


class _Separators(dict):
    """str.translate's table: every character of categories P, S, Z, C to a space, the rest
    kept; filled as characters are met (a table of every code point would cost its import)."""

    def __missing__(self, code: int):
        char = chr(code)
        value = self[code] = " " if unicodedata.category(char)[0] in "PSZC" else char
        return value


_SEPARATORS = _Separators()
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # an ASCII letter or digit is L or N; all else P, S, Z, C


def _words(text: str) -> list[str]:
    """The words of a piece of text, case-folded: punctuation, symbols (arrows, `»`, `>>`),
    spaces and controls of every script are separators (`:`, `：`, `፦`, `、`, `-`, `–`, `،`)."""
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    return text.translate(_SEPARATORS).casefold().split()


def _decoration(words: list[str]) -> bool:
    """Nothing but what stands between cross-links: separators (gone already), conjunctions and
    numbers (a date after a headline, a video's duration)."""
    return all(word in _CONJUNCTIONS or word.isdigit() for word in words)


def _segments(node) -> tuple[list[str], list]:
    """The text of `node` outside its links, cut at each link (so `["Read more: ", " | ", ""]` for
    `Read more: <a>A</a> | <a>B</a>`), and the links."""
    segments, links, current = [], [], []

    def walk(element):
        for child in element.iter(include_text=True):
            if child.tag == "a":
                segments.append("".join(current))
                current.clear()
                links.append(child)
            elif child.tag == "-text":
                current.append(child.text_content or "")
            elif child.tag not in ("script", "style", "-comment"):
                walk(child)

    walk(node)
    segments.append("".join(current))
    return segments, links


def _to_dw(links: list) -> list[str] | None:
    """The canonical URLs of links that all lead to DW content; None when one leads elsewhere."""
    urls = []
    for link in links:
        href = (link.attributes.get("href") or "").strip()
        url = urljoin(dw.WWW + "/", href) if href else ""
        if not url or dw.parse_url(url) is None:
            return None
        urls.append(dw.canonical_url(url))
    return urls


def _is_label(words: list[str]) -> bool:
    return " ".join(words) in READ_MORE


def cross_links(node) -> list[str] | None:
    """The DW URLs a cross-link block (see the module doc) links to, or None when `node` is text.

    A cross-link block holds links to DW content and, outside them, nothing but DW's labels
    (`READ_MORE`: "Read more:", "Mehr zum Thema:", "اقرأ أيضا", in every language DW writes)
    and what separates entries: punctuation and symbols of any script, line breaks,
    conjunctions, a date or duration. At least one label stands before the links, or the one
    link's own text begins with one. A sentence around a link ("Scholz said: <a>…</a>", "Update:
    <a>…</a>", "Mehr zum Thema Renten: <a>…</a>") is text, whatever its length.
    """
    return _cross_links(*_segments(node))


def _cross_links(segments: list[str], links: list) -> list[str] | None:
    """`cross_links` of a node's segments and links (`_segments`): the text outside the links
    is read first, since it rules out a paragraph of text at once; the links' URLs after."""
    if not links:
        return None
    labels = 0
    for segment in segments:
        words = _words(segment)
        if _is_label(words):
            labels += 1
        elif not _decoration(words):
            return None
    urls = _to_dw(links)
    if not urls:
        return None
    if labels:
        return urls
    # Only links: one whose own text begins with a label, `<a>Read more: What the operators get</a>`.
    first = links[0].text(deep=True)
    head = re.split(f"[{CREDIT_LABEL_COLONS}]", first, maxsplit=1)
    return urls if len(links) == 1 and len(head) == 2 and _is_label(_words(head[0])) else None


# ASCII letters and digits (each is a word character of `_words`), as bytes for bytes.translate.
_ASCII_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LONGEST_LABEL = max(map(len, READ_MORE))


def _label_only(segments: list[str], links: list) -> bool:
    """A paragraph (its `_segments`) holding nothing but a cross-link label
    (`<p><b>Read more:</b></p>`)."""
    if links:
        return False
    # More ASCII letters and digits than the longest label has characters: a paragraph of text
    # (its words, case-folded and joined, are at least that long), not read word by word.
    data = segments[0].encode("utf-8", "surrogatepass")
    if len(data) - len(data.translate(None, _ASCII_ALNUM)) > _LONGEST_LABEL:
        return False
    return _is_label(_words(segments[0]))


def _link_block(node) -> list[str] | None:
    """The DW URLs of an element holding only links to DW content, apart from what may separate
    them (a `<p>` or a list after a label paragraph); None otherwise."""
    segments, links = _segments(node)
    urls = _to_dw(links) if links else None
    return urls if urls and all(_decoration(_words(segment)) for segment in segments) else None


def _next_element(node):
    sibling = node.next
    while sibling is not None and (sibling.tag == "-comment" or (
            sibling.tag == "-text" and not (sibling.text_content or "").strip())):
        sibling = sibling.next
    return sibling


def is_cross_link(paragraph) -> bool:
    """True for a "Read more: <a>…</a>" paragraph (`cross_links`)."""
    return cross_links(paragraph) is not None


def remove_cross_links(container) -> list[str]:
    """Take the cross-link blocks out of a body container; the DW URLs they link to, in page
    order, once each. A block is a paragraph (`cross_links`), or a paragraph holding only a
    label followed by a paragraph or list holding only links."""
    related: list[str] = []
    doomed: list = []
    taken: set[int] = set()
    for paragraph in container.css("p"):
        if paragraph.mem_id in taken:  # the links of a label paragraph before it
            continue
        segments, links = _segments(paragraph)  # walked once for both tests
        urls = _cross_links(segments, links)
        block = [paragraph]
        if urls is None and _label_only(segments, links):
            following = _next_element(paragraph)
            if following is not None and following.tag in ("p", "ul", "ol", "div"):
                urls = _link_block(following)
                block.append(following)
        if urls is not None:
            doomed += block
            taken.update(node.mem_id for node in block)
            related += [url for url in urls if url not in related]
    for node in doomed:  # after the walk: a node taken out is never visited again
        node.decompose()
    return related


def read(page: Page) -> dict:
    """title, teaser, published_at (a day), authors, topics and tags (the keywords), lead_image,
    the body fields, and `related`: the DW URLs its cross-links lead to."""
    doc = page.doc
    column = first(doc, 'div[class="col3"]')
    rows = _rows(doc, page.language)
    keywords = rows.get("keywords", [])
    found = {"title": text(first(column, "h1")), "teaser": text(first(column, 'p[class="intro"]')),
             "published_at": printed_day(rows.get("date"), page.language),
             "authors": rows.get("author", []), "topics": keywords, "tags": keywords, "tag_ids": []}
    box = first(doc, 'div[class="col3"] > div.picBox')
    lead = image(box) if box is not None else None
    if lead and lead["caption"]:
        found["lead_image"] = lead
    container = first(doc, 'div[class="longText"]')
    if container is not None:
        found["related"] = remove_cross_links(container)
        found |= read_body(container, page.warnings)
    return {name: value for name, value in found.items() if value}
