"""What real sites serve, through the extractor CLI: entities and several article objects in
JSON-LD, JSON slips, charsets given only by HTTP, and bylines that are not people (issue 12,
kinds 1, 2 and 8). The `../shared/bugs/` inputs first, then variants of each kind."""

from __future__ import annotations

import json
import sys

import pytest

from crawler.extract import extract
from tests import forkserver
from tests.conftest import ROOT, SHARED, needs_shared

BUGS = SHARED / "bugs"


def cli(tmp_path, html: bytes | str, *args: str) -> tuple[dict, list[str]]:
    """Run `python -m crawler.extract` on one page; (its JSON, its stderr lines)."""
    page = tmp_path / "page.html"
    page.write_bytes(html.encode() if isinstance(html, str) else html)
    run = forkserver.run([sys.executable, "-m", "crawler.extract", str(page), *args], cwd=ROOT)
    assert "Traceback" not in run.stderr, run.stderr
    return json.loads(run.stdout), run.stderr.splitlines()


def run(html: str) -> tuple[dict, list[str]]:
    """The extractor in process, for the variants: (the article's fields, its warnings' kinds)."""
    article = extract(html)
    return article.to_dict(), [kind for kind, _ in article.warnings]


def page(ld: list[str] | str = "", *, state: str = "", h1: str = "Floods hit the north",
         author: str = "Jane Example", content_id: int = 79100002) -> str:
    """A current-layout page with the given JSON-LD scripts and page state."""
    scripts = "".join(f'<script type="application/ld+json">{block}</script>'
                      for block in ([ld] if isinstance(ld, str) and ld else ld or []))
    if state:
        scripts += f"<script>window.__APP_STATE__={state};</script>"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<link rel="canonical" href="https://www.dw.com/en/floods/a-{content_id}">{scripts}</head>'
            f'<body><article><header><h1>{h1}</h1><div class="author-details"><span>'
            f'<a class="author-link" href="/en/x/person-1">{author}</a></span></div>'
            f'<span class="time-area"><time>11/05/2026</time></span></header>'
            f'<div data-tracking-name="rich-text"><p>First paragraph.</p></div></article></body></html>')


def news_article(headline: str, *, names: str | None = None, date: str = "2026-11-05T08:00:00Z",
                 author: str = "Jane Example", key: str = "mainEntityOfPage") -> dict:
    node = {"@type": "NewsArticle", "headline": headline, "datePublished": date,
            "author": [{"@type": "Person", "name": author}]}
    if names:
        node[key] = {"@type": "WebPage", "@id": names} if key == "mainEntityOfPage" else names
    return node


OURS = "https://www.dw.com/en/floods/a-79100002"
RELATED = "https://www.dw.com/en/older-related-story/a-79000099"


# -- kind 1: structured data as the page shows it ----------------------------------------------

@needs_shared(BUGS / "01-entities-in-json-ld")
def test_bug01_entities_in_json_ld(tmp_path):
    got, _ = cli(tmp_path, (BUGS / "01-entities-in-json-ld" / "page.html").read_bytes())
    assert got["title"] == 'Merkel & Macron: "We stand together"'
    assert got["authors"] == ["Jane O'Neill"]


@pytest.mark.parametrize("escaped,shown", [
    ("Tom &amp; Jerry&#39;s &quot;war&quot;", 'Tom & Jerry\'s "war"'),
    ("Caf&eacute; &#x26; cr&#232;me", "Café & crème"),
    ("Fish &amp;amp; chips", "Fish &amp; chips"),  # unescaped once, not twice
    ("&#8222;Ja&#8220; zur Reform", "„Ja“ zur Reform"),
])
def test_entities_in_json_ld_and_page_state_are_unescaped_once(tmp_path, escaped, shown):
    ld = json.dumps(news_article(escaped, names=OURS, author=escaped))
    got, _ = run(page(ld))
    assert (got["title"], got["authors"]) == (shown, [shown])
    state = json.dumps({"content": {"id": 79100002, "title": escaped, "teaser": escaped,
                                    "text": "<p>Body.</p>"}})
    got, _ = run(page(state=state, h1=""))
    assert (got["title"], got["teaser"]) == (shown, shown)


