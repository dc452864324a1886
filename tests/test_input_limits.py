"""Input files are read within a size limit (#27): `-a urls=@/dev/zero` (or any huge or endless
file) is refused with one line and exit status 3 before anything is fetched or created, in
bounded time and memory; so is a URL file over 64 MiB; `python -m crawler.extract` refuses a
file larger than any page a crawl fetches."""

from __future__ import annotations

import json
import os
import sys

import pytest

from devtools.demo import crawl_command
from devtools.sitegen import url_of
from tests.crawling import last_run, running_mirror
from tests.hostile import articles, measured, write_hostile_site

NOWHERE = "http://127.0.0.1:9"  # nothing may be requested: the arguments are refused first


@pytest.mark.parametrize("name", ["/dev/zero", "fifo", "huge"])
def test_a_url_file_over_the_limit_is_refused_with_one_line(name, tmp_path):
    path = "/dev/zero" if name == "/dev/zero" else tmp_path / "urls.txt"
    if name == "fifo":  # a named pipe no one writes to: reading it would wait for ever
        os.mkfifo(path)
    if name == "huge":  # 65 MiB of well-formed lines
        line = b"https://www.dw.com/en/some-story-with-a-long-slug/a-12345678\n"
        with open(path, "wb") as out:
            for _ in range((65 << 20) // (len(line) * 1000) + 1):
                out.write(line * 1000)
    db = tmp_path / "dw.db"
    run = measured(crawl_command(NOWHERE, db, "-a", f"urls=@{path}"), timeout=120)
    assert run.returncode == 3 and "Traceback" not in run.stderr
    last = run.stderr.rstrip().splitlines()[-1]
    reason = "is larger than 64 MiB" if name == "huge" else "is not a regular file (a named pipe, a device"
    assert last.startswith(f"dw crawl failed: bad argument: the URL file {path} ") and reason in last, last
    assert not any(tmp_path.glob("dw.db*"))  # no archive, lock or captures folder made
    assert run.peak_mib < 400 and run.cpu_seconds < 60, (run.peak_mib, run.cpu_seconds)


def test_the_extractor_cli_refuses_a_file_larger_than_any_page(tmp_path):
    run = measured([sys.executable, "-m", "crawler.extract", "/dev/zero"], timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    result = json.loads(run.stdout)
    assert result["path"] == "/dev/zero" and result["error"].startswith("larger than 16777216 bytes")
    assert run.peak_mib < 200, run.peak_mib


def test_a_url_file_of_a_million_lines_is_crawled_at_once_and_its_time_limit_honoured(tmp_path):
    # 1.7 million URLs, 60 MB: no request went out for 140 s (Scrapy read the whole list before
    # sending one), and CLOSESPIDER_TIMEOUT never fired. Now read line by line as requests go.
    spec = articles(1, first_id=83_000_000)
    write_hostile_site(tmp_path / "site", spec, {})
    path = tmp_path / "urls.txt"
    with open(path, "w") as out:
        out.write(url_of(spec[0]) + "\n")
        for block in range(1700):
            out.write("".join(f"https://www.dw.com/en/x/a-{10_000_000 + block * 1000 + n}\n"
                              for n in range(1000)))
    assert 55 << 20 < path.stat().st_size < 64 << 20
    db = tmp_path / "dw.db"
    with running_mirror(tmp_path / "site", tmp_path / "access.log") as origin:
        run = measured(crawl_command(origin, db, "-a", f"urls=@{path}", "-s", "CLOSESPIDER_TIMEOUT=10",
                                     "-s", "WARC_ENABLED=False"), timeout=180)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    row = last_run(db)
    assert row["finish_reason"] == "closespider_timeout", row
    stats = row["stats"]
    assert stats["dw/articles/new"] == 1 and stats["dw/fetched"] == 1  # the first line, archived
    assert stats["downloader/response_status_count/404"] > 50  # requests went on from the start
    # Closed when the limit said (the finish reason), having read the list as requests went:
    # reading the whole list first took over 140 s of CPU before.
    assert run.cpu_seconds < 60 and run.peak_mib < 1024, (run.cpu_seconds, run.peak_mib)
