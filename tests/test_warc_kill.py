"""SIGKILLs during a crawl leave every article's `warc_file`/`warc_offset` pointing at a sound
response record of that article, and at most a truncated last record in each file."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from warcio.archiveiterator import ArchiveIterator

from crawler.warc.read import scan
from devtools.demo import crawl_command
from devtools.sitegen import synthetic_spec, write_site
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import article_count, query, running_mirror


def test_sigkills_leave_every_warc_pointer_readable(tmp_path):
    site, db = tmp_path / "site", tmp_path / "dw.db"
    write_site(synthetic_spec(300), site)
    with running_mirror(site) as origin:
        for kill in (1, 2):
            command = crawl_command(origin, db, "-a", "lang=en,de,es,pt-br,ar",
                                    "-s", "ARCHIVE_BATCH_SIZE=7", "-s", "CONCURRENT_REQUESTS=2")
            process = forkserver.start(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and process.poll() is None and article_count(db) < 25 * kill:
                time.sleep(0.02)
            assert process.poll() is None, "the crawl ended before it could be killed"
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    rows = query(db, "SELECT id, url, warc_file, warc_offset FROM articles")
    assert 50 <= len(rows) < 300
    for content_id, url, warc_file, warc_offset in rows:
        with open(warc_file, "rb") as handle:
            handle.seek(warc_offset)
            record = next(iter(ArchiveIterator(handle, check_digests=True)))
            body = record.content_stream().read()
            assert record.rec_type == "response" and record.http_headers.get_statuscode() == "200"
            assert record.rec_headers.get_header("WARC-Target-URI") == url
            assert record.digest_checker.passed is True, record.digest_checker.problems
        assert f"a-{content_id}".encode() in body
    files = sorted((tmp_path / "dw.db-warc").glob("*.warc.gz"))
    assert len(files) == 2
    for file in files:
        kinds = [entry.kind for entry in scan(file)]
        assert "damaged" not in kinds and "truncated" not in kinds[:-1]
