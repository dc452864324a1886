"""A re-extraction stopped with Ctrl-C resumes where it stopped, from a WARC written by warcio
itself (not by our capture), one response record per page of a generated site."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from devtools.sitegen import synthetic_spec, write_site
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import article_count, query

# Enough that the run is still going when the test first sees its articles: it checkpoints once a
# second, and 600 pages were all read within the first second on a quiet machine (exit 0, not
# stopped).
PAGES = 3000
_CANONICAL = re.compile(rb'<link rel="canonical" href="([^"]+)"')


def write_warc(site, path) -> None:
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        for page in sorted(site.rglob("a-*.html")):
            body = page.read_bytes()
            url = _CANONICAL.search(body)[1].decode()
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(body),
                                                          length=len(body), http_headers=http))



def test_a_stopped_reextraction_resumes(tmp_path):
    site, warc, db = tmp_path / "site", tmp_path / "pages.warc.gz", tmp_path / "dw.db"
    write_site(synthetic_spec(PAGES), site)
    write_warc(site, warc)
    command = [sys.executable, "-m", "crawler.reextract", "--archive", str(db), "--workers", "2", str(warc)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and article_count(db) < 100:
        time.sleep(0.01)
    assert process.poll() is None, "re-extraction ended before it could be stopped"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
    assert "run the same command again to resume" in stderr
    stored = article_count(db)
    (done,) = query(db, "SELECT count(*) FROM reextract_progress")[0]
    assert 100 <= stored < PAGES and stored - 1 <= done <= stored

    rerun = forkserver.run(command, cwd=ROOT, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    counts = json.loads(rerun.stdout.splitlines()[-1])
    assert counts["resumed"] == done
    assert counts["new"] + counts.get("unchanged", 0) == PAGES - done
    assert counts["new"] == PAGES - stored
    assert article_count(db) == PAGES
    assert query(db, "SELECT count(*) FROM reextract_progress") == [(0,)]
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]


# -- killed with SIGKILL ------------------------------------------------------------------------

FAT = ROOT / "data" / "sample-site" / "en" / "pope-calls-for-ceasefire" / "a-79010007.html"


def children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def blocked_sending(pid: int) -> bool:
    """True when a child of the process waits to write to a pipe (Linux's /proc)."""
    try:
        return any("pipe_write" in Path(f"/proc/{child}/wchan").read_text() for child in children(pid))
    except OSError:  # a child gone meanwhile
        return False


def test_workers_end_quietly_when_the_reextraction_is_killed(tmp_path):
    """SIGKILL (the OOM killer, `kill -9`) leaves the workers with results for a parent that is
    gone: each ends without a word, not with a BrokenPipeError traceback on the terminal."""
    warc, db = tmp_path / "fat.warc.gz", tmp_path / "dw.db"
    # Pages whose result (about 115 KB) does not fit a pipe's buffer: a worker sending one to a
    # stopped parent waits in the write, so that the kill finds it there.
    para = b"<p>" + b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 10 + b"</p>"
    body = FAT.read_bytes().replace(b"<p>Aid agencies", para * 200 + b"<p>Aid agencies")
    url = _CANONICAL.search(body)[1].decode()
    with open(warc, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        for _ in range(40):
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(body),
                                                          length=len(body), http_headers=http))
    command = [sys.executable, "-m", "crawler.reextract", "--archive", str(db), "--workers", "2", str(warc)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None and len(children(process.pid)) < 2:
            time.sleep(0.01)  # the workers started: the parent's imports are done
        while time.monotonic() < deadline and process.poll() is None:
            os.kill(process.pid, signal.SIGSTOP)  # reads no result now
            waited = time.monotonic() + 0.5
            while time.monotonic() < waited and not blocked_sending(process.pid):
                time.sleep(0.01)
            if blocked_sending(process.pid):
                break
            os.kill(process.pid, signal.SIGCONT)  # no task had reached the workers yet
            time.sleep(0.05)
        assert process.poll() is None, "re-extraction ended before it could be killed"
        assert blocked_sending(process.pid), "no worker ever waited to send a result"
    finally:
        process.kill()
    # stderr ends when the last worker, which holds it too, has ended.
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr[-3000:]
