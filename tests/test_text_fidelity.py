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


@st.composite
def block(draw) -> tuple[str, str]:
    """(HTML, stored text) of one body block: a paragraph with line breaks, a subhead, a list
    item, a quote of several paragraphs, a paragraph inside a `div`."""
    kind = draw(st.sampled_from(["p", "h2", "li", "blockquote", "div"]))
    lines = draw(st.lists(line(), min_size=1, max_size=1 if kind == "h2" else 3))
    if kind == "h2":
        return f"<h2>{lines[0][0]}</h2>", lines[0][1]
    text = "\n".join(stored for _, stored in lines)
    if kind == "blockquote":
        return "<blockquote>" + "".join(f"<p>{h}</p>" for h, _ in lines) + "</blockquote>", text
    breaks = draw(st.sampled_from(["<br>", "<br/>", "<br>\n", " <br> "]))
    inner = breaks.join(h for h, _ in lines)
    if kind == "li":
        return f"<ul><li>{inner}</li></ul>", text
    if kind == "div":
        return f"<div><p>{inner}</p></div>", text
    return f"<p>{inner}</p>", text


def page(title: str, teaser: str, blocks_html: list[str], language: str = "en") -> str:
    headline = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                           "mainEntityOfPage": {"@id": f"https://www.dw.com/{language}/x/a-79109999"},
                           "headline": title, "datePublished": "2026-11-05T08:00:00.000Z"},
                          ensure_ascii=False)
    return (f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
            f'<link rel="canonical" href="https://www.dw.com/{language}/x/a-79109999">'
            f'<script type="application/ld+json">{headline}</script></head><body><main><article>'
            f"<header><h1>{html.escape(title)}</h1><p class=\"teaser-text\">{html.escape(teaser)}</p>"
            f'</header><div data-tracking-name="rich-text" class="rich-text">{"".join(blocks_html)}'
            "</div></article></main></body></html>")


text_of_words = st.lists(words(), min_size=1, max_size=10).map(" ".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=text_of_words, teaser=text_of_words, blocks=st.lists(block(), min_size=1, max_size=12))
def test_every_word_is_stored_with_its_boundaries(title, teaser, blocks):
    article = extract(page(title, teaser, [h for h, _ in blocks]).encode())
    assert article.title == title
    assert article.teaser == teaser
    assert article.body == "\n\n".join(text for _, text in blocks)
    assert not [w for w in article.warnings if w[0] == "body_truncated"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(block(), min_size=1, max_size=40), limit=st.integers(1, 30))
def test_a_body_is_cut_only_at_the_limit_and_then_with_a_warning(blocks, limit):
    with pytest.MonkeyPatch.context() as patch:  # the limit lowered, to reach it quickly
        patch.setattr(body_module, "MAX_BLOCKS", limit)
        article = extract(page("Title", "Teaser", [h for h, _ in blocks]).encode())
    cut = [w for w in article.warnings if w[0] == "body_truncated"]
    kept = [text for _, text in blocks][:limit]
    assert article.body == "\n\n".join(kept)
    assert bool(cut) == (len(blocks) > limit)


def test_a_long_body_under_the_real_limit_is_whole():
    blocks = [f"<p>Paragraph {n} of the hearing.</p>" for n in range(20_000)]
    article = extract(page("A hearing", "Teaser", [*blocks, "<p>kms/ccp (AP, dpa)</p>"]).encode())
    assert article.body.count("\n\n") == 19_999 and article.body.endswith("Paragraph 19999 of the hearing.")
    assert article.credit_line == "kms/ccp (AP, dpa)" and article.agencies == ["AP", "dpa"]
    assert not article.warnings


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
    return db, run


def stored(db, article_id: int) -> dict:
    row = query(db, "SELECT title, teaser, body, credit_line, agencies FROM articles WHERE id = ?",
                article_id)
    assert row, f"{article_id} not archived"
    return dict(zip(("title", "teaser", "body", "credit_line", "agencies"), row[0], strict=True))


def test_persian_half_spaces_and_bengali_joiners_are_stored_as_printed(crawled):
    db, _ = crawled
    persian = stored(db, 79100161)
    assert persian["title"] == "ایران می\u200cخواهد مذاکرات هسته\u200cای را ادامه دهد"
    assert persian["teaser"] == "رئیس\u200cجمهور ایران روز چهارشنبه سخن گفت."
    assert "گفت\u200cوگوها" in persian["body"] and "دانشگاه\u200cها و کتابخانه\u200cها" in persian["body"]
    bengali = stored(db, 79100162)
    assert "র\u200d্যাব" in bengali["title"]


def test_very_long_articles_are_whole_with_their_credit_line(crawled):
    db, _ = crawled
    hearing = stored(db, 79100181)
    assert hearing["body"].count("\n\n") + 1 == 6000 and hearing["credit_line"] == "kms/ccp (AP, dpa)"
    assert json.loads(hearing["agencies"]) == ["AP", "dpa"]
    names = stored(db, 79100182)
    assert names["body"].count("\n\n") + 1 == 20 + 5400 and names["credit_line"] == "fab/ske (Reuters, AFP)"


def test_a_body_over_the_limit_is_cut_with_a_warning_a_stat_and_a_run_not_ok(crawled):
    db, run = crawled
    over = stored(db, OVER_LIMIT_ID)
    assert over["body"].count("\n\n") + 1 == body_module.MAX_BLOCKS and over["credit_line"] is None
    assert "body_truncated" in run.stderr and f"a-{OVER_LIMIT_ID}" in run.stderr
    outcome = last_run(db)
    assert outcome["stats"]["dw/extract/body_truncated"] == 1
    assert outcome["outcome"] != "ok" and "cut at the safety limit" in outcome["outcome"]
    assert run.returncode == 3
