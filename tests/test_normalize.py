"""The one normaliser: per-field change counts as stats (0 where a rule never fires), the
extractor's warnings counted, and the CLI printing what the pipeline stores."""

from __future__ import annotations

import json
import subprocess
import sys

from itemadapter import ItemAdapter
from scrapy.utils.test import get_crawler

from crawler.extract import extract
from crawler.extract.normalize import NORMALIZED_FIELDS, normalize
from pipelines.normalize import NormalizePipeline
from tests.conftest import PAGES, ROOT

PAGE = PAGES / "current" / "app-state_a-79060002.html"


def pipeline():
    crawler = get_crawler()
    crawler.stats.open_spider()
    step = NormalizePipeline.from_crawler(crawler)
    step.open_spider()
    return step, crawler.stats


def test_every_field_starts_at_zero():
    _, stats = pipeline()
    assert {f"dw/normalize/{name}": 0 for name in NORMALIZED_FIELDS}.items() <= stats.get_stats().items()


def test_the_counts_say_what_the_extractor_and_the_pipeline_changed():
    step, stats = pipeline()
    article = extract(PAGE.read_bytes())
    # The state's teaser is clean (it beats the DOM's spaced one); the dates have milliseconds;
    # reading the credit line already names `rtr` Reuters; the headline has a trailing space.
    assert (article.normalized["teaser"], article.normalized["published_at"],
            article.normalized["agencies"], article.normalized["title"]) == (0, 1, 0, 1)
    article.authors = article.authors + ["Deutsche Welle"]
    step.process_item(article)
    assert stats.get_value("dw/normalize/authors") == 1
    assert stats.get_value("dw/normalize/published_at") == 1
    assert stats.get_value("dw/normalize/title") == 1  # the JSON-LD headline's trailing space
    assert stats.get_value("dw/normalize/url") == 0
    assert article.authors == ["Lena Müller", "Tom O'Brien"]


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
    run = subprocess.run([sys.executable, "-m", "crawler.extract", str(PAGE)], capture_output=True,
                         text=True, cwd=ROOT)
    assert json.loads(run.stdout) == stored.to_dict()


def test_an_extracted_article_is_not_normalised_again(monkeypatch):
    step, stats = pipeline()
    article = extract(PAGE.read_bytes())
    calls = []
    monkeypatch.setattr("pipelines.normalize.normalize", lambda item: calls.append(item))
    step.process_item(article)
    assert calls == []  # the extractor's normalisation stands: the pipeline did not run it again
    assert stats.get_value("dw/normalize/published_at") == 1  # and its counts are the stats
    assert stats.get_value("dw/normalize/title") == 1 and stats.get_value("dw/normalize/url") == 0


def test_where_a_page_is_kept_is_no_reason_to_normalise_again():
    # crawler/warc/capture.py sets these on every crawled article after extraction; a field the
    # normaliser reads, set after it ran, does call for the rules again.
    page = ROOT / "data" / "sample-site" / "en" / "pope-calls-for-ceasefire" / "a-79010007.html"
    article = extract(page.read_bytes())
    article.warc_file, article.warc_offset, article.extractor_version = "a.warc.gz", 0, "v"
    assert article.changed_since_normalized is False
    article.title = "  Pope  calls for ceasefire "
    assert article.changed_since_normalized is True