@needs_shared(BUGS / "02-several-news-articles")
@pytest.mark.parametrize("name", ["page.html", "page-graph.html"])
@pytest.mark.parametrize("order", ["as given", "reversed"])
def test_bug02_several_news_articles(tmp_path, name, order):
    html = (BUGS / "02-several-news-articles" / name).read_text(encoding="utf-8")
    if order == "reversed":
        head, _, rest = html.partition('<script type="application/ld+json">')
        blocks = rest.split("</script>", rest.count('type="application/ld+json"') + 1)
        if name == "page.html":
            first, second = blocks[0], blocks[1].removeprefix('<script type="application/ld+json">')
            html = head + f'<script type="application/ld+json">{second}</script>' \
                f'<script type="application/ld+json">{first}</script>' + blocks[2]
        else:
            data = json.loads(blocks[0])
            data["@graph"].reverse()
            html = head + f'<script type="application/ld+json">{json.dumps(data)}</script>' + blocks[1]
    got, stderr = cli(tmp_path, html)
    assert got["id"] == 79100002
    assert got["title"] == "Floods hit the north of the country"
    assert got["authors"] == ["Jane Example"]
    assert got["published_at"] == "2026-11-05T08:00:00Z"
    assert not any("ld_mismatch" in line for line in stderr)


@pytest.mark.parametrize("how", ["mainEntityOfPage", "url", "@id", "short link", "unicode slug"])
def test_the_object_naming_this_page_is_used_however_it_names_it(tmp_path, how):
    key = "mainEntityOfPage" if how in ("mainEntityOfPage", "unicode slug") else \
        "url" if how in ("url", "short link") else "@id"
    ours = {"short link": "https://p.dw.com/p/5LtWU", "unicode slug": "https://www.dw.com/en/flüsse/a-79100002"
            }.get(how, OURS)
    graph = {"@context": "https://schema.org", "@graph": [
        news_article("Related one", names=RELATED, author="Other Writer", date="2025-01-01T00:00:00Z"),
        news_article("Floods hit the north", names=ours, key=key),
        news_article("Related two", names="https://www.dw.com/en/x/a-79000098", author="Someone Else"),
    ]}
    got, warnings = run(page(json.dumps(graph), h1="A different DOM headline"))
    assert (got["title"], got["authors"], got["published_at"]) == (
        "Floods hit the north", ["Jane Example"], "2026-11-05T08:00:00Z")
    assert "ld_mismatch" not in warnings


@pytest.mark.parametrize("objects", [
    [news_article("Related", names=RELATED, author="Other Writer")],
    [news_article("Related", names=RELATED, author="Other Writer"), news_article("Unnamed")],
    [news_article("One unnamed"), news_article("Another unnamed", author="Other Writer")],
], ids=["one related", "related and unnamed", "two unnamed"])
def test_when_no_object_names_this_page_the_dom_decides_and_it_is_counted(tmp_path, objects):
    scripts = [json.dumps(o) for o in objects]
    got, warnings = run(page(scripts, h1="Floods hit the north", author="Jane Example"))
    assert (got["title"], got["authors"], got["published_at"]) == (
        "Floods hit the north", ["Jane Example"], "2026-11-05")
    assert warnings.count("ld_mismatch") == 1


def test_an_author_given_as_a_plain_string(tmp_path):
    node = news_article("Floods hit the north", names=OURS)
    node["author"] = "Jane O&#39;Neill"
    assert run(page(json.dumps(node)))[0]["authors"] == ["Jane O'Neill"]


def test_a_lone_object_naming_no_page_is_the_pages_own(tmp_path):
    got, warnings = run(page(json.dumps(news_article("Floods hit the north (LD)"))))
    assert got["title"] == "Floods hit the north (LD)"
    assert got["published_at"] == "2026-11-05T08:00:00Z" and warnings == []


