"""The archive the datasette and browser tests look at: the sample site crawled, then three
articles edited on the site (the seed article's teaser, another's headline, a third's picture)
and crawled again.

Built once per test session (two crawls of the local mirror, a few seconds).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from datasette.app import Datasette

from crawler.archive import Archive
from crawler.dw import encode_short_code
from devtools.demo import SAMPLE_LANGUAGES
from devtools.mirror import running_mirror
from devtools.sitegen import write_site
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
METADATA = ROOT / "data" / "metadata.yml"
TEMPLATES = ROOT / "data" / "templates"
PLUGINS = ROOT / "plugins"
SEED = 16825046
EDITED = 79010004  # listed in the article sitemap, whose lastmod tells of edits
PICTURE_EDITED = 79010006  # only its picture changes (a new one, its caption and credit)
NEW_PICTURE = {"url": "https://static.dw.com/image/79010107_6.jpg",
               "caption": "The museum's new wing at dusk", "credit": "Sebastian Willnow/dpa/picture alliance"}
SEED_TEASER_BEFORE = next(a["teaser"] for a in SPEC["articles"] if a["id"] == SEED)
SEED_TEASER_AFTER = SEED_TEASER_BEFORE.replace("Over 20 soldiers", "At least 20 soldiers")

_BUILT: dict[str, tuple[Path, list[str]]] = {}


def build_edited_archive(folder: Path) -> tuple[Path, list[str]]:
    """Crawl the sample site into `folder`/dw.db, edit three articles, crawl again; (archive
    path, article pages the second crawl fetched)."""
    site, db, log = folder / "site", folder / "dw.db", folder / "access.log"
    write_site(SPEC, site)
    with running_mirror(site, log) as origin:
        mirror = Mirror(origin, log)
        assert crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}").returncode == 0
        spec = json.loads(json.dumps(SPEC))
        later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        edited = next(a for a in spec["articles"] if a["id"] == EDITED)
        edited.update(title="How a Berlin startup recycles car batteries", modified_at=later)
        seed = next(a for a in spec["articles"] if a["id"] == SEED)
        seed.update(teaser=SEED_TEASER_AFTER, modified_at=later)
        pictured = next(a for a in spec["articles"] if a["id"] == PICTURE_EDITED)
        pictured.update(images=[NEW_PICTURE], modified_at=later)
        write_site(spec, site)
        mirror.clear()
        assert crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}").returncode == 0
        return db, mirror.article_pages()


def generated_archive(path: Path, articles: int = 5000, timestamps: int = 40) -> dict[str, set[int]]:
    """An archive of `articles` generated articles written by the archive itself
    (`Archive.write_batch`, as the crawl writes), published at only `timestamps` distinct
    times, so that many share one; every third credits Reuters (its credit line prints `rtr`
    or `Reuters`), every fifth AFP. Returns the ids by agency (and "all")."""
    start = datetime(2026, 11, 1, 6, tzinfo=UTC)
    ids: dict[str, set[int]] = {"all": set(), "Reuters": set(), "AFP": set()}
    archive = Archive(path)
    try:
        batch = []
        for n in range(articles):
            article_id = 80_000_000 + n * 7  # not in the order of publication
            agencies = (["Reuters"] if n % 3 == 0 else []) + (["AFP"] if n % 5 == 0 else [])
            printed = [("rtr" if n % 2 else name) if name == "Reuters" else name for name in agencies]
            published = start + timedelta(hours=(n * 13) % timestamps)
            batch.append({
                "id": article_id, "url": f"https://www.dw.com/en/story-{n}/a-{article_id}",
                "short_url": f"https://p.dw.com/p/{encode_short_code(article_id)}", "language": "en",
                "title": f"Generated story {n}", "teaser": f"Teaser {n}", "body": f"Body of story {n}.",
                "published_at": published.strftime("%Y-%m-%dT%H:%M:%SZ"), "authors": ["A. Writer"],
                "credit_line": f"xy/ab ({', '.join(printed)})" if printed else None, "agencies": agencies})
            ids["all"].add(article_id)
            for name in agencies:
                ids[name].add(article_id)
            if len(batch) == 1000:
                archive.write_batch(batch)
                batch = []
        archive.write_batch(batch)
    finally:
        archive.close()
    return ids


def edited_archive(tmp_path_factory) -> tuple[Path, list[str]]:
    """`build_edited_archive` once per test session."""
    if "archive" not in _BUILT:
        _BUILT["archive"] = build_edited_archive(tmp_path_factory.mktemp("datasette"))
    return _BUILT["archive"]


def datasette_for(db: Path) -> Datasette:
    """An in-process datasette with the project's metadata, templates and plugins."""
    return Datasette([str(db)], metadata=yaml.safe_load(METADATA.read_text()),
                     template_dir=str(TEMPLATES), plugins_dir=str(PLUGINS),
                     settings={"suggest_facets": False, "max_csv_mb": 0})


def get(db: Path, path: str, status: int = 200):
    """A GET through datasette's own client; the response (asserted to have `status`)."""
    async def fetch():
        ds = datasette_for(db)
        await ds.invoke_startup()
        return await ds.client.get(path)

    response = asyncio.run(fetch())
    assert response.status_code == status, response.text[:800]
    return response


def get_json(db: Path, path: str):
    return get(db, path).json()
