"""The stored text is the page's text, in every script DW writes: generated DW-style pages (hypothesis)
through the real extractor, and the bugs' pages (../shared/bugs/16, 18) through a real crawl.

What is checked: every word of the headline, teaser and body is stored, NFC, with the same word
boundaries (markup inside a word joins nothing apart, markup between words splits nothing
together) and the same line boundaries (paragraphs as blank lines, a `<br>` or a nested block
inside one as a line break); ZWNJ and ZWJ stay; nothing is cut without a `body_truncated`
warning, its stat and a run that is not "ok".
"""

from __future__ import annotations

import html
import json
import unicodedata
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import body as body_module
from crawler.extract import extract
from tests.conftest import ROOT
from tests.crawling import last_run, query, served

SHARED = ROOT.parent / "shared"

# Letters of every script DW publishes in (its 31 languages), with the marks and joiners that
# belong inside their words: a generated word is 1-8 letters of one script.
SCRIPTS = {
    "latin": "abcdefghijklmnopqrstuvwxyzäöüßéèçãõñłøæđşğıİčšžăâîțșëɓɗƙƴ",
    "cyrillic": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґђћџљњѓќѕ",
    "greek": "αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐ",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآةىؤئ\u064e\u064f\u0650\u0651\u0652",
    "perso-arabic": "پچژگکیۀےہھٹڈڑںګښږځڅېۍ\u200c",
    "devanagari": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह"
                  "\u093e\u093f\u0940\u0941\u0942\u0947\u0948\u094b\u094c\u094d\u0902\u093c",
    "bengali": "কখগঘচছজঝটঠডঢণতথদধনপফবভমযরলশষসহড়য়\u09be\u09bf\u09c0\u09c1\u09c7\u09cb\u09cd\u0982\u200d",
    "ethiopic": "ሀለሐመሠረሰሸቀበተቸኀነኘአከኸወዐዘዠየደጀገጠጨጰጸፀፈፐ",
    "han": "德国國总總理默茨周週三抵达達北京与與中华華习習近平关關税稅特斯拉的是了在人有",
    "hangul": "서울에도쿄한국대통령선거",
    "digits": "0123456789٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹",
}
_JOINERS = "\u200c\u200d"


@st.composite
def words(draw) -> str:
    letters = SCRIPTS[draw(st.sampled_from(sorted(SCRIPTS)))]
    word = draw(st.text(alphabet=letters, min_size=1, max_size=8))
    word = word.strip(_JOINERS) or "x"  # a joiner belongs between letters
    return unicodedata.normalize("NFC", word)


INLINE = ("b", "strong", "em", "i", "span", "a", "sup", "small")


@st.composite
def marked_up_word(draw, word: str) -> str:
    """A word as HTML: plain, wrapped in inline markup, or split by inline markup inside it."""
    kind = draw(st.sampled_from(["plain", "wrapped", "split"]))
    tag = draw(st.sampled_from(INLINE))
    attrs = ' href="/en/x/a-1"' if tag == "a" else ""
    if kind == "wrapped":
        return f"<{tag}{attrs}>{html.escape(word)}</{tag}>"
    if kind == "split" and len(word) > 1:
        cut = draw(st.integers(1, len(word) - 1))
        return f"<{tag}{attrs}>{html.escape(word[:cut])}</{tag}>{html.escape(word[cut:])}"
    return html.escape(word)


# Whitespace between two words as pages write it: all of it is one space in the stored text.
SPACES = (" ", "  ", "\n", "\n    ", "&nbsp;", "\u00a0 ", "\t", " \u200b")


@st.composite
def line(draw) -> tuple[str, str]:
    """(HTML, stored text) of a run of words on one line."""
    found = draw(st.lists(words(), min_size=1, max_size=12))
    parts = []
    for n, word in enumerate(found):
        if n:
            parts.append(draw(st.sampled_from(SPACES)))
        parts.append(draw(marked_up_word(word)))
    return "".join(parts), " ".join(found)


