"""Discovery as the wild writes it, through the real `scrapy crawl dw` against a loopback server
(`tests/wire.py`): old-host URLs (www.dw.de, www.dw-world.de's `0,,ID,00.html`) in sitemaps and
feeds fetched through their short links, as `urls=` does; an Atom link whose relation is the
full IANA IRI; entries without a usable link counted; articles that turn out to be another
article counted as lost. The variants are tests of the pure functions."""

from __future__ import annotations

import pytest

from crawler import dw
from crawler.discovery import read_listing
from tests.crawling import archived_ids, crawl, last_run, query
from tests.wire import content_id_of, ok, response, serving

IANA = "http://www.iana.org/assignments/relation/"


# -- the one rule: which URLs are fetched through their short link ---------------------------------

@pytest.mark.parametrize("url, code", [
    ("http://www.dw.de/old-story/a-16863843", dw.encode_short_code(16863843)),
    ("http://dw.de/old-story/a-16863843", dw.encode_short_code(16863843)),
    ("http://www.dw.de/en/old-story/a-16863843", dw.encode_short_code(16863843)),  # a language, old host
    ("https://www.dw-world.de/dw/article/0,,4092709,00.html", "HAhR"),
    ("http://dw-world.de/dw/article/0,,4092709,00.html?maca=de-rss", "HAhR"),
    ("https://www.dw.com/a-68117411", "4boRv"),  # no language
    ("https://p.dw.com/p/18axi", "18axi"),
])
def test_old_hosts_and_urls_without_a_language_go_through_the_short_link(url, code):
    assert dw.fetched_by_short_link(dw.parse_url(url)) == code


@pytest.mark.parametrize("url", [
    "https://www.dw.com/en/story/a-68117411", "https://m.dw.com/de/x/a-68117411",
    "http://www.dw.de/x/av-16863843",  # not an article: not fetched at all
    "https://www.dw.com/en/topic/t-17292877",
])
def test_other_urls_are_fetched_as_they_are(url):
    assert dw.fetched_by_short_link(dw.parse_url(url)) is None


# -- Atom link relations, entries without a link -------------------------------------------------

def _atom(*links: str) -> bytes:
    entries = "".join(f"<entry><title>t</title>{link}</entry>" for link in links)
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>f</title>{entries}</feed>'.encode()


@pytest.mark.parametrize("link, found", [
    (f'<link rel="{IANA}alternate" href="https://www.dw.com/en/x/a-1"/>', "https://www.dw.com/en/x/a-1"),
    (f'<link rel=" {IANA.upper()}ALTERNATE " href="https://www.dw.com/en/x/a-1"/>', "https://www.dw.com/en/x/a-1"),
    ('<link rel="Alternate" href="https://www.dw.com/en/x/a-1"/>', "https://www.dw.com/en/x/a-1"),
    ('<link href="https://www.dw.com/en/x/a-1"/>', "https://www.dw.com/en/x/a-1"),
    (f'<link rel="{IANA}enclosure" href="https://x/a.mp3"/><link rel="{IANA}alternate" '
     'href="https://www.dw.com/en/x/a-1"/>', "https://www.dw.com/en/x/a-1"),
    (f'<link rel="{IANA}related" href="https://www.dw.com/en/x/a-2"/>', None),
    ('<link rel="enclosure" href="https://x/a.mp3"/>', None),
    ("<id>urn:uuid:1225c695</id>", None),
])
def test_atom_link_relations_in_either_form(link, found):
    listing = read_listing(_atom(link))
    assert [e.loc for e in listing.entries] == ([found] if found else [])
    assert listing.without_location == (0 if found else 1)


def test_entries_without_a_location_are_counted_in_sitemaps_and_rss():
    sitemap = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://www.dw.com/'
               b'en/x/a-1</loc></url><url><lastmod>2026-01-01</lastmod></url><url><loc> </loc></url>'
               b'</urlset>')
    rss = (b'<rss><channel><item><title>no link</title></item><item><link>https://www.dw.com/en/x/a-2'
           b'</link></item></channel></rss>')
    assert read_listing(sitemap).without_location == 2 and len(read_listing(sitemap).entries) == 1
    assert read_listing(rss).without_location == 1 and len(read_listing(rss).entries) == 1


# -- one crawl: old hosts in a news sitemap and two feeds, an Atom feed's IRI relations ----------

OLD = {  # id: (how a listing names it, where it is now)
    79400051: ("http://www.dw.de/old-story/a-79400051", "/en/old-story/a-79400051"),
    79400052: ("old-story/a-79400052", "/en/old-story/a-79400052"),  # under xml:base http://www.dw.de/
    79400053: ("http://www.dw-world.de/dw/article/0,,79400053,00.html", "/de/alt/a-79400053"),
    79400054: ("http://www.dw.de/en/with-language/a-79400054", "/en/with-language/a-79400054"),
}
TODAY = 79400055  # an ordinary dw.com URL beside them
ATOM_IRI = 79400056  # an Atom entry whose alternate link is named by the IANA IRI
PLACES = {**{i: now for i, (_, now) in OLD.items()}, TODAY: "/en/today/a-79400055",
          ATOM_IRI: "/de/atom-iri/a-79400056"}