@pytest.mark.parametrize("raw", [
    '{"@type": "NewsArticle", "headline": "Line one\nline two", "datePublished": "2026-11-05T08:00:00Z"}',
    '{"@type": "NewsArticle", "headline": "Tab\there", "datePublished": "2026-11-05T08:00:00Z",}',
    '<!--{"@type": "NewsArticle", "headline": "Commented", "datePublished": "2026-11-05T08:00:00Z"}-->',
    '{"@type": "NewsArticle", "headline": "Semicolon", "datePublished": "2026-11-05T08:00:00Z"};',
    '[{"@type": "NewsArticle", "headline": "Trailing", "datePublished": "2026-11-05T08:00:00Z",},]',
    r'{"@type": "NewsArticle", "headline": "It\'s a \\ slash", "datePublished": "2026-11-05T08:00:00Z"}',
], ids=["newline in string", "tab and trailing comma", "html comment", "semicolon", "list commas",
        "invalid escape"])
def test_json_slips_browsers_accept_are_read(tmp_path, raw):
    got, warnings = run(page(raw, h1="Shown headline"))
    assert got["published_at"] == "2026-11-05T08:00:00Z"
    assert got["title"] in {"Line one line two", "Tab here", "Commented", "Semicolon", "Trailing",
                            "It's a \\ slash"}
    assert warnings == []


@pytest.mark.parametrize("broken", ['{"@type": "NewsArticle", "headline": ', "not json at all",
                                    '{"@type": "NewsArticle" "headline": "x"}'])
def test_an_unreadable_block_is_counted_and_the_state_dates_kept(tmp_path, broken):
    state = json.dumps({"content": {"id": 79100002, "title": "Floods hit the north",
                                    "firstPublicationDate": "2026-11-05T07:59:01.250Z",
                                    "lastModifiedDate": "2026-11-05T09:00:00Z", "text": "<p>B.</p>"}})
    got, warnings = run(page(broken, state=state))
    assert (got["published_at"], got["modified_at"]) == ("2026-11-05T07:59:01Z", "2026-11-05T09:00:00Z")
    assert warnings.count("ld_unreadable") == 1


def test_an_unreadable_block_keeps_the_doms_day(tmp_path):
    got, warnings = run(page('{"@type": "NewsArticle", "headline": '))
    assert got["title"] == "Floods hit the north" and got["published_at"] == "2026-11-05"
    assert "ld_unreadable" in warnings


# -- kind 8: only people are authors ------------------------------------------------------------

def old_layout(rows: list[tuple[str, str]], lang: str = "de") -> str:
    items = "".join(f"<li><strong>{label}</strong>\n{value}\n</li>" for label, value in rows)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<link rel="canonical" href="https://www.dw.com/{lang}/x/a-79100050"></head><body>'
            f'<div class="col3"><h1>Ein Titel</h1><p class="intro">Ein Vorspann.</p>'
            f'<div class="longText"><p>Ein Absatz.</p></div>'
            f'<ul class="smallList">{items}<li><strong>Permalink</strong> https://p.dw.com/p/5LtX8</li>'
            f'</ul></div></body></html>')


def test_a_second_date_row_is_not_an_author_through_the_cli(tmp_path):
    got, _ = cli(tmp_path, old_layout([("Datum", "13.03.2023"), ("Aktualisiert", "14.03.2023"),
                                       ("Autorin/Autor", "Roman Goncharenko")]))
    assert got["authors"] == ["Roman Goncharenko"] and got["published_at"] == "2023-03-13"


@pytest.mark.parametrize("rows,authors", [
    # labels the code does not know, read by position
    ([("Data", "14.03.2023"), ("Ndryshuar", "15.03.2023"), ("Autori", "Arben Muka")], ["Arben Muka"]),
    ([("Data", "14.03.2023"), ("Qyteti", "Tirana"), ("Autori", "Arben Muka")], ["Arben Muka"]),
    ([("Data", "14.03.2023"), ("Redaksia", "DW Shqip"), ("Autori", "Arben Muka")], ["Arben Muka"]),
    ([("Data", "14.03.2023"), ("Ora", "14:30 CET"), ("Burimi", "dpa, AFP")], []),
    ([("Data", "14.03.2023"), ("Burimi", "Deutsche Welle")], []),
    ([("Data", "14.03.2023"), ("Vendi", "Bonn, 14.03.2023")], []),
    ([("Data", "14.03.2023"), ("Vendi", "New York"), ("Autori", "Arben Muka")], ["Arben Muka"]),
    ([("Дата", "14.03.2023"), ("Місто", "Київ"), ("Автор", "Ірина Пітан")], ["Ірина Пітан"]),
    ([("Datum", "14.03.2023"), ("Mjesto", "Sarajevo"), ("Piše", "Emir Hasić")], ["Emir Hasić"]),
    # known labels
    ([("Datum", "14.03.2023"), ("Ort", "Berlin"), ("Autor", "Jan Vogt")], ["Jan Vogt"]),
    ([("Datum", "14.03.2023"), ("Autor", "Jan Vogt, Kiew")], ["Jan Vogt"]),
    ([("Datum", "14.03.2023"), ("Autor", "Jan Vogt / Anna Weber")], ["Jan Vogt", "Anna Weber"]),
    ([("Datum", "14.03.2023"), ("Autor", "DW-Redaktion Nachrichten")], []),
    ([("Datum", "14.03.2023"), ("Autor", "14.03.2023")], []),
    ([("Autor", "Jan Vogt"), ("Datum", "14.03.2023")], ["Jan Vogt"]),
], ids=lambda v: "|".join(f"{a}:{b}" for a, b in v) if isinstance(v, list) and v and
    isinstance(v[0], tuple) else None)