@dataclass
class Block:
    """A generated piece of a body: its HTML, the paragraphs it stores (a subhead is one), the
    captions of the pictures it shows, and whether it begins or ends with bare text (text
    standing directly in the body container: two such runs side by side are one)."""

    html: str
    paragraphs: list[str]
    captions: list[str] = field(default_factory=list)
    starts_bare: bool = False
    ends_bare: bool = False
    shown: bool = True  # False: nothing a reader sees (scripts, styles, comments): no boundary


@st.composite
def lines_of(draw, most: int = 3) -> tuple[str, str]:
    """(HTML, stored text) of one to `most` lines, `<br>` between them."""
    found = draw(st.lists(line(), min_size=1, max_size=most))
    breaks = draw(st.sampled_from(["<br>", "<br/>", "<br>\n", " <br> "]))
    return breaks.join(h for h, _ in found), "\n".join(t for _, t in found)


# Whitespace inside a line of preformatted text (a line break there is one).
PRE_SPACES = (" ", "  ", "&nbsp;", "\t")


@st.composite
def block(draw) -> Block:
    """One piece of a body, in any of the markups DW's editors and the HTML parser produce:
    paragraphs with line breaks, subheads of any level, lists, quotes, tables, definition
    lists, preformatted text, `div`s of text or of blocks, sections, asides, details, centred
    text, addresses, bare text and inline elements in the container, a `<p>` the parser splits at
    a block inside it, pull-quotes, pictures with captions, ad slots and scripts."""
    kind = draw(st.sampled_from([
        "p", "heading", "li", "blockquote", "div_p", "table", "div_text", "nested", "div_ul", "dl",
        "pre", "center", "address", "bare", "p_split", "pullquote", "picture", "ad", "script",
        "details"]))
    html_, text = draw(lines_of())
    if kind == "p":
        return Block(f"<p>{html_}</p>", [text])
    if kind == "heading":
        level = draw(st.integers(1, 6))
        single, stored = draw(line())
        return Block(f"<h{level}>{single}</h{level}>", [stored])
    if kind == "li":
        items = draw(st.lists(lines_of(), min_size=1, max_size=3))
        tag = draw(st.sampled_from(["ul", "ol"]))
        return Block(f"<{tag}>" + "".join(f"<li>{h}</li>" for h, _ in items) + f"</{tag}>",
                     [t for _, t in items])
    if kind == "blockquote":
        found = draw(st.lists(line(), min_size=1, max_size=3))
        return Block("<blockquote>" + "".join(f"<p>{h}</p>" for h, _ in found) + "</blockquote>",
                     ["\n".join(t for _, t in found)])
    if kind == "div_p":
        return Block(f"<div><p>{html_}</p></div>", [text])
    if kind == "table":
        rows = draw(st.lists(st.lists(lines_of(2), min_size=1, max_size=3), min_size=1, max_size=3))
        cell = draw(st.sampled_from(["td", "th"]))
        table = "<table>" + "".join("<tr>" + "".join(f"<{cell}>{h}</{cell}>" for h, _ in row) + "</tr>"
                                    for row in rows) + "</table>"
        if draw(st.booleans()):
            table = f'<div class="table-wrapper">{table}</div>'
        return Block(table, ["\n".join(t for _, t in row) for row in rows])
    if kind == "div_text":
        return Block(f"<div>{html_}</div>", [text])
    if kind == "nested":
        # (no `<article>`: one in the old layout's body would make it a page of the current layout)
        outer = draw(st.sampled_from(["section", "aside", "div"]))
        inner = draw(st.lists(lines_of(), min_size=1, max_size=3))
        return Block(f"<{outer}><div>" + "".join(f"<p>{h}</p>" for h, _ in inner) + f"</div></{outer}>",
                     [t for _, t in inner])
    if kind == "div_ul":
        items = draw(st.lists(lines_of(), min_size=1, max_size=3))
        return Block('<div class="list"><ul>' + "".join(f"<li>{h}</li>" for h, _ in items) + "</ul></div>",
                     [t for _, t in items])
    if kind == "dl":
        term, definition = draw(lines_of()), draw(lines_of())
        return Block(f"<dl><dt>{term[0]}</dt><dd>{definition[0]}</dd></dl>", [term[1], definition[1]])
    if kind == "pre":
        found = draw(st.lists(st.lists(words(), min_size=1, max_size=6), min_size=1, max_size=3))
        rows = [draw(st.sampled_from(PRE_SPACES)).join(html.escape(w) for w in row) for row in found]
        return Block("<pre>" + "\n".join(rows) + "</pre>", ["\n".join(" ".join(row) for row in found)])
    if kind in ("center", "address"):
        return Block(f"<{kind}>{html_}</{kind}>", [text])
    if kind == "bare":
        return Block(html_, [text], starts_bare=True, ends_bare=True)
    if kind == "p_split":  # the parser closes the <p> at the <div>: three paragraphs
        (a, a_text), (b, b_text), (c, c_text) = draw(line()), draw(line()), draw(line())
        return Block(f"<p>{a}<div>{b}</div>{c}</p>", [a_text, b_text, c_text], ends_bare=True)
    if kind == "pullquote":
        who, who_text = draw(line())
        return Block(f"<figure><blockquote>{html_}</blockquote><figcaption>{who}</figcaption></figure>",
                     [text, who_text])
    if kind == "picture":  # a `<small>` in a caption is DW's credit: none in the caption's words
        html_ = html_.replace("<small>", "<span>").replace("</small>", "</span>")
        n = draw(st.integers(1, 9999))
        return Block(f'<figure><img src="https://static.dw.com/image/{n}_605.jpg" alt="">'
                     f"<figcaption>{html_}<small>Bild: Jan Fotograf/dpa</small></figcaption></figure>",
                     [], captions=[text])
    if kind == "ad":
        return Block('<div class="advertisement"><span class="label-top">Advertisement</span></div>'
                     '<span data-slot-id="Article_InContent-1" class="rich-text-ad"></span>', [])
    if kind == "script":
        return Block(f"<script>var shown = {json.dumps(text)};</script><style>p {{ color: red }}</style>"
                     "<!-- a comment -->", [], shown=False)
    summary, summary_text = draw(line())
    return Block(f"<details><summary>{summary}</summary><p>{html_}</p></details>", [summary_text, text])


