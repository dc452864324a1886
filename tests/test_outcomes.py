"""Honest outcomes through the real `scrapy crawl dw` and `scrapy shell` against the mirror: every
bad argument refused in one last line that names it, a LOG_FILE that cannot be written refused
before Scrapy's traceback, limits the user set ending with exit 0 and an outcome that says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devtools.demo import crawl_command
from tests import forkserver
from tests.conftest import ROOT
from tests.crawling import archived_ids, crawl, last_run, query
from tests.test_archive_runs import summary_counts

SAMPLE = json.loads((ROOT / "data" / "sample-articles.json").read_text(encoding="utf-8"))
ENGLISH = [a for a in SAMPLE["articles"] if a["language"] == "en"]


def last_line(run: subprocess.CompletedProcess) -> str:
    lines = run.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    return lines[-1]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under the archive's folder (the archive, its WARCs), byte for byte."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """An archive of the sample site's German articles, written once for the module."""
    from tests.crawling import Mirror, running_mirror

    folder = tmp_path_factory.mktemp("archived")
    with running_mirror(ROOT / "data" / "sample-site", folder / "access.log") as origin:
        run = crawl(Mirror(origin, folder / "access.log"), folder / "dw.db", "-a", "lang=de")
    assert run.returncode == 0, run.stderr[-2000:]
    (folder / "access.log").unlink()
    return folder


def _copy(folder: Path, target: Path) -> Path:
    shutil.copytree(folder, target)
    return target / "dw.db"


BAD_ARGUMENTS = [  # (arguments, what the last line must say)
    (["-a", "urls=htp:/dw.com/x"], "urls='htp:/dw.com/x': none of the 1 URLs given is a DW article"),
    (["-a", "urls=https://example.com/en/x/a-1,https://www.bbc.co.uk/news"],
     "urls='https://example.com/en/x/a-1,https://www.bbc.co.uk/news': none of the 2 URLs"),
    (["-a", "urls="], "urls= is empty"),
    (["-a", "lang="], "lang= is empty"),
    (["-a", "langs=en"], "unknown argument langs=; did you mean lang=?"),
    (["-a", "url=https://www.dw.com/en/x/a-16825046"], "unknown argument url=; did you mean urls=?"),
    (["-a", "colour=red"], "unknown argument colour= (the dw spider takes lang, sources, urls,"),
    (["-a", "since=2026-02-01", "-a", "until=2026-01-31"],
     "since=2026-02-01 is after until=2026-01-31"),
    (["-a", "lang=xx"], "unknown language xx"),
]


@pytest.mark.parametrize(("args", "said"), BAD_ARGUMENTS, ids=[" ".join(a[1::2]) for a, _ in BAD_ARGUMENTS])
def test_a_bad_argument_is_refused_in_one_line_and_the_archive_left_as_it_was(
        archived, mirror, tmp_path, args, said):
    db = _copy(archived, tmp_path / "copy")
    before = snapshot(db.parent)
    run = crawl(mirror, db, *args)
    assert run.returncode == 3
    assert last_line(run).startswith(f"dw crawl failed: bad argument: {said}"), last_line(run)
    assert mirror.paths() == []  # not even robots.txt
    assert snapshot(db.parent) == before  # not a byte written, no lock or WAL file made


def test_a_refused_run_does_not_create_the_archive(mirror, tmp_path):
    run = crawl(mirror, tmp_path / "new" / "dw.db", "-a", "lang=en", "-a", "langs=de")
    assert run.returncode == 3
    assert "unknown argument langs=" in last_line(run)
    assert not (tmp_path / "new").exists()


def test_with_log_file_the_reason_is_all_that_reaches_stderr(mirror, tmp_path):
    log = tmp_path / "crawl.log"
    run = crawl(mirror, tmp_path / "dw.db", "-a", "lang=xx", "-s", f"LOG_FILE={log}",
                "-s", "LOG_LEVEL=WARNING")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines() == [
        f"dw crawl failed: bad argument: unknown language xx; DW has {' '.join(_languages())}"]
    assert "Bad argument: unknown language xx" in log.read_text()


def _languages() -> list[str]:
    from crawler import dw
    return list(dw.LANGUAGES)


