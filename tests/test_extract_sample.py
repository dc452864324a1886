"""The bundled sample site: every page yields exactly the fields its spec says it shows."""

from __future__ import annotations

import json

import pytest

from crawler import dw
from crawler.extract import NotAnArticle, extract
from devtools.sitegen import path_of, render_article
from tests.conftest import ROOT, SEED_TEXT, needs_shared

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
SITE = ROOT / "data" / "sample-site"
ARTICLES = {a["id"]: a for a in SPEC["articles"]}

# What each credit line printed in the sample must yield, written out by hand from FACTS.md.
AGENCIES = {
    "kms/ccp (AP, AFP, Reuters, dpa)": ["AP", "AFP", "Reuters", "dpa"],
    "mm, tg, rc/msh (Reuters, AP)": ["Reuters", "AP"],
    "pg/AR/kle (dpa, afp)": ["dpa", "AFP"],
    "FEW (ANSA, EFE)": ["ANSA", "EFE"],
    "Edited by: Wesley Dockery": [],
    "This article was written using material from the DPA news agency.": ["dpa"],
    "This article was originally written in German.": [],
    "kle/jj (kna, dpa, rtr, afp)": ["KNA", "dpa", "Reuters", "AFP"],
    "ch/se (dpa, AFP)": ["dpa", "AFP"],
    "ab/cd (epd, SID)": ["epd", "SID"],
    "rk/uh (KNA, epd)": ["KNA", "epd"],
    "FEW (dpa, EFE)": ["dpa", "EFE"],
    "sn/asz (SID, dpa)": ["SID", "dpa"],
    "jj/kle (afp, rtr)": ["AFP", "Reuters"],
    "ع.ش/ ح.ز (رويترز، أ ف ب)": ["Reuters", "AFP"],
    "م.أ.م/ ع.ج.م (د ب أ، رويترز)": ["dpa", "Reuters"],
    "ص.ش/ ع.غ (أ ب، أ ف ب)": ["AP", "AFP"],
    "ع.غ/ ص.ش (د ب أ)": ["dpa"],
    "ح.ز/ م.س (رويترز)": ["Reuters"],
    "md/lf (Reuters, AFP, Lusa, ots)": ["Reuters", "AFP", "Lusa", "ots"],
    "Edited by: Roberto Crescenti": [],
    "lf (EFE, ots)": ["EFE", "ots"],
    "ek (Lusa, DW)": ["Lusa"],
    "ers (EFE, AFP)": ["EFE", "AFP"],
    "lgc (dpa, Reuters)": ["dpa", "Reuters"],
    "cp (EFE, Europa Press)": ["EFE", "Europa Press"],
    "rml (EFE, dpa, AFP)": ["EFE", "dpa", "AFP"],
    "few (AP, Reuters)": ["AP", "Reuters"],
}


def page(article_id: int) -> bytes:
    return (SITE / f"{path_of(ARTICLES[article_id])}.html").read_bytes()


@pytest.mark.parametrize("article_id", sorted(ARTICLES))
def test_sample_page_fields(article_id):
    spec = ARTICLES[article_id]
    got = extract(page(article_id))
    assert got.id == spec["id"]
    assert got.language == spec["language"]
    assert got.url == dw.article_url(spec["language"], spec["slug"], spec["id"])
    assert got.short_url == f"https://p.dw.com/p/{dw.encode_short_code(spec['id'])}"
    assert (got.title, got.teaser) == (spec["title"], spec["teaser"])
    assert got.body == "\n\n".join(b.removeprefix("## ") for b in spec["blocks"])
    assert got.subheads == [b[3:] for b in spec["blocks"] if b.startswith("## ")]
    assert got.authors == spec["authors"]
    assert got.topics == spec["topics"]
    assert got.credit_line == spec["credit_line"]
    assert got.agencies == AGENCIES.get(spec["credit_line"], [])
    assert got.images == spec["images"]
    if "T" in spec["published_at"] and not spec.get("no_structured_data"):
        assert got.published_at == spec["published_at"]
        assert got.modified_at == spec["modified_at"]
    else:
        assert got.published_at == spec["published_at"][:10]