@st.composite
def body(draw, most: int = 12) -> list[Block]:
    """Blocks of a body; bare text never right after bare text (they would be one run)."""
    found = draw(st.lists(block(), min_size=1, max_size=most))
    out: list[Block] = []
    for piece in found:
        before = [b for b in out if b.shown]
        if piece.starts_bare and before and before[-1].ends_bare:
            piece = Block(f"<p>{piece.html}</p>", piece.paragraphs)
        out.append(piece)
    if not any(piece.paragraphs for piece in out):
        out.append(Block("<p>Text</p>", ["Text"]))
    return out


def paragraphs(blocks: list[Block]) -> list[str]:
    return [p for piece in blocks for p in piece.paragraphs]


CONTENT_ID = 79109999


def page(title: str, teaser: str, blocks_html: list[str], language: str = "en", layout: str = "dom",
         content_id: int = CONTENT_ID) -> str:
    """A DW page in one of its layouts: the current DOM (`dom`), the current layout with its body
    in the page state only (`state`), or the old layout (`old`)."""
    url = f"https://www.dw.com/{language}/x/a-{content_id}"
    body_html = "".join(blocks_html)
    headline = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                           "mainEntityOfPage": {"@id": url}, "headline": title,
                           "datePublished": "2026-11-05T08:00:00.000Z"}, ensure_ascii=False)
    head = (f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
            f'<link rel="canonical" href="{url}">'
            f'<script type="application/ld+json">{headline}</script>')
    if layout == "old":
        return (f'{head}</head><body><div id="bodyContent"><div class="col3"><h1>{html.escape(title)}</h1>'
                f'<p class="intro">{html.escape(teaser)}</p><div class="group"><div class="longText">'
                f"{body_html}</div></div></div></div></body></html>")
    header = (f"<header><h1>{html.escape(title)}</h1><p class=\"teaser-text\">{html.escape(teaser)}</p>"
              "</header>")
    if layout == "state":
        state = {"content": {"__typename": "Article", "id": content_id, "title": title, "teaser": teaser,
                             "canonicalUrl": url, "text": body_html}}
        state_json = json.dumps(state, ensure_ascii=False).replace("</", "<\\/")
        return (f"{head}<script>window.__APP_STATE__={state_json};</script></head><body><main><article>"
                f"{header}</article></main></body></html>")
    return (f"{head}</head><body><main><article>{header}"
            f'<div data-tracking-name="rich-text" class="rich-text">{body_html}</div>'
            "</article></main></body></html>")


