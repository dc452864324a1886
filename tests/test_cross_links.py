"""The old layout's cross-link blocks ("Read more: <a>…</a>" and its kin in every language) kept
out of the body and kept as the article's `related` URLs; every other paragraph with a link,
however it begins, kept whole. Through `python -m crawler.extract` on old-layout pages; the
forms as tests of the pure rule (`crawler.extract.old_layout.cross_links`)."""

from __future__ import annotations

import json
import sys

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.extract.old_layout import cross_links, remove_cross_links
from tests import forkserver
from tests.conftest import ROOT

W = "https://www.dw.com"


def _first_p(html: str):
    return LexborHTMLParser(html).css_first("p")


# Blocks that are cross-links: (HTML, the URLs they link to).
CROSS_LINKS = [
    ('<p><strong>Read more:</strong> <a href="/en/a/a-1">First</a><br/><strong>Read more:</strong> '
     '<a href="/en/b/a-2">Second</a></p>', [f"{W}/en/a/a-1", f"{W}/en/b/a-2"]),  # two labels, a <br>
    ('<p><b>Read more</b> - <a href="/en/a/a-3">Hyphen</a></p>', [f"{W}/en/a/a-3"]),
    ('<p><strong>Read more:</strong> <a href="/en/a/a-5?maca=en-rss-en-all-1573-rdf">A</a> '
     '<a href="/en/b/a-6">B</a></p>', [f"{W}/en/a/a-5", f"{W}/en/b/a-6"]),  # tracking stripped
    ('<p><strong>Read more: </strong><a href="/en/a/a-8">Headline</a> (12.05.2019)</p>', [f"{W}/en/a/a-8"]),
    ('<p>Read more:<br/><a href="/en/a/a-9">One</a><br/><a href="/en/b/a-10">Two</a></p>',
     [f"{W}/en/a/a-9", f"{W}/en/b/a-10"]),
    ('<p><strong>READ MORE</strong>\u00a0\u2192 <a href="/en/a/a-12">Arrow</a></p>', [f"{W}/en/a/a-12"]),
    ('<p><strong>Watch video</strong> <a href="/en/a/av-13">A video</a> 02:31</p>', [f"{W}/en/a/av-13"]),
    ('<p><strong>Read more:</strong> <a href="/en/a/a-14">A</a>, <a href="https://www.dw.com/en/b/g-15">B</a>'
     ' and <a href="/en/c/t-16">C</a>.</p>', [f"{W}/en/a/a-14", f"{W}/en/b/g-15", f"{W}/en/c/t-16"]),
    ('<p><strong>Mehr zum Thema:</strong> <a href="/de/a/a-31">A</a><br/><strong>Mehr zum Thema:</strong> '
     '<a href="/de/b/a-32">B</a></p>', [f"{W}/de/a/a-31", f"{W}/de/b/a-32"]),
    ('<p><strong>Lesen Sie auch</strong> &gt;&gt; <a href="/de/a/a-33">Chevrons</a></p>', [f"{W}/de/a/a-33"]),
    ('<p><strong>MEHR ZUM THEMA</strong> – <a href="/de/a/a-35">Gedankenstrich</a></p>', [f"{W}/de/a/a-35"]),
    ('<p><strong>ተጨማሪ ያንብቡ፡</strong> <a href="/am/a/a-41">ርዕስ</a></p>', [f"{W}/am/a/a-41"]),
    ('<p><strong>ተጨማሪ ያንብቡ፦</strong> <a href="/am/a/a-42">ርዕስ</a></p>', [f"{W}/am/a/a-42"]),
    ('<p><strong>Читайте также</strong> &gt;&gt;&gt; <a href="/ru/a/a-51">Заголовок</a></p>',
     [f"{W}/ru/a/a-51"]),
    ('<p><strong>Leia mais</strong> » <a href="/pt-br/a/a-52">Título</a></p>', [f"{W}/pt-br/a/a-52"]),
    ('<p><strong>Ayrıca okuyun</strong> - <a href="/tr/a/a-53">Başlık</a></p>', [f"{W}/tr/a/a-53"]),
    ('<p><strong>اقرأ أيضا..</strong> <a href="/ar/a/a-54">عنوان</a></p>', [f"{W}/ar/a/a-54"]),
    ('<p><strong>延伸阅读</strong>：<a href="/zh/a/a-55">标题</a>、<a href="/zh/b/a-56">二</a></p>',
     [f"{W}/zh/a/a-55", f"{W}/zh/b/a-56"]),
    ('<p><strong>اقرأ أيضا</strong> <a href="/ar/a/a-59">عنوان</a> <strong>اقرأ أيضا</strong> '
     '<a href="/ar/b/a-60">عنوان</a></p>', [f"{W}/ar/a/a-59", f"{W}/ar/b/a-60"]),
    ('<p><strong>بیشتر بخوانید:</strong> <a href="/fa-ir/a/a-61">عنوان</a>، '
     '<a href="/fa-ir/b/a-62">دو</a></p>', [f"{W}/fa-ir/a/a-61", f"{W}/fa-ir/b/a-62"]),
    ('<p><a href="/en/operators/a-70">Read more: What the operators get</a></p>', [f"{W}/en/operators/a-70"]),
]