def test_every_sample_credit_line_has_a_hand_written_answer():
    lines = {a["credit_line"] for a in SPEC["articles"] if a["credit_line"]}
    assert lines <= set(AGENCIES)


def test_seed_article():
    got = extract(page(16825046))
    assert got.agencies == ["AP", "AFP", "Reuters", "dpa"]
    assert got.credit_line == "kms/ccp (AP, AFP, Reuters, dpa)"
    assert got.short_url == "https://p.dw.com/p/18axi"
    assert got.images[0]["credit"] == "Joseph Eid/AFP/Getty Images"
    assert "Diplomats plan week of Syria talks" in got.body
    assert "kms/ccp" not in got.body
    assert got.authors == []  # unsigned agency copy: "Deutsche Welle" is not a person


@needs_shared(SEED_TEXT)
def test_seed_page_carries_the_seed_text():
    seed = SEED_TEXT.read_text(encoding="utf-8")
    got = extract(page(16825046))
    for paragraph in got.body.split("\n\n"):
        assert paragraph in seed
    assert got.title in seed and got.teaser in seed and got.credit_line in seed


def test_right_to_left_page():
    arabic = [a for a in ARTICLES.values() if a["language"] == "ar"]
    got = extract(page(arabic[0]["id"]))
    assert got.language == "ar"
    assert got.url.startswith("https://www.dw.com/ar/%D9%82%D9%85%D8%A9")
    assert got.title == arabic[0]["title"]


def test_page_without_structured_data_uses_the_dom():
    spec = next(a for a in ARTICLES.values() if a.get("no_structured_data"))
    text = page(spec["id"]).decode()
    assert "ld+json" not in text and "__APP_STATE__" not in text
    got = extract(text)
    assert (got.title, got.authors) == (spec["title"], spec["authors"])
    assert got.published_at == spec["published_at"][:10]


@pytest.mark.parametrize("item", SPEC["others"], ids=lambda i: i["type"])
def test_non_articles_are_refused_with_their_kind(item):
    html = (SITE / f"{path_of(item)}.html").read_bytes()
    with pytest.raises(NotAnArticle) as caught:
        extract(html)
    assert caught.value.id == item["id"]
    if item["type"] == "live":
        # A live blog is read like an article (kind "live"); this one has no posts yet.
        assert "no article text" in caught.value.reason
    else:
        assert "not an article" in caught.value.reason


def test_structured_data_wins_over_the_dom_for_the_headline():
    spec = dict(ARTICLES[79010001])
    html = render_article(spec).replace(f">{spec['title']}</h1>", ">A different DOM headline</h1>")
    assert extract(html).title == spec["title"]


def test_a_shortened_structured_headline_gives_way_to_the_full_one_shown():
    spec = dict(ARTICLES[79010001])
    html = render_article(spec).replace(f'"headline": "{spec["title"]} "', '"headline": "EU leaders agree…"')
    assert '"headline": "EU leaders agree…"' in html
    assert extract(html).title == spec["title"]


def test_a_day_printed_the_chinese_way():
    spec = dict(ARTICLES[79050004])  # the page without structured data
    html = render_article(spec).replace(">29.10.2026</time>", ">2026年10月29日</time>")
    assert extract(html).published_at == "2026-10-29"


def test_the_committed_sample_site_is_what_its_spec_generates(tmp_path):
    from devtools.sitegen import write_site

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    write_site(SPEC, tmp_path / "site")
    generated, committed = files(tmp_path / "site"), files(SITE)
    assert generated.keys() == committed.keys()
    stale = [str(path) for path in generated if generated[path] != committed[path]]
    assert stale == [], f"regenerate with python -m devtools.sitegen (stale: {stale[:3]})"
