"""Discovery as plain functions: sitemap and feed dialects, pasted URLs (their dates:
tests/test_dates.py).

Inputs are written here as sites and feeds write them; expected values are worked out by hand
(the UTC instant of each date, the entries a reader sees). The same kinds are checked through
the real crawl in tests/test_discovery_crawl.py.
"""

from __future__ import annotations

import gzip

import pytest

from crawler.arguments import ArgumentError, clean_pasted_url, parse_arguments, read_urls
from crawler.discovery import NotReadable, read_listing

SM = "http://www.sitemaps.org/schemas/sitemap/0.9"
SMS = "https://www.sitemaps.org/schemas/sitemap/0.9"
ONE = "https://www.dw.com/en/story-one/a-79100051"
TWO = "https://www.dw.com/en/story-two/a-79100052"


def urlset(open_tag: str, close_tag: str, prefix: str = "", extra: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    stamp = "2026-11-05T08:00:00Z"
    rows = "".join(f"<{p}url><{p}loc>{u}</{p}loc><{p}lastmod>{stamp}</{p}lastmod>{extra}</{p}url>"
                   for u in (ONE, TWO))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{open_tag}{rows}{close_tag}'.encode()


SITEMAPS = {
    "sitemaps.org over http": urlset(f'<urlset xmlns="{SM}">', "</urlset>"),
    "sitemaps.org over https": urlset(f'<urlset xmlns="{SMS}">', "</urlset>"),
    "Google 0.84": urlset('<urlset xmlns="http://www.google.com/schemas/sitemap/0.84">', "</urlset>"),
    "Google 0.9": urlset('<urlset xmlns="http://www.google.com/schemas/sitemap/0.9">', "</urlset>"),
    "no namespace": urlset("<urlset>", "</urlset>"),
    "prefix sm": urlset(f'<sm:urlset xmlns:sm="{SM}">', "</sm:urlset>", "sm"),
    "prefix s, https": urlset(f'<s:urlset xmlns:s="{SMS}">', "</s:urlset>", "s"),
    "undeclared prefix": urlset("<sm:urlset>", "</sm:urlset>", "sm"),
    "hreflang and image": urlset(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml"'
        ' xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">', "</urlset>",
        extra='<xhtml:link rel="alternate" hreflang="de" href="https://www.dw.com/de/x/a-1"/>'
              "<image:image><image:loc>https://www.dw.com/en/photo/g-2</image:loc></image:image>"),
    "video extension": urlset(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        ' xmlns:video="http://www.google.com/schemas/sitemap-video/1.1">', "</urlset>",
        extra="<video:video><video:content_loc>https://www.dw.com/v.mp4</video:content_loc>"
              "<video:publication_date>2027-01-01T00:00:00Z</video:publication_date></video:video>"),
    "gzip": gzip.compress(urlset(f'<urlset xmlns="{SM}">', "</urlset>")),
    "upper-case tags": urlset("<URLSET>", "</URLSET>").replace(b"url>", b"URL>").replace(b"loc>", b"LOC>")
                                                      .replace(b"lastmod>", b"LastMod>"),
    "blank lines before the XML declaration": b"\n\n  " + urlset("<urlset>", "</urlset>"),
    "BOM and comments": b"\xef\xbb\xbf" + urlset(
        f'<!-- generated --><urlset xmlns="{SMS}">', "</urlset>"),
}


@pytest.mark.parametrize("body", SITEMAPS.values(), ids=SITEMAPS.keys())
def test_every_sitemap_dialect_lists_both_pages_with_their_lastmod(body):
    listing = read_listing(body)
    assert listing.kind == "urlset"
    assert [e.loc for e in listing.entries] == [ONE, TWO]
    assert [e.dates for e in listing.entries] == [(("lastmod", "2026-11-05T08:00:00Z"),)] * 2


@pytest.mark.parametrize("ns", ["http://www.sitemaps.org/schemas/sitemap/0.9",
                                "https://www.sitemaps.org/schemas/sitemap/0.9", None])
def test_sitemap_indexes_in_every_namespace_form(ns):
    xmlns = f' xmlns="{ns}"' if ns else ""
    body = (f"<sitemapindex{xmlns}><sitemap><loc>https://www.dw.com/en/a.xml</loc>"
            "<lastmod>2026-11-05</lastmod></sitemap><sitemap><loc> https://www.dw.com/en/b.xml </loc>"
            "</sitemap></sitemapindex>").encode()
    listing = read_listing(body)
    assert listing.kind == "sitemapindex"
    assert [e.loc for e in listing.entries] == ["https://www.dw.com/en/a.xml", "https://www.dw.com/en/b.xml"]


def test_news_sitemap_gives_publication_date_first_and_lastmod():
    body = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
            b' xmlns:n="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>' + ONE.encode()
            + b"</loc><lastmod>2026-11-29T13:15:02Z</lastmod><n:news><n:publication_date>2026-11-28T08:00:00Z"
              b"</n:publication_date></n:news></url></urlset>")
    (entry,) = read_listing(body).entries
    assert entry.dates == (("publication_date", "2026-11-28T08:00:00Z"), ("lastmod", "2026-11-29T13:15:02Z"))