text_of_words = st.lists(words(), min_size=1, max_size=10).map(" ".join)
LAYOUTS = ("dom", "state", "old")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=text_of_words, teaser=text_of_words, blocks=body(), layout=st.sampled_from(LAYOUTS))
def test_every_word_is_stored_with_its_boundaries(title, teaser, blocks, layout):
    article = extract(page(title, teaser, [b.html for b in blocks], layout=layout).encode())
    assert article.title == title
    assert article.teaser == teaser
    assert article.body == "\n\n".join(paragraphs(blocks))
    assert [image["caption"] for image in article.images] == [c for b in blocks for c in b.captions]
    assert all(image["credit"] == "Jan Fotograf/dpa" for image in article.images)
    assert not [w for w in article.warnings if w[0] == "body_truncated"] and not article.body_truncated


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=body(most=30), limit=st.integers(1, 30), layout=st.sampled_from(LAYOUTS))
def test_a_body_is_cut_only_at_the_limit_and_then_with_a_warning(blocks, limit, layout):
    with pytest.MonkeyPatch.context() as patch:  # the limit lowered, to reach it quickly
        patch.setattr(body_module, "MAX_BLOCKS", limit)
        article = extract(page("Title", "Teaser", [b.html for b in blocks], layout=layout).encode())
    cut = [w for w in article.warnings if w[0] == "body_truncated"]
    stored = paragraphs(blocks)
    assert article.body == "\n\n".join(stored[:limit])
    assert bool(cut) == article.body_truncated == (len(stored) > limit)


