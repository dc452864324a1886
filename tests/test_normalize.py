"""The one normaliser: per-field change counts as stats (0 where a rule never fires), the
extractor's warnings counted, the CLI printing what the pipeline stores, and extraction whole
and pure: the pipeline only counts, the article is plain data, no Scrapy in `crawler.extract`."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

from itemadapter import ItemAdapter

from crawler.extract import extract
from crawler.extract.normalize import DERIVED, NORMALIZED_FIELDS, normalize
from crawler.items import CONTENT_FIELDS, Article
from pipelines.normalize import NormalizePipeline
from tests import forkserver
from tests.conftest import PAGES, ROOT, project_crawler

PAGE = PAGES / "current" / "app-state_a-79060002.html"


def pipeline():
    crawler = project_crawler()
    crawler.stats.open_spider()
    step = NormalizePipeline.from_crawler(crawler)
    step.open_spider()
    return step, crawler.stats


def test_every_field_starts_at_zero():
    _, stats = pipeline()
    assert {f"dw/normalize/{name}": 0 for name in NORMALIZED_FIELDS}.items() <= stats.get_stats().items()


def test_the_counts_say_what_the_extractor_changed():
    step, stats = pipeline()
    article = extract(PAGE.read_bytes())
    # The state's teaser is clean (it beats the DOM's spaced one); the dates have milliseconds;
    # reading the credit line already names `rtr` Reuters; the headline has a trailing space.
    assert (article.normalized["teaser"], article.normalized["published_at"],
            article.normalized["agencies"], article.normalized["title"]) == (0, 1, 0, 1)
    step.process_item(article)
    assert stats.get_value("dw/normalize/published_at") == 1
    assert stats.get_value("dw/normalize/title") == 1  # the JSON-LD headline's trailing space
    assert stats.get_value("dw/normalize/url") == 0
    assert stats.get_value("dw/normalize/teaser") == 0


def test_extraction_warnings_become_stats():
    step, stats = pipeline()
    html = PAGE.read_text(encoding="utf-8").replace('"@type": "NewsArticle",', '"@type": "NewsArticle" x', 1)
    article = extract(html)
    step.process_item(article)
    assert stats.get_value("dw/extract/ld_unreadable") == 1
    assert "warnings" not in article.to_dict() and "normalized" not in ItemAdapter(article).asdict()


def test_normalizing_twice_changes_nothing():
    article = extract(PAGE.read_bytes())
    before = article.to_dict()
    changed, _ = normalize(article)
    assert set(changed.values()) == {0} and article.to_dict() == before


def test_the_cli_prints_what_the_pipeline_stores():
    step, _ = pipeline()
    stored = extract(PAGE.read_bytes())
    step.process_item(stored)
    run = forkserver.run([sys.executable, "-m", "crawler.extract", str(PAGE)], cwd=ROOT)
    assert json.loads(run.stdout) == stored.to_dict()


def test_the_pipeline_only_counts_and_hands_the_article_over():
    step, stats = pipeline()
    article = extract(PAGE.read_bytes())
    before = article.to_dict()
    assert step.process_item(article) is article and article.to_dict() == before
    assert stats.get_value("dw/normalize/published_at") == 1  # the extractor's counts are the stats
    assert stats.get_value("dw/normalize/title") == 1 and stats.get_value("dw/normalize/url") == 0


def test_the_article_is_plain_data():
    # No bookkeeping on setting a field: an Article is a dataclass and nothing more.
    assert Article.__setattr__ is object.__setattr__
    page = ROOT / "data" / "sample-site" / "en" / "pope-calls-for-ceasefire" / "a-79010007.html"
    article = extract(page.read_bytes())
    article.title = "  Pope  calls for ceasefire "
    assert article.title == "  Pope  calls for ceasefire "
    assert set(vars(article)) == {f.name for f in fields(Article)} | {"warnings", "normalized",
                                                                       "unknown_agencies"}


def test_a_derived_field_is_never_content():
    # A field computed from others changes when our rule does, not when DW edits the article.
    assert set(DERIVED) <= set(NORMALIZED_FIELDS)
    assert not set(DERIVED) & set(CONTENT_FIELDS), "mark it NOT_CONTENT in crawler/items.py"


def test_a_derived_field_reads_any_field_and_the_ones_computed_before_it(monkeypatch):
    # ARCHITECTURE.md's recipe: "a dict of all its fields": `related` has no cleaning rule,
    # `short_url` is computed before; neither raises KeyError.
    monkeypatch.setitem(DERIVED, "related_count", lambda article: len(article["related"]))
    monkeypatch.setitem(DERIVED, "short_code", lambda article: article["short_url"].rsplit("/", 1)[-1])
    fields = extract(PAGE.read_bytes()).to_dict()
    fields.pop("short_url")
    fields["related"] = ["https://www.dw.com/en/a/a-1", "https://www.dw.com/en/b/a-2"]
    changed, _ = normalize(fields)
    assert fields["related_count"] == 2
    assert fields["short_url"] == "https://p.dw.com/p/" + fields["short_code"]
    # Filled for the first time: no value a rule changed, so no `dw/normalize/<field>` count.
    assert changed["related_count"] == changed["short_code"] == changed["short_url"] == 0


def test_extraction_imports_no_scrapy_twisted_sqlite_or_pipelines():
    # itemadapter imports Scrapy whenever it is installed: the normaliser does without it.
    code = ("import crawler.extract, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " {'scrapy', 'twisted', 'sqlite3', '_sqlite3', 'sqlite_utils', 'pipelines',"
            " 'itemadapter', 'redis', 'scrapy_redis', 'warcio'} or m.startswith(('crawler.archive',"
            " 'crawler.spiders', 'crawler.warc', 'crawler.distributed', 'crawler.extensions'))))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
