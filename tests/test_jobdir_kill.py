"""A crawl with `JOBDIR` killed outright (SIGKILL), then run again with the same `JOBDIR`: the
next run fetches exactly what the archive lacks (no article never requested, none it holds
fetched again) and says that it discarded the killed run's queue (#27).

Kill points are counts of article requests the mirror has seen, not times, so the trials do
not depend on the machine's speed; each trial ends with a run that completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest

from devtools.demo import crawl_command
from devtools.mirror import index_site
from devtools.sitegen import synthetic_spec, write_site
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import Mirror, archived_ids, crawl, last_run, query, running_mirror
from tests.hostile import measured

ARTICLES = 40
LANGS = "lang=en,de,es,pt-br,ar"


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory):
    """40 generated articles whose pages answer after 0.05 s: a crawl is always mid-way."""
    site = tmp_path_factory.mktemp("site")
    write_site(synthetic_spec(ARTICLES), site)
    faults = site.parent / "faults.json"
    faults.write_text(json.dumps({"/" + rel.removesuffix(".html"): "delay=0.05"
                                  for rel in index_site(site).values()}))
    return site, faults


def requested(mirror: Mirror) -> Counter:
    return Counter(int(path.rsplit("a-", 1)[1]) for path in mirror.article_pages())


def kill_after(mirror: Mirror, command: list[str], pages: int) -> None:
    """Start the crawl, SIGKILL it once the mirror has seen `pages` article requests."""
    mirror.clear()
    process = forkserver.start(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while process.poll() is None and len(mirror.article_pages()) < pages:
        assert time.monotonic() < deadline, "the crawl made no progress"
        time.sleep(0.01)
    assert process.poll() is None, "the crawl ended before its kill point"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    settle(mirror)


def captured_ids(folder) -> set[int]:
    """The articles whose page is in a sound 200 response record of the WARC files in `folder`."""
    from crawler.warc.read import scan

    return {int(entry.uri.rsplit("a-", 1)[1]) for path in folder.glob("*.warc.gz")
            for entry in scan(path) if entry.kind == "response" and entry.status == 200
            and "/a-" in entry.uri}


def settle(mirror: Mirror, quiet: float = 1.0) -> None:
    """Wait until the mirror's log has not grown for `quiet` seconds. A request the killed crawl
    sent just before it died can still be read, and logged, by the mirror after the kill; logged
    after the next run's `clear()`, it would count as that run's and look fetched twice."""
    size, since = -1, time.monotonic()
    deadline = since + 60
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the mirror's log kept growing after the kill"
        now = mirror.log.stat().st_size if mirror.log.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        time.sleep(0.05)


# Each trial: the runs before the last, each killed after that many article requests, or
# stopped cleanly by a page limit ("stop").
TRIALS = {
    "killed mid-way": [18],
    "killed, then the resumed run killed too": [14, 8],
    "stopped cleanly, then the resumed run killed": ["stop", 8],
    "killed three times": [6, 6, 12],
}


@pytest.mark.parametrize("runs", TRIALS.values(), ids=TRIALS.keys())
def test_after_a_kill_the_next_run_fetches_exactly_what_is_missing(slow_site, tmp_path, runs):
    site, faults = slow_site
    total = set(index_site(site))
    db, job, log = tmp_path / "dw.db", tmp_path / "job", tmp_path / "access.log"
    args = ("-a", LANGS, "-s", f"JOBDIR={job}", "-s", "CONCURRENT_REQUESTS=2",
            "-s", "ARCHIVE_BATCH_SIZE=5", "-s", "ARCHIVE_BATCH_SECONDS=0.5")
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)
        command = crawl_command(origin, db, *args)
        for run in runs:
            if run == "stop":
                mirror.clear()
                stopped = crawl(mirror, db, *args, "-s", "CLOSESPIDER_PAGECOUNT=16")
                assert stopped.returncode == 0, stopped.stderr[-2000:]
            else:
                kill_after(mirror, command, run)
        held = archived_ids(db) if db.exists() else set()
        assert held < total
        # What the killed runs fetched but never stored: the last run stores it from their WARC
        # records (crawler.warc.reextract.recover) instead of fetching it again.
        captured = captured_ids(db.with_name("dw.db-warc")) - held
        mirror.clear()
        last = measured(command)
        assert last.returncode == 0 and "Traceback" not in last.stderr, last.stderr[-2000:]
        assert last.cpu_seconds < 120 and last.peak_mib < 600, (last.cpu_seconds, last.peak_mib)
        fetched = requested(mirror)
    # No article never requested, none archived or captured fetched again.
    assert set(fetched) == total - held - captured
    assert set(fetched.values()) == {1}  # none twice
    assert archived_ids(db) == total
    assert query(db, "SELECT count(*) FROM revisions") == [(0,)]
    assert "never ended (killed?)" in last.stderr and "discarded" in last.stderr
    stats = last_run(db)["stats"]
    assert "dw/jobdir/discarded_requests" in stats
    assert stats.get("dw/archive/recovered/new", 0) == len(captured)
    assert last_run(db)["outcome"] == "ok"


def test_a_second_crawl_on_a_job_directory_in_use_is_refused(slow_site, tmp_path):
    site, _ = slow_site
    job, log = tmp_path / "job", tmp_path / "access.log"
    # Article pages answering after 2 s: the first crawl (one request at a time) is still under
    # way after 80 s, however long the second takes to start on a loaded machine (at 0.05 s the
    # first could end before the second looked at the job directory).
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"/" + rel.removesuffix(".html"): "delay=2"
                                  for rel in index_site(site).values()}))
    with running_mirror(site, log, faults) as origin:
        mirror = Mirror(origin, log)
        first = forkserver.start(crawl_command(origin, tmp_path / "one.db", "-a", LANGS,
                                               "-s", f"JOBDIR={job}", "-s", "CONCURRENT_REQUESTS=1"),
                                 cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not mirror.article_pages():
                assert time.monotonic() < deadline and first.poll() is None
                time.sleep(0.02)
            second = crawl(mirror, tmp_path / "two.db", "-a", LANGS, "-s", f"JOBDIR={job}")
        finally:
            first.terminate()
            first.wait(timeout=60)
    assert second.returncode == 3
    last = second.stderr.splitlines()[-1]
    assert last == f"dw crawl failed: another crawl is using the job directory {job}"
    assert not (tmp_path / "two.db").exists()
    assert os.path.exists(job / "requests.queue")  # the first run's queue was left alone