# The markups a tester found dropped, each between two paragraphs, and what a reader reads there.
MARKUPS = {
    "table": ("<table><tr><th>Partei</th><th>Stimmen</th></tr><tr><td>Grüne</td><td>12 Prozent</td></tr>"
              "</table>", ["Partei\nStimmen", "Grüne\n12 Prozent"]),
    "table in a div": ("<div class='table-wrapper'><table><tr><td>Wahlkreis Nord</td></tr></table></div>",
                       ["Wahlkreis Nord"]),
    "div of text": ("<div>Ein Absatz als div ohne p</div>", ["Ein Absatz als div ohne p"]),
    "div in div": ("<div class='embed'><div><p>Tief verschachtelter Absatz</p></div></div>",
                   ["Tief verschachtelter Absatz"]),
    "list in a div": ("<div class='list'><ul><li>Listenpunkt im div</li></ul></div>", ["Listenpunkt im div"]),
    "section": ("<section><p>Absatz in einer section</p></section>", ["Absatz in einer section"]),
    "aside": ("<aside><p>Infokasten Text</p></aside>", ["Infokasten Text"]),
    "h5": ("<h5>Überschrift fünfter Ebene</h5>", ["Überschrift fünfter Ebene"]),
    "h1": ("<h1>Überschrift erster Ebene</h1>", ["Überschrift erster Ebene"]),
    "dl": ("<dl><dt>Begriff</dt><dd>Die Erklärung</dd></dl>", ["Begriff", "Die Erklärung"]),
    "pre": ("<pre>Vorformatierter Text\nzweite   Zeile</pre>", ["Vorformatierter Text\nzweite Zeile"]),
    "bare text": ("Freier Text direkt im Container", ["Freier Text direkt im Container"]),
    "bare inline": ("<b>Fett</b> und <a href='/x'>verlinkt</a> ohne Absatz<br>zweite Zeile",
                    ["Fett und verlinkt ohne Absatz\nzweite Zeile"]),
    "a div the parser takes out of a p": ("<p>Vorher<div>mittendrin</div>nachher</p>",
                                          ["Vorher", "mittendrin", "nachher"]),
    "pull-quote": ("<figure><blockquote>Wir schaffen das</blockquote><figcaption>Angela Merkel</figcaption>"
                   "</figure>", ["Wir schaffen das", "Angela Merkel"]),
    "quote with an id": ("<blockquote data-id='123'><p>Zitat mit data-id</p></blockquote>",
                         ["Zitat mit data-id"]),
    "details": ("<details><summary>Mehr</summary><p>Versteckter Absatz</p></details>",
                ["Mehr", "Versteckter Absatz"]),
    "center": ("<center>Zentrierter Text</center>", ["Zentrierter Text"]),
    "address": ("<address>Postfach 1234</address>", ["Postfach 1234"]),
    "list item of paragraphs": ("<ol><li><p>Erster Schritt</p><p>Zweiter Satz</p></li></ol>",
                                ["Erster Schritt\nZweiter Satz"]),
    # a picture box: its caption is the image's, not the body's
    "an old-layout picture box": ('<div class="picBox"><img alt="" '
                                  'src="https://static.dw.com/image/79010198_404.jpg">'
                                  "<p>Die Bildunterschrift</p></div>", []),
    "not text": ("<script>var x = 1;</script><style>p{}</style><iframe src='/v'>Fallback</iframe>"
                 "<div class='advertisement'><span>Advertisement</span></div><!-- c -->", []),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", MARKUPS)
def test_no_markup_in_the_body_loses_its_text(name, layout):
    markup, stored = MARKUPS[name]
    article = extract(page("Markup", "Teaser", ["<p>Davor steht ein Satz.</p>", markup,
                                                "<p>Danach steht ein Satz.</p>"], "de", layout).encode())
    assert article.body == "\n\n".join(["Davor steht ein Satz.", *stored, "Danach steht ein Satz."])


def test_a_line_break_in_a_caption_is_kept():
    figure = ('<figure><img src="https://static.dw.com/image/79060103_605.jpg" alt="">'
              "<figcaption>Erste Zeile<br>zweite Zeile<small>Bild: Patrick Pleul/dpa</small></figcaption>"
              "</figure>")
    article = extract(page("Caption", "Teaser", ["<p>Text</p>", figure]).encode())
    assert article.images[0]["caption"] == "Erste Zeile\nzweite Zeile"
    assert article.images[0]["credit"] == "Patrick Pleul/dpa"


def test_a_long_body_under_the_real_limit_is_whole():
    blocks = [f"<p>Paragraph {n} of the hearing.</p>" for n in range(20_000)]
    article = extract(page("A hearing", "Teaser", [*blocks, "<p>kms/ccp (AP, dpa)</p>"]).encode())
    assert article.body.count("\n\n") == 19_999 and article.body.endswith("Paragraph 19999 of the hearing.")
    assert article.credit_line == "kms/ccp (AP, dpa)" and article.agencies == ["AP", "dpa"]
    assert not article.warnings and not article.body_truncated


# -- through a real crawl: the bugs' pages, and a page over the limit ----------------------------

OVER_LIMIT_ID = 79100189


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    if not (SHARED / "bugs" / "18-very-long-article").is_dir():
        pytest.skip("../shared/bugs is not beside the checkout")
    folder = tmp_path_factory.mktemp("fidelity")
    site = folder / "site"
    for bug in ("16-joiners-persian-bengali", "18-very-long-article"):
        for path in (SHARED / "bugs" / bug / "site").rglob("*"):
            if path.is_file():
                target = site / path.relative_to(SHARED / "bugs" / bug / "site")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    over = [f"<p>{n}</p>" for n in range(body_module.MAX_BLOCKS + 1)] + ["<p>kms/ccp (AP)</p>"]
    (site / "en" / f"a-{OVER_LIMIT_ID}.html").write_text(
        page("Over the limit", "Teaser", over).replace("a-79109999", f"a-{OVER_LIMIT_ID}"))
    urls = ",".join(f"https://www.dw.com/{p}" for p in (
        "fa-ir/iran-talks/a-79100161", "bn/rab-case/a-79100162", "en/a-79100181", "en/a-79100182",
        f"en/a-{OVER_LIMIT_ID}"))
    db = folder / "dw.db"
    with served(site, folder / "access.log") as mirror:
        from tests.crawling import crawl
        run = crawl(mirror, db, "-a", f"urls={urls}", timeout=300)
        first = last_run(db)
        # Again: the article cut at the limit is fetched again, the whole ones are up to date.
        again = crawl(mirror, db, "-a", f"urls={urls}", timeout=300)
    return db, run, first, again


def stored(db, article_id: int) -> dict:
    row = query(db, "SELECT title, teaser, body, credit_line, agencies FROM articles WHERE id = ?",
                article_id)
    assert row, f"{article_id} not archived"
    return dict(zip(("title", "teaser", "body", "credit_line", "agencies"), row[0], strict=True))


def test_persian_half_spaces_and_bengali_joiners_are_stored_as_printed(crawled):
    db, *_ = crawled
    persian = stored(db, 79100161)
    assert persian["title"] == "ایران می\u200cخواهد مذاکرات هسته\u200cای را ادامه دهد"
    assert persian["teaser"] == "رئیس\u200cجمهور ایران روز چهارشنبه سخن گفت."
    assert "گفت\u200cوگوها" in persian["body"] and "دانشگاه\u200cها و کتابخانه\u200cها" in persian["body"]
    bengali = stored(db, 79100162)
    assert "র\u200d্যাব" in bengali["title"]


def test_very_long_articles_are_whole_with_their_credit_line(crawled):
    db, *_ = crawled
    hearing = stored(db, 79100181)
    assert hearing["body"].count("\n\n") + 1 == 6000 and hearing["credit_line"] == "kms/ccp (AP, dpa)"
    assert json.loads(hearing["agencies"]) == ["AP", "dpa"]
    names = stored(db, 79100182)
    assert names["body"].count("\n\n") + 1 == 20 + 5400 and names["credit_line"] == "fab/ske (Reuters, AFP)"


def test_a_body_over_the_limit_is_cut_with_a_warning_a_stat_and_a_run_not_ok(crawled):
    db, run, outcome, _ = crawled
    over = stored(db, OVER_LIMIT_ID)
    assert over["body"].count("\n\n") + 1 == body_module.MAX_BLOCKS and over["credit_line"] is None
    assert "body_truncated" in run.stderr and f"a-{OVER_LIMIT_ID}" in run.stderr
    assert outcome["stats"]["dw/extract/body_truncated"] == 1
    assert outcome["outcome"] != "ok" and "cut at the safety limit" in outcome["outcome"]
    assert run.returncode == 3


def test_a_body_cut_at_the_limit_is_marked_in_its_row_and_fetched_again(crawled):
    db, _, _, again = crawled
    marked = dict(query(db, "SELECT id, body_truncated FROM articles WHERE id IN (?, ?)",
                        OVER_LIMIT_ID, 79100181))
    assert marked == {OVER_LIMIT_ID: 1, 79100181: 0}
    stats = last_run(db)["stats"]
    assert stats["dw/refetched/body_truncated"] == 1 and stats["dw/skipped/archived_up_to_date"] == 4
    assert stats["dw/extract/body_truncated"] == 1  # reported again, not taken as archived
    assert again.returncode == 3