@pytest.mark.parametrize("where", ["missing/folder/crawl.log", "a-file/crawl.log", ".", "/dev/full"])
def test_a_log_file_that_cannot_be_written_is_one_line_not_a_traceback(mirror, tmp_path, where):
    (tmp_path / "a-file").write_text("a file, not a folder")
    log = tmp_path / where
    run = crawl(mirror, tmp_path / "dw.db", "-a", "lang=en", "-s", f"LOG_FILE={log}")
    assert run.returncode == 3
    reason = {"missing/folder/crawl.log":
              "cannot be written: No such file or directory (create its folder first)",
              "a-file/crawl.log": "cannot be written: Not a directory",
              ".": "cannot be written: Is a directory",
              # every write fails (a stand-in for a full disk): refused, not a traceback per record
              "/dev/full": "is a device, not a file (only /dev/null or a terminal are taken): give"
                           " the file the log is to be kept in"}[where]
    assert run.stderr.strip().splitlines() == [f"dw crawl failed: bad setting: LOG_FILE={log} {reason}"]
    assert mirror.paths() == [] and not (tmp_path / "dw.db").exists()
    assert not (tmp_path / "missing").exists()  # the crawl does not guess where logs belong


def test_a_log_that_fails_mid_run_is_a_counted_failure_not_a_traceback_per_record(mirror, tmp_path):
    """The log is a named pipe whose reader stops after the first few records (as a full disk
    stops a file): one line on stderr, exit 3, the run's row saying why and how many were lost."""
    log = tmp_path / "crawl.log"
    os.mkfifo(log)
    reader = os.open(log, os.O_RDONLY | os.O_NONBLOCK)  # open before the crawl checks LOG_FILE
    got = bytearray()

    def read_a_little() -> None:
        deadline = time.monotonic() + 120
        while len(got) < 2000 and time.monotonic() < deadline:
            try:
                chunk = os.read(reader, 4096)
            except BlockingIOError:
                chunk = b""
            got.extend(chunk)
            if not chunk:
                time.sleep(0.01)
        os.close(reader)  # the crawl's next write fails: EPIPE

    thread = threading.Thread(target=read_a_little)
    thread.start()
    try:
        run = crawl(mirror, tmp_path / "dw.db", "-a", "lang=en", "-a", "sources=news",
                    "-s", f"LOG_FILE={log}")
    finally:
        thread.join()
    assert b"Scrapy" in got and b"started" in got  # it was writing until the pipe closed
    assert "Traceback" not in run.stderr and "Logging error" not in run.stderr, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and run.returncode == 3, run.stderr[-2000:]
    assert re.fullmatch(rf"dw crawl failed: the log file {re.escape(str(log))} could not be written"
                        r" \(Broken pipe\): [1-9]\d* log records lost", lines[0]), lines[0]
    row = last_run(tmp_path / "dw.db")
    assert row["outcome"].startswith(f"the log file {log} could not be written (Broken pipe)")
    assert row["stats"]["dw/failed/log_not_written"] > 0
    assert row["fetched"] > 0  # the crawl went on: its articles are archived, only the log is lost


LIMITS = [  # a setting the user gave; the run's finish reason
    (["-s", "CLOSESPIDER_ITEMCOUNT=2"], "closespider_itemcount", "CLOSESPIDER_ITEMCOUNT"),
    (["-s", "CLOSESPIDER_PAGECOUNT=5"], "closespider_pagecount", "CLOSESPIDER_PAGECOUNT"),
    # Half a second between requests: robots.txt, two sitemaps and the 8 English articles take
    # at least 5 s however fast the machine; the limit stops it at 3 s, after the first articles.
    (["-a", "sources=news,articles", "-s", "CLOSESPIDER_TIMEOUT=3", "-s", "DOWNLOAD_DELAY=0.5",
      "-s", "RANDOMIZE_DOWNLOAD_DELAY=False"], "closespider_timeout", "CLOSESPIDER_TIMEOUT"),
]


@pytest.mark.parametrize(("args", "reason", "setting"), LIMITS, ids=[r for _, r, _ in LIMITS])
def test_a_limit_the_user_set_is_not_a_failure(mirror, tmp_path, args, reason, setting):
    db = tmp_path / "dw.db"
    sources = [] if "sources=news,articles" in args else ["-a", "sources=news"]
    run = crawl(mirror, db, "-a", "lang=en", *sources, "-s", "CONCURRENT_REQUESTS=1", *args)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dw crawl failed" not in run.stderr
    verdict = f"stopped: {reason} (a limit you set: {setting})"
    assert last_run(db)["outcome"] == verdict
    assert f"Crawl {reason} ({verdict})" in run.stderr
    stored = len(archived_ids(db))
    assert 0 < stored < len(ENGLISH)  # stopped before the end
    assert stored == last_run(db)["new"]  # and what it got is kept
    # The closing line adds up: what was found and never fetched (the requests queued ahead
    # when it stopped) is named (before, found exceeded the rest by as many; tester try26).
    counts = summary_counts(run.stderr)
    assert counts["found"] == (counts["fetched"] + counts["not_modified"] + counts["failed"]
                               + counts["gone"] + counts.get("not_fetched", 0)), counts
    assert last_run(db)["stats"].get("dw/not_fetched", 0) == counts.get("not_fetched", 0)