FEEDS = {
    "RSS 1.0 (RDF), DW's form": (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
        b' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="x"/>'
        b'<item rdf:about="' + ONE.encode() + b'"><link>' + ONE.encode() + b"</link>"
        b"<dc:date>2026-11-05T09:00:00+01:00</dc:date></item></rdf:RDF>",
        [(ONE, (("date", "2026-11-05T09:00:00+01:00"),))]),
    "RSS 2.0": (
        b"<rss version='2.0'><channel><item><link>" + ONE.encode() + b"</link>"
        b"<pubDate>Thu, 05 Nov 2026 08:00:00 GMT</pubDate></item>"
        b"<item><guid>" + TWO.encode() + b"</guid></item></channel></rss>",
        [(ONE, (("pubDate", "Thu, 05 Nov 2026 08:00:00 GMT"),)), (TWO, ())]),
    "Atom, id as the only URL": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>' + ONE.encode() + b"</id></entry>"
        b"<entry><id>tag:dw.com,2026:79100052</id></entry></feed>",
        [(ONE, ())]),
    "Atom": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="enclosure" href="https://x/y.mp3"/>'
        b'<link href="' + ONE.encode() + b'"/><published>2026-11-05T08:00:00Z</published>'
        b"<updated>2026-11-06T10:00:00Z</updated></entry></feed>",
        [(ONE, (("published", "2026-11-05T08:00:00Z"), ("updated", "2026-11-06T10:00:00Z")))]),
}


@pytest.mark.parametrize("body,expected", FEEDS.values(), ids=FEEDS.keys())
def test_feed_dialects(body, expected):
    assert [(e.loc, e.dates) for e in read_listing(body).entries] == expected


def test_relative_locations_are_resolved_against_the_listing():
    body = b"<rss><channel><item><link>/en/story-one/a-79100051</link></item></channel></rss>"
    assert [e.loc for e in read_listing(body, base_url="https://www.dw.com/").entries] == [ONE]


@pytest.mark.parametrize("body", [b"", b"not xml at all", b"<html><body>404</body></html>",
                                  b"\x1f\x8b\x08\x00garbage"])
def test_what_is_not_a_listing_is_refused(body):
    with pytest.raises(NotReadable):
        read_listing(body)


@pytest.mark.parametrize("body", [b"<urlset/>", b'<urlset xmlns="https://www.sitemaps.org/schemas/sitemap/0.9">'
                                  b"<url><loc> </loc></url></urlset>", b"<rss><channel/></rss>"])
def test_a_listing_without_entries_reads_as_empty(body):
    assert read_listing(body).entries == []


# -- pasted URLs ---------------------------------------------------------------------------------