def _site(hit):
    path = hit.path.split("?")[0]
    xml = [("Content-Type", "application/xml; charset=utf-8")]
    if path == "/en/news-sitemap.xml":
        return response("200 OK", xml, (
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f'<url><loc>{OLD[79400051][0]}</loc></url>'
            f'<url><loc>https://www.dw.com{PLACES[TODAY]}</loc></url></urlset>').encode())
    if path == "/de/news-sitemap.xml":
        return response("200 OK", xml, (
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f'<url><loc>{OLD[79400053][0]}</loc></url></urlset>').encode())
    if path == "/rdf/rss-en-all":
        return response("200 OK", xml, (
            '<rss version="2.0"><channel xml:base="http://www.dw.de/"><title>DW</title>'
            + "".join(f"<item><title>t</title><link>{OLD[i][0]}</link></item>" for i in (79400052, 79400054))
            + "</channel></rss>").encode())
    if path == "/rdf/rss-de-all":
        return response("200 OK", xml, _atom(
            f'<link rel="{IANA}alternate" href="https://www.dw.com{PLACES[ATOM_IRI]}"/>',
            f'<link rel="{IANA}enclosure" href="https://www.dw.com/audio.mp3"/>',  # no usable link
            "<summary>no link at all</summary>"))
    if path.startswith("/p/"):
        content_id = dw.decode_short_code(path[3:])
        if content_id in PLACES:
            return response("301 Moved Permanently", [("Location", f"https://www.dw.com{PLACES[content_id]}")])
    content_id = content_id_of(path)
    if content_id in PLACES and path == PLACES[content_id]:
        lang, slug = path.split("/")[1:3]
        return ok(content_id, lang=lang, slug=slug)
    return None


@pytest.fixture(scope="module")
def old_hosts(tmp_path_factory):
    work = tmp_path_factory.mktemp("old-hosts")
    with serving(_site) as wire:
        run = crawl(wire, work / "dw.db", "-a", "lang=en,de", "-a", "sources=news,feeds")
    return run, work / "dw.db", wire


def test_old_host_urls_in_listings_are_archived_through_their_short_links(old_hosts):
    run, db, wire = old_hosts
    assert run.returncode == 0, run.stderr[-3000:]
    assert archived_ids(db) == set(PLACES)
    asked = set(wire.paths())
    assert {f"/p/{dw.encode_short_code(i)}" for i in OLD} <= asked
    assert not [p for p in asked if "old-story/a-" in p and not p.startswith("/en/")]  # no dw.de path
    stats = last_run(db)["stats"]
    assert stats["dw/discovery/via_short_link"] == len(OLD)
    assert not {k: v for k, v in stats.items() if k.startswith(("dw/failed", "dw/blocked"))}
    codes = dict(query(db, "SELECT article_id, code FROM short_links"))
    assert {i: codes.get(i) for i in OLD} == {i: dw.encode_short_code(i) for i in OLD}


def test_the_iana_iri_relation_is_followed_and_linkless_entries_counted(old_hosts):
    run, db, wire = old_hosts
    assert ATOM_IRI in archived_ids(db)
    assert last_run(db)["stats"]["dw/discovery/entry_without_link"] == 2
    assert ("2 entries of the feeds atom at https://rss.dw.com/rdf/rss-de-all have no usable link"
            in run.stderr)


# -- articles that are another article ------------------------------------------------------------

MERGED = 79400061  # where three old articles now redirect
GONE = (79400062, 79400063, 79400064)


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    work = tmp_path_factory.mktemp("merged")

    def respond(hit):
        content_id = content_id_of(hit.path)
        if content_id in GONE:
            return response("301 Moved Permanently", [("Location", f"/en/merged/a-{MERGED}")])
        return ok(MERGED, slug="merged") if content_id == MERGED else None

    urls = ",".join(f"https://www.dw.com/en/old/a-{i}" for i in GONE)
    with serving(respond) as wire:
        run = crawl(wire, work / "dw.db", "-a", f"urls={urls}")
    return run, work / "dw.db"


def test_articles_that_turn_out_to_be_one_other_article_are_lost_not_skipped(merged):
    run, db = merged
    assert archived_ids(db) == {MERGED}
    stats = last_run(db)["stats"]
    assert stats["dw/failed/article/serves_another_article"] == 2
    assert "dw/skipped/already_scheduled" not in stats
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == "dw crawl failed: most article requests failed (2 of 3)"
