"""The archive as users browse it: datasette's own client, and a real headless browser."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from datasette.app import Datasette

from devtools.demo import SAMPLE_LANGUAGES
from devtools.mirror import running_mirror
from devtools.sitegen import write_site
from tests.conftest import ROOT
from tests.crawling import Mirror, crawl, query
from tests.test_extract_sample import AGENCIES

SPEC = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
METADATA = ROOT / "data" / "metadata.yml"
TEMPLATES = ROOT / "data" / "templates"
EDITED = 79010004  # listed in the article sitemap, whose lastmod tells of edits


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The sample site crawled, then one article edited on the site and the site crawled again."""
    tmp = tmp_path_factory.mktemp("datasette")
    site, db, log = tmp / "site", tmp / "dw.db", tmp / "access.log"
    write_site(SPEC, site)
    with running_mirror(site, log) as origin:
        mirror = Mirror(origin, log)
        assert crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}").returncode == 0
        spec = json.loads(json.dumps(SPEC))
        edited = next(a for a in spec["articles"] if a["id"] == EDITED)
        edited["title"] = "How a Berlin startup recycles car batteries"
        edited["modified_at"] = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        write_site(spec, site)
        mirror.clear()
        assert crawl(mirror, db, "-a", f"lang={SAMPLE_LANGUAGES}").returncode == 0
        refetched = mirror.article_pages()
    return db, refetched


def get(db, path: str):
    async def fetch():
        ds = Datasette([str(db)], metadata=yaml.safe_load(METADATA.read_text()),
                       template_dir=str(TEMPLATES))
        return await ds.client.get(path)

    response = asyncio.run(fetch())
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_editing_one_article_refetches_exactly_it_with_one_revision(archive):
    db, refetched = archive
    assert [int(p.rsplit("-", 1)[1]) for p in refetched] == [EDITED]
    assert query(db, "SELECT article_id, title FROM revisions") == [
        (EDITED, "How a Berlin startup recycles batteries")]


def test_articles_page_lists_every_article_newest_first(archive):
    data = get(archive[0], "/dw/articles.json?_shape=objects&_size=100")
    dates = [row["published_at"] for row in data["rows"]]
    assert len(dates) == len(SPEC["articles"])
    assert dates == sorted(dates, reverse=True)
    assert data["rows"][0]["id"] == max(SPEC["articles"], key=lambda a: a["published_at"])["id"]


def test_full_text_search(archive):
    rows = get(archive[0], "/dw/articles.json?_search=Ausstand&_shape=array")
    assert [row["id"] for row in rows] == [79020002]
    rows = get(archive[0], "/dw/articles.json?_search=الجامعات&_shape=array")
    assert [row["id"] for row in rows] == [79030003]


def test_agency_facet(archive):
    data = get(archive[0], "/dw/articles.json?_size=0")
    facet = {f["value"]: f["count"] for f in data["facet_results"]["agencies"]["results"]}
    expected: dict[str, int] = {}
    for article in SPEC["articles"]:
        for name in AGENCIES.get(article["credit_line"], []):
            expected[name] = expected.get(name, 0) + 1
    assert facet == expected


def test_canned_query_articles_by_agency(archive):
    rows = get(archive[0], "/dw/articles_by_agency.json?agency=EFE&_shape=array")
    expected = {a["id"] for a in SPEC["articles"] if "EFE" in AGENCIES.get(a["credit_line"], [])}
    assert {row["id"] for row in rows} == expected


def test_canned_query_articles_per_day(archive):
    rows = get(archive[0], "/dw/articles_per_day.json?_shape=array")
    counts = {(r["day"], r["language"]): r["articles"] for r in rows}
    assert counts[("2026-11-20", "en")] == sum(
        1 for a in SPEC["articles"] if a["language"] == "en" and a["published_at"].startswith("2026-11-20"))
    assert sum(counts.values()) == len(SPEC["articles"])


def test_canned_query_short_link_lookup(archive):
    rows = get(archive[0], "/dw/short_link_lookup.json?code=18axi&_shape=array")
    assert [(r["id"], r["title"]) for r in rows] == [(16825046, "Hezbollah troops die in siege")]


def test_canned_query_revisions_of_an_article(archive):
    rows = get(archive[0], f"/dw/article_revisions.json?id={EDITED}&_shape=array")
    assert [(r["title"], json.loads(r["changed"])) for r in rows] == [
        ("How a Berlin startup recycles batteries", ["title"])]


def test_internal_tables_are_hidden(archive):
    tables = {t["name"]: t["hidden"] for t in get(archive[0], "/dw.json")["tables"]}
    assert tables["articles_fts"] and tables["articles_fts_data"]
    assert not tables["articles"] and not tables["article_agencies"]


# -- what a person sees ---------------------------------------------------------------------

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def datasette_server(archive):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "datasette", "serve", str(archive[0]),
                               "--metadata", str(METADATA), "--template-dir", str(TEMPLATES),
                               "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_seed_article_page_in_a_real_browser(datasette_server, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where it can)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    url = f"{datasette_server}/dw/articles/16825046"
    shown = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr[-2000:]
    reading_view = shown.stdout.split('<article class="dw-article"', 1)[1].split("</article>", 1)[0]
    assert "<h1" in reading_view and "Hezbollah troops die in siege</h1>" in reading_view
    assert ">2013-05-20</time>" in reading_view
    assert "<strong>Agencies:</strong> AP, AFP, Reuters, dpa</p>" in reading_view
    assert "Diplomats plan week of Syria talks" in reading_view
    subprocess.run([chromium, *flags, "--window-size=1280,1600", f"--screenshot={tmp_path / 'seed.png'}",
                    url], capture_output=True, timeout=60)
    assert (tmp_path / "seed.png").stat().st_size > 10_000


def test_sqlite_utils_reads_the_archive(archive):
    shown = subprocess.run([sys.executable, "-m", "sqlite_utils", "tables", str(archive[0]), "--counts"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    counts = {row["table"]: row["count"] for row in json.loads(shown.stdout)}
    assert counts["articles"] == len(SPEC["articles"])
    assert counts["short_links"] == len(SPEC["articles"])
    assert counts["revisions"] == 1