PASTED = [
    ("www.dw.com/en/covid-rules/a-79100091", "https://www.dw.com/en/covid-rules/a-79100091"),
    ("dw.com/en/covid-rules/a-79100091", "https://dw.com/en/covid-rules/a-79100091"),
    ("p.dw.com/p/5LtXw", "https://p.dw.com/p/5LtXw"),
    ("//www.dw.com/en/chancellor-speech/a-79100092", "https://www.dw.com/en/chancellor-speech/a-79100092"),
    ("  https://www.dw.com/en/x/a-1  ", "https://www.dw.com/en/x/a-1"),
    ('"https://www.dw.com/en/x/a-1"', "https://www.dw.com/en/x/a-1"),
    ("'www.dw.com/en/x/a-1'", "https://www.dw.com/en/x/a-1"),
    ("<https://www.dw.com/en/x/a-1>", "https://www.dw.com/en/x/a-1"),
    ("«www.dw.com/en/x/a-1»", "https://www.dw.com/en/x/a-1"),
    ("(see https://www.dw.com/en/x/a-1).", "https://www.dw.com/en/x/a-1"),
    ("[Headline](https://www.dw.com/en/x/a-1)", "https://www.dw.com/en/x/a-1"),
    ("read this: www.dw.com/en/x/a-1 !", "https://www.dw.com/en/x/a-1"),
    ("m.dw.com/en/x/a-1", "https://m.dw.com/en/x/a-1"),
    ("\u00a0https://www.dw.com/en/x/a-1?maca=en-rss\u200b", "https://www.dw.com/en/x/a-1?maca=en-rss"),
    ("no url here", "no url here"),
    ("https://www.dw.com/en/x/a-1.", "https://www.dw.com/en/x/a-1"),
    ("https://www.dw.com/en/x/a-1,", "https://www.dw.com/en/x/a-1"),
    ("https://www.dw.com/en/x/a-1!?", "https://www.dw.com/en/x/a-1"),
    ("HTTPS://WWW.DW.COM/en/x/a-1", "HTTPS://WWW.DW.COM/en/x/a-1"),
    ("WWW.DW.COM/en/x/a-1", "https://WWW.DW.COM/en/x/a-1"),
    ("http://www.dw-world.de/dw/article/0,,79010006,00.html", "http://www.dw-world.de/dw/article/0,,79010006,00.html"),
    ("www.dw.de/x/a-16825046", "https://www.dw.de/x/a-16825046"),
]


@pytest.mark.parametrize("pasted,clean", PASTED, ids=[p for p, _ in PASTED])
def test_urls_as_people_paste_them(pasted, clean):
    assert clean_pasted_url(pasted) == clean


def test_a_list_split_by_lines_semicolons_and_blanks():
    assert read_urls("www.dw.com/en/a/a-1\n//www.dw.com/en/b/a-2; p.dw.com/p/5LtXw dw.com/en/c/a-3") == [
        "https://www.dw.com/en/a/a-1", "https://www.dw.com/en/b/a-2", "https://p.dw.com/p/5LtXw",
        "https://dw.com/en/c/a-3"]


def test_a_pasted_list_splits_where_each_url_starts():
    pasted = (' www.dw.com/en/a/a-1, "//www.dw.com/en/b/a-2",<p.dw.com/p/5LtXw>,'
              "http://www.dw-world.de/dw/article/0,,79010006,00.html, dw.com/en/c/a-3.")
    assert read_urls(pasted) == ["https://www.dw.com/en/a/a-1", "https://www.dw.com/en/b/a-2",
                                 "https://p.dw.com/p/5LtXw",
                                 "http://www.dw-world.de/dw/article/0,,79010006,00.html",
                                 "https://dw.com/en/c/a-3"]


@pytest.mark.parametrize("urls", ["not a url", "https://example.com/en/x/a-1, ftp://www.dw.com/x",
                                  "www.dw.com/en/some-topic/t-123", " , ,"])
def test_a_url_list_with_nothing_usable_is_a_bad_argument(urls):
    with pytest.raises(ArgumentError, match="none of the"):
        parse_arguments(urls=urls)


def test_an_empty_url_file_is_a_bad_argument(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text("# nothing yet\n\n")
    with pytest.raises(ArgumentError, match="none of the 0 URLs"):
        parse_arguments(urls=f"@{listing}")
