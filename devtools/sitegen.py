"""Write a synthetic dw.com in DW's current markup, for the local mirror.

    python -m devtools.sitegen data/sample-articles.json data/sample-site   # the bundled sample
    python -m devtools.sitegen --synthetic 2000 /tmp/site                    # a large site

A spec lists articles (the fields a page must yield) and other content (videos, galleries,
topic pages); every article appears in its language's news or article sitemap and feed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from urllib.parse import quote

from crawler import dw

ROBOTS = """User-agent: *
Disallow: /search/
Disallow: /overlay/
Disallow: /popups/mediaplayer/
Disallow: /popups/popup_gallery/

User-agent: Googlebot
User-agent: Bingbot
Disallow: /*?*
Disallow: /p/*

Sitemap: https://www.dw.com/sitemap.xml
"""
CREDIT_LABEL = {"en": "Image", "de": "Bild", "es": "Imagen", "pt-br": "Foto", "pt-002": "Foto",
                "fr": "Image", "ar": "صورة", "ru": "Фото", "tr": "Fotoğraf"}
NEWS_WINDOW_DAYS = 2  # articles this close to the newest one go in the news sitemap


def path_of(item: dict) -> str:
    """The item's path on dw.com, unencoded: `en/slug/a-123`."""
    return f"{item['language']}/{item['slug']}/{item.get('type', 'a')}-{item['id']}"


def url_of(item: dict) -> str:
    """The item's canonical URL, percent-encoded as DW prints it."""
    return f"{dw.WWW}/{quote(path_of(item))}"


def _ms(stamp: str) -> str:
    return stamp.replace("Z", ".000Z") if "T" in stamp else stamp


def _shown_day(stamp: str, lang: str) -> str:
    day = datetime.fromisoformat(stamp[:10])
    return day.strftime("%m/%d/%Y") if lang == "en" else day.strftime("%d.%m.%Y")


def _figure(image: dict, lang: str, lead: bool) -> str:
    label = CREDIT_LABEL.get(lang, "Image")
    credit = f'<small class="copyright">{label}: {escape(image["credit"])}</small>' if image.get("credit") else ""
    image_id = image["url"].rsplit("/", 1)[1].split("_")[0]
    if lead:
        img = (f'<picture class="s9gezr6"><source type="image/webp" srcset="https://static.dw.com/image/'
               f'{image_id}_800.webp 50w, https://static.dw.com/image/{image_id}_801.webp 129w">'
               f'<img alt="" src="" srcset="https://static.dw.com/image/{image_id}_600.jpg 78w"></picture>')
    else:
        img = (f'<img data-format="MASTER_LANDSCAPE" data-id="{image_id}" data-url="https://static.dw.com/'
               f'image/{image_id}_${{formatId}}.jpg" alt="">')
    return (f'<figure class="{"s4bcs45" if lead else "placeholder-image master_landscape big"}">{img}'
            f'<figcaption class="img-caption">{escape(image.get("caption") or "")}{credit}'
            f"</figcaption></figure>")


def _body_html(article: dict) -> str:
    parts = []
    images = list(article.get("images", [])[1:])
    for n, block in enumerate(article["blocks"]):
        if block.startswith("## "):
            parts.append(f"<h2>{escape(block[3:])}</h2>")
        else:
            parts.append(f"<p>{escape(block)}</p>")
        if images and n == 1:
            parts.append(_figure(images.pop(0), article["language"], lead=False))
        if n == 2:
            parts.append('<span data-slot-id="Article_InContent-1" class="rich-text-ad"></span>')
    parts += [_figure(image, article["language"], lead=False) for image in images]
    if article.get("credit_line"):
        line = escape(article["credit_line"])
        parts.append(f"<p><em>{line}</em></p>" if line.startswith("Edited by") else f"<p>{line}</p>")
    return "\n\n".join(parts)


def render_article(article: dict) -> str:
    """One article page in DW's current (2024-26) markup."""
    lang = article["language"]
    url = url_of(article)
    raw_url = f"{dw.WWW}/{path_of(article)}"
    rtl = lang in dw.RTL_LANGUAGES
    body = _body_html(article)
    people = article.get("authors", [])
    ld = {
        "@context": "https://schema.org", "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": raw_url},
        "publisher": {"@type": "Organization", "name": "Deutsche Welle"},
        "author": ([{"@type": "Person", "name": p} for p in people] if people
                   else {"@type": "Organization", "name": "Deutsche Welle"}),
        "headline": article["title"] + " ",
        "image": [i["url"] for i in article.get("images", [])[:1]],
    }
    if "T" in article["published_at"]:
        ld["datePublished"] = _ms(article["published_at"])
    if article.get("modified_at"):
        ld["dateModified"] = _ms(article["modified_at"])
    state = {"content": {"__typename": "Article", "id": article["id"], "title": article["title"],
                         "teaser": article["teaser"], "canonicalUrl": raw_url,
                         "permaLinkUrl": dw.short_url(article["id"]), "text": body,
                         "genre": "NONE" if people else "NEWS"}}
    scripts = ""
    if not article.get("no_structured_data"):
        scripts = (f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
                   f'<script>window.__APP_STATE__={json.dumps(state, ensure_ascii=False)};</script>')
    topics = article.get("topics", [])
    kicker = "".join(
        f"<span>{escape(t)}</span>" if i == 0 else
        f'<span><a href="/{lang}/{quote(t.lower())}/t-{1000 + i}" class="m1ho1h07">{escape(t)}</a></span>'
        for i, t in enumerate(topics))
    authors = "".join(f'<span><a href="/{lang}/{quote(p.lower().replace(" ", "-"))}/person-1" '
                      f'class="author-link m1ho1h07">{escape(p)}</a></span>' for p in people)
    lead = article.get("images", [])[:1]
    lead_html = _figure(lead[0], lang, lead=True) if lead else ""
    short = dw.short_url(article["id"])
    og_image = f'<meta property="og:image" content="{lead[0]["url"]}">' if lead else ""
    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="{'rtl' if rtl else 'ltr'}"><head><meta charset="utf-8">
<title>{escape(article['title'])} – DW – {_shown_day(article['published_at'], 'de')}</title>
<link rel="canonical" href="{url}">
<meta property="og:url" content="{url}">
<meta property="og:title" content="{escape(article['title'])} – DW – {_shown_day(article['published_at'], 'de')}">
<meta name="description" content="{escape(article['teaser'])}">{og_image}
{scripts}</head>
<body><div id="root"><nav data-tracking-name="navigation"><a href="/{lang}">DW</a></nav>
<main><article class="sk6xmai"><div class="content-area sa7l9jt"><header class="sgeegmk">
<div data-tracking-name="content-detail-kicker" class="kicker c1wafcin">{kicker}</div>
<h1 class="daqvxdf">{escape(article['title'])}</h1>
<div class="author-details">{authors}</div>
<span class="time-area t1i8qhb9"><span class="publication"><time aria-hidden="true">{_shown_day(article['published_at'], lang)}</time></span></span>
<p class="teaser-text t1r94ulj">{escape(article['teaser'])}</p></header>
<section data-tracking-name="sharing-icons-inline" class="c75t7t0"><a href="https://www.facebook.com/sharer/sharer.php?u={short}%3Fmaca%3D{lang}-Facebook-sharing" data-tracking-name="facebook">f</a><div class="copy-button-wrapper"><span class="svdcmki">{short}</span></div></section>
{lead_html}
<div class="advertisement"><span class="label-top">Advertisement</span></div>
<div data-tracking-name="rich-text" class="c17j8gzx rich-text t1r94ulj">{body}
</div><footer><div class="feedback">Send us your feedback</div></footer></div></article></main>
<footer data-tracking-name="footer-section-main"><p>© Deutsche Welle</p></footer></div></body></html>
"""


def render_other(item: dict) -> str:
    """A page that is not an article: a video, gallery, topic or live page."""
    url = url_of(item)
    return f"""<!DOCTYPE html>
<html lang="{item['language']}"><head><meta charset="utf-8"><title>{escape(item['title'])}</title>
<link rel="canonical" href="{url}"></head>
<body><main><h1>{escape(item['title'])}</h1><p>{escape(item.get('teaser', ''))}</p></main></body></html>
"""


def render_urlset(entries: list[dict], news: bool) -> str:
    """A news sitemap (with `news:` children) or a plain article sitemap."""
    rows = []
    for item in entries:
        loc = escape(url_of(item))
        if news:
            rows.append(
                f"<url><loc>{loc}</loc><news:news><news:publication><news:name>DW</news:name>"
                f"<news:language>{item['language']}</news:language></news:publication>"
                f"<news:publication_date>{item['published_at']}</news:publication_date>"
                f"<news:title>{escape(item['title'])}</news:title></news:news></url>")
        else:
            lastmod = item.get("modified_at") or item["published_at"]
            rows.append(f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>")
    news_ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/'
            f'sitemap/0.9"{news_ns}>\n' + "\n".join(rows) + "\n</urlset>\n")


def render_index(locations: list[str]) -> str:
    """A sitemap index."""
    rows = "\n".join(f"<sitemap><loc>{escape(loc)}</loc></sitemap>" for loc in locations)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/'
            f'schemas/sitemap/0.9">\n{rows}\n</sitemapindex>\n')


def render_rdf(channel: str, lang: str, entries: list[dict]) -> str:
    """An RSS 1.0 feed like rss.dw.com's, each item with its `dwsyn:contentID`."""
    items, seq = [], []
    for item in entries:
        link = escape(f"{url_of(item)}?maca={lang}-rss-{channel}-rdf")
        seq.append(f'<rdf:li rdf:resource="{link}" />')
        items.append(f'<item rdf:about="{link}"><title>{escape(item["title"])}</title><link>{link}</link>'
                     f'<description>{escape(item.get("teaser", ""))}</description>'
                     f'<dc:date>{item["published_at"]}</dc:date><dc:language>{lang}</dc:language>'
                     f'<dwsyn:contentID>{item["id"]}</dwsyn:contentID></item>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
            '22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/'
            '1.1/" xmlns:dwsyn="http://rss.dw.com/syndication/dwsyn/">\n'
            f'<channel rdf:about="{dw.FEEDS}/rdf/{channel}"><title>DW</title><items><rdf:Seq>'
            + "".join(seq) + "</rdf:Seq></items></channel>\n" + "\n".join(items) + "\n</rdf:RDF>\n")


def write_site(spec: dict, out: Path) -> None:
    """Write every page, sitemap, feed and robots.txt of `spec` under `out` (replacing it)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "robots.txt").write_text(ROBOTS)
    articles, others = spec["articles"], spec.get("others", [])
    for article in articles:
        _write(out / f"{path_of(article)}.html", render_article(article))
    for item in others:
        _write(out / f"{path_of(item)}.html", render_other(item))
    newest = max(a["published_at"][:10] for a in articles)
    cutoff = (datetime.fromisoformat(newest) - timedelta(days=NEWS_WINDOW_DAYS)).date().isoformat()
    index = []
    for lang in sorted({a["language"] for a in articles}):
        mine = sorted((a for a in articles if a["language"] == lang), key=lambda a: a["published_at"],
                      reverse=True)
        listed = mine + [o for o in others if o["language"] == lang and o.get("listed")]
        news = [a for a in listed if a["published_at"][:10] >= cutoff]
        older = [a for a in listed if a["published_at"][:10] < cutoff]
        _write(out / lang / "news-sitemap.xml", render_urlset(news, news=True))
        _write(out / lang / "article-sitemap.xml", render_urlset(older, news=False))
        index += [f"{dw.WWW}/{lang}/news-sitemap.xml", f"{dw.WWW}/{lang}/article-sitemap.xml"]
        if lang in dw.FEED_CHANNELS:
            channel = dw.FEED_CHANNELS[lang]
            _write(out / "rdf" / f"{channel}.rdf", render_rdf(channel, lang, mine[:20]))
    _write(out / "sitemap.xml", render_index(index))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


_WORDS = ("government minister election parliament talks agreement economy climate energy "
          "security border court protest health report vote budget trade summit").split()


def synthetic_spec(count: int, seed: int = 1) -> dict:
    """`count` generated articles over five languages, for benchmarks."""
    rng = random.Random(seed)
    langs = ("en", "de", "es", "pt-br", "ar")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    articles = []
    for n in range(count):
        words = [rng.choice(_WORDS) for _ in range(6)]
        stamp = (start + timedelta(minutes=7 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        paragraphs = [" ".join(rng.choice(_WORDS) for _ in range(60)).capitalize() + "." for _ in range(8)]
        articles.append({
            "id": 80_000_000 + n, "language": langs[n % len(langs)], "slug": "-".join(words),
            "title": " ".join(words).capitalize(), "teaser": " ".join(words[::-1]).capitalize() + ".",
            "published_at": stamp, "modified_at": stamp, "authors": [f"Reporter {n % 97}"],
            "topics": ["News", "World"], "blocks": paragraphs[:4] + ["## " + words[0].title()] + paragraphs[4:],
            "credit_line": "ab/cd (AFP, dpa, Reuters)",
            "images": [{"url": f"https://static.dw.com/image/{70_000_000 + n}_6.jpg",
                        "caption": "A picture", "credit": "Anna Weber/AP/picture alliance"}],
        })
    return {"articles": articles, "others": []}


def main(argv: list[str] | None = None) -> int:
    """Write the sample site from its spec, or a synthetic site of N articles."""
    parser = argparse.ArgumentParser(prog="python -m devtools.sitegen", description=__doc__.split("\n")[0])
    parser.add_argument("spec", nargs="?", type=Path, help="a JSON spec (data/sample-articles.json)")
    parser.add_argument("out", type=Path, help="the site directory to (re)write")
    parser.add_argument("--synthetic", type=int, metavar="N", help="generate N articles instead")
    args = parser.parse_args(argv)
    if args.synthetic:
        spec = synthetic_spec(args.synthetic)
    elif args.spec:
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
    else:
        parser.error("give a spec file or --synthetic N")
    write_site(spec, args.out)
    print(f"wrote {len(spec['articles'])} articles to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
