"""Input files are read within a size limit (#27): `-a urls=@/dev/zero` (or any huge or endless
file) is refused with one line and exit status 3 before anything is fetched or created, in
bounded time and memory; so is a URL file over 64 MiB; `python -m crawler.extract` refuses a
file larger than any page a crawl fetches."""

from __future__ import annotations

import json
import sys

import pytest

from devtools.demo import crawl_command
from tests.hostile import measured

NOWHERE = "http://127.0.0.1:9"  # nothing may be requested: the arguments are refused first


@pytest.mark.parametrize("name", ["/dev/zero", "huge"])
def test_a_url_file_over_the_limit_is_refused_with_one_line(name, tmp_path):
    path = "/dev/zero" if name == "/dev/zero" else tmp_path / "urls.txt"
    if name == "huge":  # 65 MiB of well-formed lines
        line = b"https://www.dw.com/en/some-story-with-a-long-slug/a-12345678\n"
        with open(path, "wb") as out:
            for _ in range((65 << 20) // (len(line) * 1000) + 1):
                out.write(line * 1000)
    db = tmp_path / "dw.db"
    run = measured(crawl_command(NOWHERE, db, "-a", f"urls=@{path}"), timeout=120)
    assert run.returncode == 3 and "Traceback" not in run.stderr
    last = run.stderr.rstrip().splitlines()[-1]
    reason = "has a line longer than 64 KiB" if name == "/dev/zero" else "is larger than 64 MiB"
    assert last.startswith(f"dw crawl failed: bad argument: the URL file {path} ") and reason in last, last
    assert not any(tmp_path.glob("dw.db*"))  # no archive, lock or captures folder made
    assert run.peak_mib < 400 and run.seconds < 60, (run.peak_mib, run.seconds)


def test_the_extractor_cli_refuses_a_file_larger_than_any_page(tmp_path):
    run = measured([sys.executable, "-m", "crawler.extract", "/dev/zero"], timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    result = json.loads(run.stdout)
    assert result["path"] == "/dev/zero" and result["error"].startswith("larger than 16777216 bytes")
    assert run.peak_mib < 200, run.peak_mib