def test_a_run_stopped_with_requests_queued_names_them_in_its_closing_line(mirror, tmp_path):
    """Stopped after its first item, with the other articles of the listing queued (a listing
    admits all its entries at once; two requests at a time are under way and end, the others
    wait in the scheduler): the closing line names them, `not_fetched N (stopped)`, and adds up
    (before, found exceeded the rest by N)."""
    db = tmp_path / "dw.db"
    run = crawl(mirror, db, "-a", "lang=en", "-s", "CLOSESPIDER_ITEMCOUNT=1", "-s", "CONCURRENT_REQUESTS=2")
    assert run.returncode == 0, run.stderr[-2000:]
    counts = summary_counts(run.stderr)
    assert counts["found"] <= len(ENGLISH) and counts["fetched"] < len(ENGLISH), counts
    left = counts["found"] - counts["fetched"] - counts["not_modified"] - counts["failed"] - counts["gone"]
    assert left > 0 and counts.get("not_fetched") == left, counts
    assert f"not_fetched {left} (stopped); reasons:" in run.stderr
    assert last_run(db)["stats"]["dw/not_fetched"] == left
    assert len(mirror.article_pages()) == counts["fetched"]  # none of them was asked for


def test_ctrl_c_once_stops_gracefully_with_exit_0_and_keeps_what_was_fetched(mirror, tmp_path):
    db = tmp_path / "dw.db"
    command = crawl_command(mirror.origin, db, "-a", "lang=en", "-a", "sources=news",
                            "-s", "DOWNLOAD_DELAY=1", "-s", "CONCURRENT_REQUESTS=1")
    process = forkserver.start(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not mirror.article_pages() and process.poll() is None:
        time.sleep(0.1)
    assert process.poll() is None and mirror.article_pages(), "the crawl never reached an article"
    process.send_signal(signal.SIGINT)  # as Ctrl-C in a terminal
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert process.returncode == 0, stderr[-2000:]
    assert last_run(db)["outcome"] == "stopped: shutdown (you stopped it: Ctrl-C or SIGTERM)"
    fetched = last_run(db)["fetched"]
    assert 0 < fetched < len(ENGLISH)  # a second a page: stopped before the eighth
    assert len(archived_ids(db)) == last_run(db)["new"] == fetched  # every page it got is stored


def test_ctrl_c_twice_stops_by_force_and_is_a_failure(tmp_path):
    from tests.crawling import Mirror, running_mirror

    path = "/en/syrian-activists-hezobollah-fighters-killed-in-siege/a-16825046"
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({path: "delay=120"}))  # in flight when Ctrl-C comes, and after
    log, db = tmp_path / "access.log", tmp_path / "dw.db"
    with running_mirror(ROOT / "data" / "sample-site", log, faults) as origin:
        mirror = Mirror(origin, log)
        command = crawl_command(origin, db, "-a", f"urls=https://www.dw.com{path}",
                                "-s", "DOWNLOAD_TIMEOUT=300")
        process = forkserver.start(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and path not in mirror.paths() and process.poll() is None:
            time.sleep(0.1)
        assert process.poll() is None and path in mirror.paths()
        process.send_signal(signal.SIGINT)  # graceful: waits for the page in flight
        time.sleep(1)
        process.send_signal(signal.SIGINT)  # and again: stop now
        _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert process.returncode == 3
    assert stderr.strip().splitlines()[-1] == "dw crawl failed: stopped by force before its end"
    # Its crawl_runs row, written when it started, says so too.
    assert query(db, "SELECT outcome, finish_reason FROM crawl_runs") == [
        ("stopped by force before its end", "forced")]


def test_a_job_stopped_at_a_limit_resumes_to_the_whole_site(mirror, tmp_path):
    db, job = tmp_path / "dw.db", tmp_path / "job"
    first = crawl(mirror, db, "-a", "lang=en", "-s", f"JOBDIR={job}", "-s", "CLOSESPIDER_ITEMCOUNT=2",
                  "-s", "CONCURRENT_REQUESTS=1")
    assert first.returncode == 0, first.stderr[-2000:]
    assert 0 < len(archived_ids(db)) < len(ENGLISH)
    second = crawl(mirror, db, "-a", "lang=en", "-s", f"JOBDIR={job}")
    assert second.returncode == 0 and last_run(db)["outcome"] == "ok"
    assert archived_ids(db) == {a["id"] for a in ENGLISH}


# -- scrapy shell ----------------------------------------------------------------------------

def shell(*args: str, archive: Path) -> subprocess.CompletedProcess:
    run = forkserver.run([sys.executable, "-m", "scrapy", "shell", "-s", "LOG_LEVEL=WARNING",
                          "-s", f"ARCHIVE_PATH={archive}", *args], cwd=ROOT, timeout=120,
                         env=os.environ.copy())
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run


def test_scrapy_shell_reads_a_mirror_page_through_its_dw_url(mirror, tmp_path):
    seed = next(a for a in SAMPLE["articles"] if a["id"] == 16825046)
    run = shell("-s", f"DW_ORIGIN={mirror.origin}", "-c", "response.css('h1::text').get()",
                f"https://www.dw.com/en/{seed['slug']}/a-16825046", archive=tmp_path / "dw.db")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == seed["title"]
    assert mirror.article_pages() == ["/en/" + seed["slug"] + "/a-16825046"]
    assert not (tmp_path / "dw.db").exists()  # the shell never creates or writes the archive


def test_scrapy_shell_with_origins_unset_says_why_in_one_line(mirror, tmp_path):
    run = shell("-c", "response.css('h1::text').get()", f"{mirror.origin}/en/x/a-16825046",
                archive=tmp_path / "dw.db")
    assert run.returncode == 1
    said = [line for line in run.stderr.splitlines() if line.startswith("scrapy shell")]
    assert said == [
        f"scrapy shell: no response from {mirror.origin}/en/x/a-16825046: a host other than the"
        " configured DW origins (https://www.dw.com) is refused, or the request failed (see the"
        " log); for a local mirror: scrapy shell -s DW_ORIGIN=http://127.0.0.1:8765"
        " https://www.dw.com/...",
        "scrapy shell -c: AttributeError: 'NoneType' object has no attribute 'css'"]
    assert mirror.paths() == []  # refused, not fetched


def test_scrapy_shell_c_with_failing_code_is_one_line(tmp_path):
    run = shell("-c", "int('x')", archive=tmp_path / "dw.db")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "scrapy shell -c: ValueError: invalid literal for int() with base 10: 'x'")


