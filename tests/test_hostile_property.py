"""Hostile pages, generated (hypothesis): through the real extractor (many) and through a real
`scrapy crawl dw` against the mirror (a few in one crawl).

A hostile page is a DW article page with some of: elements nested thousands deep, attributes of
megabytes, hundreds of thousands of attributes on one element or of distinct names, its bytes
in another encoding (declared, mislabelled or broken), its JSON-LD or page state cut, garbled
or nested past Python's recursion, control characters and lone surrogates.
Whatever the page, the extractor returns an article or refuses it with `NotAnArticle` (never
another exception), within a time bound; the crawl archives it or counts why not (never a
traceback, never an uncounted loss), and no page stalls it.
"""

from __future__ import annotations

import json
import re
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import NotAnArticle, extract, page
from crawler.settings import DOWNLOAD_MAXSIZE
from devtools.demo import crawl_command
from devtools.sitegen import render_article, url_of
from tests.crawling import archived_ids, last_run, running_mirror
from tests.hostile import articles, measured, nested, write_hostile_site

# A page must be read or refused in this long (CPU time): a plain page takes about 2 ms, the
# slowest generated one (24 MB: three 2 MB attributes in UTF-16) 0.25 s; eight times that, for
# a busy machine. Before pages were refused unparsed, 30,000 nested elements took 3 s and more.
PAGE_SECONDS = 2.0
ARTICLE = articles(1)[0]
PAGE = render_article(ARTICLE)

TAGS = ("div", "span", "p", "b", "a", "table", "ul", "li", "section", "font", "select", "svg",
        "template", "td", "h2", "figure", "i", "em")
CHARSETS = ("utf-8", "utf-16", "utf-16-le", "windows-1252", "iso-8859-1", "shift_jis", "gb18030",
            "koi8-r", "cp1256", "bogus-charset", "utf-7")
ODD_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=()), max_size=40) | \
    st.sampled_from(["\x00", "\ufffd", "\ud83d", "\u202e", "\ufeff", "\r\n\r\n", "&#0;", "&#xD800;",
                     "]]>", "<!--", "-->", "</script>", "\\u0000", "\\ud83d", "\\", '"', "{", "[,"])


@st.composite
def deep_markup(draw) -> str:
    tags = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=3))
    depth = draw(st.sampled_from([30000, 5000, 2100, 1100, 600, 50]))
    closed = draw(st.booleans())
    inner = draw(st.sampled_from(["x", "<p>deep words</p>", ""]))
    opening = "".join(f"<{tags[n % len(tags)]}>" for n in range(depth))
    closing = "".join(f"</{tags[n % len(tags)]}>" for n in reversed(range(depth))) if closed else ""
    return opening + inner + closing