# Paragraphs that are the article's words, links and all.
TEXT = [
    '<p>Chancellor Scholz said: <a href="/en/a/a-20">"Germany will not waver in its support."</a></p>',
    '<p>Important: <a href="/en/a/a-21">the deadline for applications ends on Friday at noon.</a></p>',
    '<p>Read more carefully, the ministry urged, because <a href="/en/a/a-22">the rules</a> changed.</p>',
    '<p><strong>Merkel:</strong> <a href="/en/a/a-23">"We can do this."</a></p>',
    '<p>Related reading for the curious: <a href="/en/a/a-24">this</a> the minister insisted.</p>',
    '<p>Update: <a href="/en/a/a-25">Police have arrested a second suspect, officials said.</a></p>',
    '<p>See also what <a href="/en/a/a-26">experts</a> say.</p>',
    '<p>Mehr zum Thema Renten: <a href="/de/a/a-36">Die Regierung will das Rentenniveau halten.</a></p>',
    '<p>Lesen Sie auch, was <a href="/de/a/a-37">Experten</a> dazu sagen.</p>',
    '<p>Scholz sagte: <a href="/de/a/a-38">"Wir lassen niemanden allein."</a></p>',
    '<p>قال الوزير: <a href="/ar/a/a-39">"لن نتراجع"</a></p>',
    '<p>Read more: <a href="https://www.bundestag.de/law">the law on the Bundestag\'s website</a></p>',
    '<p><a href="/en/x/a-123">Germany votes: what comes next</a></p>',
    '<p>5 <a href="/en/x/a-124">dead</a> and 12 <a href="/en/x/a-125">injured</a></p>',
]


@pytest.mark.parametrize("html, urls", CROSS_LINKS, ids=[f"cross-{n}" for n in range(len(CROSS_LINKS))])
def test_cross_link_blocks_in_every_form_and_script(html, urls):
    assert cross_links(_first_p(html)) == urls


@pytest.mark.parametrize("html", TEXT, ids=[f"text-{n}" for n in range(len(TEXT))])
def test_paragraphs_with_links_that_are_words_stay(html):
    assert cross_links(_first_p(html)) is None


@pytest.mark.parametrize("html, urls", [
    ('<p><strong>Read more:</strong></p>\n<p><a href="/en/a/a-4">On its own line</a></p>', [f"{W}/en/a/a-4"]),
    ('<p><b>Lesen Sie auch:</b></p><ul><li><a href="/de/a/a-34">In a list</a></li>'
     '<li><a href="/de/b/a-44">Two</a></li></ul>', [f"{W}/de/a/a-34", f"{W}/de/b/a-44"]),
])
def test_a_label_and_its_links_in_separate_elements(html, urls):
    doc = LexborHTMLParser(f'<div class="longText"><p>Before.</p>{html}<p>After.</p></div>')
    container = doc.css_first("div")
    assert remove_cross_links(container) == urls
    assert [p.text() for p in container.css("p")] == ["Before.", "After."]
    assert container.css("a, ul") == []


def test_a_label_paragraph_before_text_stays():
    doc = LexborHTMLParser('<div><p><b>Read more:</b></p><p>The minister <a href="/en/a/a-1">said</a> so.</p>'
                           '</div>')
    container = doc.css_first("div")
    assert remove_cross_links(container) == []
    assert "The minister said so." in container.text()


# -- through `python -m crawler.extract`: old-layout pages in four languages ------------------------

TEMPLATE = ROOT / "tests/pages/old-layout/read-more_a-79100271.html"


def _old_page(lang: str, content_id: int, blocks: list[str]) -> str:
    html = TEMPLATE.read_text(encoding="utf-8")
    start = html.index('<div class="longText">') + len('<div class="longText">')
    end = html.index("</div>", start)
    body = ("<p>Opening paragraph of the story.</p>\n" + "\n".join(blocks)
            + "\n<p>Poem line one<br>line two</p>\n")
    html = html[:start] + body + html[end:]
    return html.replace('lang="en"', f'lang="{lang}"').replace(
        "https://www.dw.com/en/coal-exit-law-passes/a-79100271", f"https://www.dw.com/{lang}/links/a-{content_id}")


def test_extract_keeps_cross_links_out_and_every_sentence_in(tmp_path):
    by_lang = {"en": [], "de": [], "am": [], "ar": []}
    for html, _ in CROSS_LINKS:
        lang = next((lang for lang in by_lang if f'href="/{lang}/' in html), "en")
        by_lang[lang].append(html)
    texts = {lang: [h for h in TEXT if f'href="/{lang}/' in h or (lang == "en" and "/en/" not in h
                                                                   and "/de/" not in h and "/ar/" not in h)]
             for lang in by_lang}
    paths = []
    for n, lang in enumerate(by_lang):
        path = tmp_path / f"{lang}.html"
        path.write_text(_old_page(lang, 79700101 + n, by_lang[lang] + texts[lang]), encoding="utf-8")
        paths.append(path)
    run = forkserver.run([sys.executable, "-m", "crawler.extract", *map(str, paths)], cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    articles = [json.loads(line) for line in run.stdout.splitlines()]
    for article, lang in zip(articles, by_lang, strict=True):
        # The body is the story's own paragraphs, every sentence with a link whole, a <br> a
        # line break (in this layout too), and not a word of a cross-link.
        words = [LexborHTMLParser(html).css_first("p").text().strip() for html in texts[lang]]
        assert article["body"] == "\n\n".join(
            ["Opening paragraph of the story.", *words, "Poem line one\nline two"]), lang
        expected = [url for html, urls in CROSS_LINKS if html in by_lang[lang] for url in urls]
        assert article["related"] == list(dict.fromkeys(expected)), lang