def test_an_unknown_spider_is_a_usage_error_not_a_traceback(tmp_path):
    run = forkserver.run([sys.executable, "-m", "scrapy", "crawl", "dww"], cwd=ROOT, timeout=120)
    assert "Traceback" not in run.stderr
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].endswith(
        " error: no spider named 'dww': this project has dw")


def test_a_component_scrapy_cannot_load_is_exit_1_and_one_line(mirror, tmp_path):
    run = crawl(mirror, tmp_path / "dw.db", "-s", 'EXTENSIONS={"crawler.nowhere.Extension": 10}')
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "dw crawl failed: Scrapy could not start the crawl: ModuleNotFoundError: No module named"
        " 'crawler.nowhere' (-s LOG_LEVEL=DEBUG shows where)")
    assert mirror.paths() == [] and not (tmp_path / "dw.db").exists()


def test_a_stopped_runs_counts_still_add_up(mirror, tmp_path):
    db = tmp_path / "dw.db"
    run = crawl(mirror, db, "-a", "lang=en", "-s", "CLOSESPIDER_ITEMCOUNT=3", "-s", "CONCURRENT_REQUESTS=1")
    assert run.returncode == 0
    row = last_run(db)
    stored = query(db, "SELECT count(*) FROM articles")[0][0]
    assert row["new"] == stored >= 3


@pytest.mark.parametrize("target, refused", [
    ("/dev/null", None), ("/dev/zero", "is a device, not a file"),
    ("fifo", "is a named pipe that no process reads"),
    ("crawl.log", None), ("a-file/crawl.log", "cannot be written: Not a directory")])
def test_log_file_checks(tmp_path, target, refused):
    from crawler import logfile

    (tmp_path / "a-file").write_text("")
    os.mkfifo(tmp_path / "fifo")
    why = logfile.problem(str(tmp_path / target))
    assert why == refused if refused is None else why.startswith(refused), why


def test_a_watched_log_file_stops_at_its_first_write_error_and_counts_what_is_lost(tmp_path, capsys):
    import logging

    from crawler import logfile

    path = tmp_path / "crawl.log"
    logfile.watch(str(path))
    class Fussy(logging.Formatter):  # a record that cannot be formatted: a bug, not the file
        def format(self, record):
            if record.msg == "bad":
                raise ValueError("cannot format this one")
            return super().format(record)

    handler = logging.FileHandler(path)
    handler.setFormatter(Fussy())
    log = logging.getLogger("test.logfile")
    log.addHandler(handler)
    try:
        log.warning("written")
        log.warning("bad")  # Python's report of it, and the log goes on
        assert logfile.failure() is None
        handler.stream.close()
        handler.stream = open("/dev/full", "w")  # from here every write fails, as on a full disk
        for n in range(3):
            log.warning("lost %d", n)
        handler.close()
    finally:
        log.removeHandler(handler)
    failure = logfile.failure()
    assert failure is not None and failure.error == "No space left on device" and failure.lost == 3
    assert path.read_text().splitlines()[0].endswith("written")
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 1 and "cannot format this one" in err  # the bad one's