@st.composite
def huge_attribute(draw) -> str:
    size = draw(st.sampled_from([2_000_000, 300_000, 10_000]))
    char = draw(st.sampled_from(["a", "é", "\"", "<", "&amp;", " "]))
    name = draw(st.sampled_from(["class", "data-x", "href", "style", "srcset"]))
    value = (char * (size // len(char))).replace('"', "&quot;")
    tag = draw(st.sampled_from(["div", "img", "p", "a", "meta"]))
    return f'<{tag} {name}="{value}">'


@st.composite
def many_attributes(draw) -> str:
    """Markup costly by its attributes: many on one element (distinct, repeated, quoted as
    HTML's tokenizer reads names, separated by `/`), or many distinct names over many elements;
    counts around the limits (`crawler.extract.page`) and far past them."""
    how = draw(st.sampled_from(["one-element", "repeated-name", "names-over-elements"]))
    if how == "names-over-elements":
        count = draw(st.sampled_from([200_000, 60_000, 1001, 1000, 300]))
        per = draw(st.sampled_from([1, 3, 256]))
        return "".join(f'<i {" ".join(f"n{n}-{k}" for k in range(per))}>x</i>'
                       for n in range(count // per))
    count = draw(st.sampled_from([300_000, 40_000, 5000, 257, 256, 20]))
    name = draw(st.sampled_from(["a{n}", '"a{n}', "'a{n}", "=a{n}", "data-x{n}", "a"]))
    if how == "repeated-name":
        name = "a"
    value = draw(st.sampled_from(["", '=""', "=v", "='>'", '="x y"']))
    separator = draw(st.sampled_from([" ", "/", "\n", ""])) if value in ('=""', "='>'") else \
        draw(st.sampled_from([" ", "/", "\n"]))
    tag = draw(st.sampled_from(["p", "div", "img", "a", "meta", "svg"]))
    return f"<{tag} " + separator.join(name.format(n=n) + value for n in range(count)) + ">x"


def _json_part(page: str, which: str) -> tuple[int, int]:
    marker = '<script type="application/ld+json">' if which == "ld" else "window.__APP_STATE__="
    start = page.index(marker) + len(marker)
    return start, page.index("</script>", start)


@st.composite
def broken_json(draw):
    """Something done to the page's JSON-LD or page state: cut, garbled, nested past recursion."""
    which = draw(st.sampled_from(["ld", "state"]))
    how = draw(st.sampled_from(["cut", "garble", "deep", "deep-object", "replace", "huge-string"]))
    at = draw(st.floats(0, 1))
    odd = draw(ODD_TEXT)
    depth = draw(st.sampled_from([100_000, 5000, 1000, 900] if how == "deep" else [3000, 900]))
    other = draw(st.sampled_from(["null", "[]", "1e999999", '"x"', "{}", "[{}]", "-", "true",
                                  '{"@graph": ' + "[" * 950 + "]" * 950 + "}",
                                  '{"@type": ["NewsArticle", 5], "headline": {"x": 1}}']))

    def apply(page: str) -> str:
        start, end = _json_part(page, which)
        data = page[start:end]
        cut = int(at * len(data))
        if how == "cut":
            data = data[:cut]
        elif how == "garble":
            data = data[:cut] + odd + data[cut:]
        elif how == "deep":
            data = data.replace("{", '{"x": ' + "[" * depth + "]" * depth + ", ", 1)
        elif how == "deep-object":
            data = '{"a":' * depth + data + "}" * depth
        elif how == "replace":
            data = other
        else:
            data = data.replace('"title": "', '"title": "' + "x" * 2_000_000, 1)
        return page[:start] + data + page[end:]
    return apply


KINDS = ("deep", "attribute", "attributes", "json", "text")
ANCHORS = re.compile(r"<body>|<main>|rich-text t1r94ulj\">|<h1 [^>]*>|</p>")  # where insertions go


@st.composite
def hostile(draw, first: str | None = None):
    """A way to make any generated article page hostile: `make(page) -> bytes`; its first change
    of the kind `first` when given (`deep`, `attribute`, `attributes`, `json`, `text`)."""
    steps = []
    for n in range(draw(st.integers(1, 3))):
        kind = first if n == 0 and first else draw(st.sampled_from(KINDS))
        if kind == "json":
            steps.append(draw(broken_json()))
            continue
        insert = (draw(deep_markup()) if kind == "deep" else draw(huge_attribute()) if kind == "attribute"
                  else draw(many_attributes()) if kind == "attributes" else draw(ODD_TEXT))
        where = draw(st.integers(0, 1000))

        def step(page: str, insert=insert, where=where) -> str:
            anchors = [m.end() for m in ANCHORS.finditer(page)]
            at = anchors[where % len(anchors)]
            return page[:at] + insert + page[at:]
        steps.append(step)
    charset = draw(st.sampled_from(CHARSETS))
    declare = draw(st.booleans())
    encoding = draw(st.sampled_from(["utf-8", charset]))
    errors = draw(st.sampled_from(["surrogatepass", "replace", "ignore", "xmlcharrefreplace"]))

    def make(page: str) -> bytes:
        for step in steps:
            page = step(page)
        if declare:
            page = page.replace('<meta charset="utf-8">', f'<meta charset="{charset}">', 1)
        try:
            return page.encode(encoding, errors=errors)
        except LookupError:  # a charset Python does not know: declared, the bytes are UTF-8
            return page.encode("utf-8", errors="surrogatepass")
        except UnicodeEncodeError:  # surrogatepass is for UTF codecs only
            return page.encode(encoding, errors="replace")
    return make


def read(page: bytes, article: dict = ARTICLE) -> str:
    """What the extractor makes of a page: `article` or `refused`; anything raised otherwise fails."""
    try:
        found = extract(page, url=url_of(article), encoding=None)
    except NotAnArticle as exc:
        assert exc.reason
        return "refused"
    assert found.id == article["id"] and found.title and found.body
    json.dumps(found.__dict__, default=str)  # storable as the archive and exports store it
    return "article"


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile())
def test_the_extractor_reads_or_refuses_any_hostile_page_in_bounded_time(make):
    page = make(PAGE)
    started = time.process_time()
    read(page)
    assert time.process_time() - started < PAGE_SECONDS


def test_the_plain_page_is_read():  # the generated pages start from a page the extractor reads
    assert read(PAGE.encode()) == "article"


# Two crawls (the first of minimal pages: hypothesis starts with those), each of two hostile
# pages of each kind and two plain ones.
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.tuples(*(hostile(kind) for kind in KINDS for _ in range(2))))
def test_a_crawl_of_hostile_pages_archives_or_counts_each_and_never_stalls(tmp_path_factory, makers):
    tmp = tmp_path_factory.mktemp("hostile-crawl")
    spec = articles(len(makers) + 2)
    made = {a["id"]: make(render_article(a)) for a, make in zip(spec[1:], makers, strict=False)}
    write_hostile_site(tmp / "site", spec, {i: (lambda article, page: made[article["id"]]) for i in made})
    # A page over the crawl's DOWNLOAD_MAXSIZE is cancelled by the download, before any
    # extraction: counted as too large, not read.
    expected = {a["id"]: "too_large" if len(made[a["id"]]) > DOWNLOAD_MAXSIZE else read(made[a["id"]], a)
                for a in spec[1:-1]}
    db = tmp / "dw.db"
    with running_mirror(tmp / "site", tmp / "access.log") as origin:
        run = measured(crawl_command(origin, db, "-a", "lang=en", "-s", "ROBOTSTXT_OBEY=False"))
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.cpu_seconds < 120 and run.peak_mib < 1024, (run.cpu_seconds, run.peak_mib)
    stats = last_run(db)["stats"]
    archived = archived_ids(db)
    # The two plain articles, and each hostile page the extractor reads, are archived; each
    # refused one is counted as refused: nothing lost without a count.
    assert {spec[0]["id"], spec[-1]["id"]} <= archived
    assert {i for i, verdict in expected.items() if verdict == "article"} <= archived
    refused = sum(1 for verdict in expected.values() if verdict == "refused")
    assert stats.get("dw/failed/not_an_article", 0) == refused
    too_large = sum(1 for verdict in expected.values() if verdict == "too_large")
    assert stats.get("dw/failed/article/too_large", 0) == too_large
    assert stats["dw/fetched"] == len(archived) + refused
    assert not any(k.startswith(("dw/failed/extraction", "dw/failed/pipeline")) for k in stats)
    assert run.returncode == (3 if 2 * refused > len(spec) else 0), run.stderr[-2000:]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile("attributes"))
def test_attribute_heavy_pages_are_read_or_refused_in_bounded_time(make):
    page = make(PAGE)
    started = time.process_time()
    read(page)
    assert time.process_time() - started < PAGE_SECONDS


def test_a_100000_level_page_is_refused_before_parsing_in_milliseconds():
    page = PAGE.replace("<body>", "<body>" + nested("div", 100_000), 1).encode()
    assert 1_100_000 < len(page) < 1_300_000  # the page: 1.2 MB
    started = time.process_time()
    assert read(page) == "refused"
    assert time.process_time() - started < PAGE_SECONDS  # lexbor alone took 39 s on it


def _counts_of_the_lowered_text(html: str) -> tuple[int, int, int]:
    """The attribute counts as first defined: every name read from the tags' text lowercased
    whole (the oracle of the test below; it lowers far more text than the extractor does)."""
    regions = page._START_TAG.findall(html)
    widest = max((len(page._ATTRIBUTE.findall(region)) for region in regions
                  if len(region) > 2 * page.MAX_ATTRIBUTES_PER_ELEMENT), default=0)
    names = page._ATTRIBUTE.findall(" ".join(regions).lower())
    return widest, len(names), len(set(names))


# Start tags of names that lowercase alike (capitals; a Greek capital sigma, which Python lowers
# by its neighbours: a final ς after a letter; a dotted capital I, lowered to two characters),
# between the separators and values that decide where a name starts and ends.
NAMES = st.sampled_from(["a", "A", "b", "B", "Σ", "σ", "ς", "aΣ", "AΣ", "İ", "i\u0307", "é", "É", "x:y"])
GLUE = st.sampled_from([" ", "\t", "/", "='v'", '="v"', "=v ", "='", "=", "'", '"', ">", "<p ", "<P\n"])
TAG = st.lists(st.tuples(NAMES, GLUE), max_size=10).map(lambda pairs: "".join(n + g for n, g in pairs))


@settings(max_examples=200, deadline=None)
@given(st.lists(TAG, max_size=6))
def test_attribute_names_are_counted_as_in_the_lowercased_text(tags):
    html = "".join("<p " + tag for tag in tags)
    assert page.attribute_counts(html) == _counts_of_the_lowered_text(html)


def test_a_deep_page_reads_the_same_whatever_the_callers_stack():
    # The body's blocks are read recursively: a page of 1,500 nested blocks (within MAX_DEPTH)
    # was an article under hypothesis (which raises Python's recursion limit) and refused as
    # too deep in a crawl, flakily failing the crawl test above. Now the same either way.
    page = re.sub(r'(rich-text t1r94ulj">)', lambda m: m[1] + nested("div", 1500, "<p>Deep words.</p>"),
                  PAGE, count=1).encode()
    limit = sys.getrecursionlimit()

    def at_depth(frames: int) -> str:
        return at_depth(frames - 1) if frames else read(page)

    try:
        sys.setrecursionlimit(1000)
        assert at_depth(0) == at_depth(600) == "article"
    finally:
        sys.setrecursionlimit(max(limit, sys.getrecursionlimit()))