def test_old_layout_rows_that_are_dates_places_or_desks_are_not_authors(rows, authors):
    got, _ = run(old_layout(rows))
    assert got["authors"] == authors
    assert got["published_at"] == "2023-03-14"


@pytest.mark.parametrize("name", ["14.03.2023", "Bonn, 5. März", "DW Nachrichten", "Redaktion Politik",
                                  "Reuters", "dpa", "Deutsche Welle (www.dw.com)", "Online-Team"])
def test_bylines_that_are_no_person_never_reach_authors_from_structured_data(name):
    ld = json.dumps(news_article("Floods hit the north", names=OURS, author=name))
    got, _ = run(page(ld, author=name))
    assert got["authors"] == []


# -- kind 9: tags as DW prints them ---------------------------------------------------------------

def test_old_layout_keywords_without_links_are_tags_not_authors():
    got, _ = run(old_layout([("Datum", "14.03.2023"), ("Schlagwörter", "Ahr Valley, pinot noir, Wein")]))
    assert got["tags"] == ["Ahr Valley", "pinot noir", "Wein"] and got["tag_ids"] == []
    assert got["authors"] == []


@pytest.mark.parametrize("state,tags,ids", [
    ({"content": {"id": 79100002, "title": "T", "text": "<p>B.</p>", "topicIds": ["11", "12", "13"]},
      "topics": [{"id": 12, "name": "Zwei"}, {"id": 11, "name": "Eins &amp; Null"}]},
     ["Eins & Null", "Zwei"], [11, 12]),
    ({"content": {"id": 79100002, "title": "T", "text": "<p>B.</p>",
                  "topics": [{"id": 21, "name": "Klima"}, {"id": 22, "name": "Energie"}]}},
     ["Klima", "Energie"], [21, 22]),
    ({"content": {"id": 79100002, "title": "T", "text": "<p>B.</p>", "topicIds": ["99"]}}, [], []),
], ids=["topicIds resolved", "topic objects", "unresolvable ids"])
def test_page_state_topics_are_tags(state, tags, ids):
    got, _ = run(page(state=json.dumps(state)))
    assert (got["tags"], got["tag_ids"]) == (tags, ids)


@pytest.mark.parametrize("aside", [
    '<aside data-tracking-name="related-topics"><a href="/de/long-covid/t-58345982">Long COVID</a>'
    '<a href="https://www.dw.com/de/coronavirus/t-51209181">Coronavirus</a></aside>',
    '<section data-tracking-name="section-related-topics"><div><aside>'
    '<a href="/de/long-covid/t-58345982"> Long COVID </a><a href="/de/x/a-1">An article</a>'
    '<a href="/de/coronavirus/t-51209181">Coronavirus</a></aside></div></section>',
], ids=["mid-2023 aside", "2024-26 section"])
def test_related_topic_links_are_tags_with_their_ids(aside):
    got, _ = run(page().replace("</article>", f"</article>{aside}"))
    assert (got["tags"], got["tag_ids"]) == (["Long COVID", "Coronavirus"], [58345982, 51209181])
    assert got["topics"] == []  # the kicker's category and region, none on this page
