"""Section 3 of `make bench`: archive growth: upserts, lookups, FTS and facets at 1k to 1M."""

from __future__ import annotations

import sqlite3
import statistics
import time
from functools import partial
from pathlib import Path

from benchmarks.common import WORK, each, median_time
from benchmarks.views import time_views
from crawler import dw, search
from crawler.archive import Archive, content_hash
from devtools.sitegen import synthetic_spec

# -- 3. archive growth ------------------------------------------------------------------------

WORDS = (
    "government minister election parliament talks agreement economy climate energy security "
    "border court protest health report vote budget trade summit Bundestag Wahl Klima "
    "حكومة انتخابات governo eleição gobierno elección"
).split()
# Chinese words, written as DW's Chinese services write them: unspaced, a comma now and then.
# Every sixth generated article is Chinese (`zh`), so the index holds CJK text as a crawl does.
ZH_WORDS = ("政府 部长 选举 议会 会谈 协议 经济 气候 能源 安全 边境 法院 抗议 卫生 报告 投票 预算"
            " 贸易 峰会 联邦议院 德国 欧洲 总理 美国 中国 俄罗斯 乌克兰 战争 难民 移民").split()


def _zh_words(seed: int, n: int) -> str:
    return "".join(ZH_WORDS[(seed * 7 + i * 13) % len(ZH_WORDS)] + ("，" if i % 8 == 7 else "")
                   for i in range(n))


