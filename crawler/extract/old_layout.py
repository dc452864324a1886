"""Source: DW's old layout (until mid-2023, still served by web archives).

`div.col3` holds the `h1` and `p.intro`, `div.longText` the body, `div.picBox` the figures, and
a `ul.smallList` labelled rows (Date/Datum, Author/Autorin/Autor, Keywords/Schlagwörter,
Permalink). The labels are localised, so rows are also read by what they hold: a row's value
becomes the byline only when it reads as people, never when it is a date, a place or a desk.

Inside `div.longText` the old layout set cross-links to other stories as paragraphs of their
own: `<p><strong>Read more: </strong><a href="/en/…/a-123">Title</a></p>`, "Lesen Sie auch:",
"Leia também:", "اقرأ أيضا:" and so on in every language. They are links, not the article's
words, and are left out of the body: a paragraph is one when all it holds besides links to DW
pages is a short label ending in a colon (at most five words), or a label DW prints
(`READ_MORE`) with or without one; or when it is one such link whose own text begins with that
label.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from crawler import dw
from crawler.dates import printed_day
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
    "czytaj więcej", "przeczytaj także", "ayrıca okuyun", "bunu da okuyun", "daha fazla oku",
    "اقرأ أيضا", "اقرأ أيضاً", "إقرأ أيضا", "إقرأ أيضاً", "اقرأ المزيد", "بیشتر بخوانید",
    "همچنین بخوانید", "بیشتر بخوانيد", "延伸阅读", "延伸閱讀", "相关阅读", "相關閱讀", "阅读更多",
    "baca juga", "soma pia", "soma zaidi", "karanta", "यह भी पढ़ें", "इसे भी पढ़ें", "और पढ़ें",
    "یہ بھی پڑھیے", "یہ بھی پڑھیں", "مزید پڑھیے", "আরো পড়ুন", "আরও পড়ুন", "διαβάστε επίσης",
    "διαβάστε ακόμη", "citiți și", "citiţi şi", "citește și", "pročitajte još", "pročitajte i",
    "pročitajte više", "прочитајте још", "прочитајте и", "прочитајте повеќе", "прочетете още",
    "прочетете също", "още по темата", "lexoni edhe", "lexo edhe", "lexoni më shumë", "ተጨማሪ ያንብቡ",
    "نور ولولئ", "دا هم ولولئ",
})  # fmt: skip
_LABEL = re.compile(r"^(?P<label>[^:：]{1,40}?)\s*[:：]\s*(?P<rest>.*)$", re.DOTALL)
# What may stand between the links of one cross-link paragraph.
_BETWEEN_LINKS = re.compile(r"[\s|,;/•·–—+]+|\b(?:and|und|y|e|et|и|і|i|ve|و)\b")


def _links_to_dw(paragraph) -> list:
    links = paragraph.css("a")
    for link in links:
        href = (link.attributes.get("href") or "").strip()
        if not href or dw.parse_url(urljoin(dw.WWW + "/", href)) is None:
            return []
    return links


def _label(text: str) -> str | None:
    """The label a cross-link paragraph's own text makes, or None when that text is more."""
    text = " ".join(text.split())
    m = _LABEL.match(text)
    if m and not _BETWEEN_LINKS.sub("", m["rest"]) and len(m["label"].split()) <= 5:
        return m["label"]
    bare = _BETWEEN_LINKS.sub(" ", text).strip(" .…»>→").casefold()
    return bare if bare in READ_MORE else None


def _in_link(node, paragraph) -> bool:
    top = paragraph.mem_id
    node = node.parent
    while node is not None and node.mem_id != top:
        if node.tag == "a":
            return True
        node = node.parent
    return False


def is_cross_link(paragraph) -> bool:
    """True for a "Read more: <a>…</a>" paragraph (see the module doc)."""
    links = _links_to_dw(paragraph)
    if not links:
        return False
    own = "".join(node.text_content or "" for node in paragraph.traverse(include_text=True)
                  if node.tag == "-text" and not _in_link(node, paragraph))
    if own.strip():
        return _label(own) is not None
    first = " ".join(links[0].text(deep=True).split())
    m = _LABEL.match(first)
    return len(links) == 1 and m is not None and m["label"].casefold() in READ_MORE


def read(page: Page) -> dict:
    """title, teaser, published_at (a day), authors, topics and tags (the keywords), lead_image
    and the body fields."""
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
        for paragraph in container.css("p"):
            if is_cross_link(paragraph):
                paragraph.decompose()
        found |= read_body(container, page.warnings)
    return {name: value for name, value in found.items() if value}