def build_archive(path: Path, rows: int) -> None:
    """An archive holding `rows` generated articles, with agencies, authors and FTS, built in SQL."""
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    Archive(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.create_function(
        "words",
        2,
        lambda seed, n: " ".join(WORDS[(seed * 7 + i * 13) % len(WORDS)] for i in range(n)),
        deterministic=True,
    )
    conn.create_function("zh_words", 2, _zh_words, deterministic=True)
    conn.execute(
        "INSERT OR IGNORE INTO authors (name) SELECT 'Reporter ' || value FROM generate_series(0, 96)"
        if _has_series(conn)
        else "INSERT OR IGNORE INTO authors (name) VALUES ('Reporter 0')"
    )
    conn.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO articles (id, url, short_url, language, kind, title, teaser, body, subheads,
            published_at, modified_at, authors, topics, credit_line, agencies, images,
            first_seen_at, last_seen_at, content_hash)
        SELECT i, 'https://www.dw.com/en/x/a-' || i, 'https://p.dw.com/p/' || i,
            CASE i % 6 WHEN 0 THEN 'en' WHEN 1 THEN 'de' WHEN 2 THEN 'es' WHEN 3 THEN 'ar'
                WHEN 4 THEN 'pt-br' ELSE 'zh' END,
            'article', CASE WHEN i % 1000 = 0 THEN words(i, 8) || ' Khartoum'
                -- a place inside an unspaced Chinese headline, one article in 1,000
                WHEN i % 1000 = 5 THEN zh_words(i, 4) || '喀土穆' || zh_words(i + 3, 4)
                WHEN i % 6 = 5 THEN zh_words(i, 8) ELSE words(i, 8) END,
            CASE WHEN i % 6 = 5 THEN zh_words(i + 1, 25) ELSE words(i + 1, 25) END,
            CASE WHEN i % 6 = 5 THEN zh_words(i + 2, 120) ELSE words(i + 2, 120) END, '[]',
            strftime('%Y-%m-%dT%H:%M:%SZ', 1500000000 + i * 60, 'unixepoch'), NULL, '["Reporter 0"]',
            '["News"]', 'ab/cd (AFP, dpa)', '["AFP","dpa"]', '[]',
            '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', hex(i)
        FROM n""",
        [rows],
    )
    conn.execute(
        "INSERT INTO article_agencies (article_id, agency, role) SELECT id, 'AFP', 'text' FROM articles"
    )
    conn.execute(
        "INSERT INTO article_agencies (article_id, agency, role) SELECT id, 'dpa', 'text' FROM articles"
    )
    conn.execute(
        "INSERT INTO article_authors (article_id, author, position) SELECT id, 'Reporter 0', 0 FROM articles"
    )
    conn.commit()
    conn.close()
    # The one full-text index, filled as `python -m crawler.search` would, then merged as the
    # archive extension merges it at the end of a crawl.
    archive = Archive(path)
    archive.db.execute("BEGIN")
    search.index_all(archive.db)
    archive.db.execute("COMMIT")
    archive.merge_search_index()
    archive.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    archive.close()


def search_index_bytes(path: Path) -> int:
    """Bytes of the search index: every table and index FTS5 keeps for `articles_search`
    (SQLite's dbstat: pages in use, free pages left out)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = '{search.TABLE}'"
                            f" OR name LIKE '{search.TABLE}%'").fetchone()[0]
    finally:
        conn.close()


def _has_series(conn) -> bool:
    try:
        conn.execute("SELECT * FROM generate_series(0, 1)").fetchall()
        return True
    except sqlite3.OperationalError:
        return False


def fresh_articles(start: int, count: int) -> list[dict]:
    spec = synthetic_spec(count, seed=start)
    rows = []
    for offset, article in enumerate(spec["articles"]):
        row = {
            "id": 900_000_000 + start + offset,
            "url": f"https://www.dw.com/en/x/a-{900_000_000 + start + offset}",
            "short_url": dw.short_url(900_000_000 + start + offset),
            "language": article["language"],
            "kind": "article",
            "title": article["title"],
            "teaser": article["teaser"],
            "body": "\n\n".join(b.removeprefix("## ") for b in article["blocks"]),
            "subheads": [b[3:] for b in article["blocks"] if b.startswith("## ")],
            "published_at": article["published_at"],
            "modified_at": article["modified_at"],
            "authors": article["authors"],
            "topics": article["topics"],
            "credit_line": article["credit_line"],
            "agencies": ["AFP", "dpa", "Reuters"],
            "images": article["images"],
        }
        row["content_hash"] = content_hash(row)
        rows.append(row)
    return rows


def _query(archive: Archive, sql: str) -> list:
    return archive.db.execute(sql).fetchall()


UPSERT_ROUNDS = 30


def bench_archive(sizes: list[int], repeats: int) -> dict:
    out = {}
    for size in sizes:
        path = WORK / f"archive-{size}.db"
        started = time.perf_counter()
        build_archive(path, size)
        built = time.perf_counter() - started
        index_bytes = search_index_bytes(path)  # at exactly `size` generated articles
        views = time_views(path, 1 + size // 2)  # at exactly `size` articles
        archive = Archive(path)
        # One warm-up 1,000, then the mean of UPSERT_ROUNDS more, written as the pipeline writes
        # them (batches of 100): 300 batches take in FTS5's crisis merges of 16 and of 256
        # segments (automerge is off), a real cost only an average over many batches shows.
        upserts = []
        for n in range(UPSERT_ROUNDS + 1):
            batch = fresh_articles(n * 1000, 1000)
            start = time.perf_counter()
            for k in range(0, len(batch), 100):
                archive.write_batch(batch[k : k + 100])
            upserts.append(time.perf_counter() - start)
        upserts = upserts[1:]
        ids = [1 + (size * k) // 97 for k in range(97)]
        lookup = median_time(partial(each, archive.stored, ids), repeats) / len(ids)
        fts = median_time(
            partial(
                _query,
                archive,
                "SELECT rowid FROM articles_search WHERE articles_search MATCH 'Bundestag AND Klima'"
                " LIMIT 20",
            ),
            repeats,
        )
        facet = median_time(
            partial(
                _query,
                archive,
                "SELECT agency, count(*) FROM article_agencies"
                " WHERE role = 'text' GROUP BY agency ORDER BY 2 DESC",
            ),
            repeats,
        )
        started = time.perf_counter()
        archive.merge_search_index()  # as at the end of a crawl
        merged = time.perf_counter() - started
        archive.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        archive.close()
        out[str(size)] = {
            "build s": built,
            "upsert 1000 s": statistics.mean(upserts),
            "upsert 1000 max s": max(upserts),
            "upsert batches of 100": UPSERT_ROUNDS * 10,
            "merge at end s": merged,
            "bytes per article": path.stat().st_size / (size + 1000 * (UPSERT_ROUNDS + 1)),
            "search index bytes per article": index_bytes / size,
            "lookup by id ms": lookup * 1000,
            "FTS query ms": fts * 1000,
            "article_agencies facet SQL ms": facet * 1000,
            **views,
        }
        for leftover in WORK.glob(f"archive-{size}.db*"):
            leftover.unlink()
    return out


