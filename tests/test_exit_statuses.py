"""One meaning per exit status across the commands (README, "Exit status"): 2 is a usage error of
the command line's parser (argparse's, Scrapy's), 3 a value refused (a bad argument or setting) or
a run that did not do its job, with one last line `dw COMMAND failed: …`. `scrapy crawl`'s own are
in tests/test_settings_check.py and tests/test_outcomes.py; here the backfill's, the archive
writer's and re-extraction's, in process where the command allows it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BACKFILL = ["wayback", "--month", "2024-01", "-s", "BACKFILL_WAYBACK_CDX=http://127.0.0.1:9/cdx",
            "-s", "BACKFILL_WAYBACK_REPLAY=http://127.0.0.1:9/web"]


@pytest.mark.parametrize(("argv", "status", "said"), [
    # argparse's own usage errors: 2, its usage line
    (["wayback", "--bogus"], 2, "error: unrecognized arguments: --bogus"),
    ([], 2, "error: the following arguments are required: source"),
    (["wayback", "-s", "ARCHIVE_BATCH_SIZE"], 2, "error: -s 'ARCHIVE_BATCH_SIZE': write NAME=VALUE"),
    # values refused: 3, as `scrapy crawl`'s (was 2: tester try26, item 9)
    ([*BACKFILL, "-s", "ARCHIVE_BATCH_SIZE=0"], 3,
     "dw backfill failed: bad setting: ARCHIVE_BATCH_SIZE=0 is less than the least, 1; give the"
     " articles written in one transaction, a whole number, at least 1 (default 100)"),
    ([*BACKFILL, "-s", "HEALTH_DROP=2"], 3,
     "dw backfill failed: bad setting: HEALTH_DROP=2 is not a fraction"),
    ([*BACKFILL, "-s", "ARCHIVE_PTH=x.db"], 3,
     "dw backfill failed: bad setting: unknown setting ARCHIVE_PTH; did you mean ARCHIVE_PATH?"),
    (["wayback", "--lang", ","], 3, "dw backfill failed: bad argument: --lang ','"),
    (["gopher"], 3, "dw backfill failed: bad argument: source 'gopher'"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_the_backfill_usage_error_is_2_and_a_value_refused_is_3(tmp_path, capsys, argv, status, said):
    from crawler.backfill import cli

    try:
        code = cli.main([*argv, "--archive", str(tmp_path / "dw.db")])
    except SystemExit as exit:  # argparse's
        code = exit.code
    assert code == status
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert said in last and (status == 2 or last.startswith(said)), last
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_the_backfill_refuses_a_warc_dir_that_is_a_file_with_3(tmp_path, capsys):
    from crawler.backfill import cli

    afile = tmp_path / "afile"
    afile.write_text("x")
    code = cli.main([*BACKFILL, "--archive", str(tmp_path / "dw.db"), "-s", f"WARC_DIR={afile}"])
    assert code == 3
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"dw backfill failed: bad setting: WARC_DIR={afile} is a regular file, not a folder; give"
        " the folder the WARC files go to")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("origin", ["ftp://x", "http://127.0.0.1:1/path", "http://u:p@127.0.0.1:1",
                                    "127.0.0.1:8765", "http://127.0.0.1:1?x=1", "http://127.0.0.1:0",
                                    " http://127.0.0.1:1", ""])
def test_reextract_takes_an_origin_by_dw_origins_rule(tmp_path, capsys, origin):
    """Before: `ftp://x` said "(write http://ftp://x)", a path was taken, and the status was 2."""
    from crawler import setting_checks
    from crawler.warc import reextract

    assert setting_checks.problem(_settings({"DW_ORIGIN": origin}), ["DW_ORIGIN"])  # the same rule
    code = reextract.main(["--archive", str(tmp_path / "dw.db"), "--origin", origin, str(tmp_path)])
    assert code == 3
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dw reextract failed: --origin {origin!r} is not an origin (the scheme and host only, e.g."
        " http://127.0.0.1:8000); give the mirror the WARCs were fetched from, as DW_ORIGIN names it"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8765", "https://mirror.example/", "HTTP://127.0.0.1:1"])
def test_reextract_takes_an_origin_dw_origin_takes(tmp_path, capsys, origin):
    from crawler import setting_checks
    from crawler.warc import reextract

    assert setting_checks.problem(_settings({"DW_ORIGIN": origin}), ["DW_ORIGIN"]) is None
    code = reextract.main(["--archive", str(tmp_path / "dw.db"), "--origin", origin,
                           str(tmp_path / "none.warc.gz")])
    assert code == 3  # the origin taken; the WARC given does not exist
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dw reextract failed: {tmp_path / 'none.warc.gz'}: no such file or folder"]


def test_reextracts_other_refusals_end_with_the_commands_failed_line(tmp_path, capsys):
    """As `scrapy crawl` and `crawler.backfill` end (`dw COMMAND failed: …`); before, the reason
    alone: nothing folders of cron mails could match on."""
    from crawler.archive import RunLock
    from crawler.warc import reextract
    from crawler.warc.capture import WarcFiles

    empty = tmp_path / "empty"
    empty.mkdir()
    assert reextract.main(["--archive", str(tmp_path / "dw.db"), str(empty)]) == 3
    assert capsys.readouterr().err.strip().splitlines() == [f"dw reextract failed: No WARC files in {empty}"]

    files = WarcFiles(tmp_path / "warc", 1 << 20, {"software": "test"})
    files.append([])  # a file holding its warcinfo record
    files.close()
    archive = tmp_path / "dw.db"
    archive.touch()
    with RunLock(archive):
        assert reextract.main(["--archive", str(archive), str(files.path)]) == 3
    assert capsys.readouterr().err.strip().splitlines() == [
        f"dw reextract failed: The archive {archive} is being written by a crawl or the archive writer"
        f" (it is locked by pid {os.getpid()}); run this again when it is done"]


@pytest.mark.parametrize("workers", ["abc", "1.5", "1e1", ""])
def test_reextract_usage_error_is_2(tmp_path, workers):
    from crawler.warc import reextract

    with pytest.raises(SystemExit) as exit:
        reextract.main(["--archive", str(tmp_path / "dw.db"), "--workers", workers])
    assert exit.value.code == 2


@pytest.mark.parametrize("workers", [" 2", "2 ", "٢", "+2", "0_2", "2\n"])
def test_reextract_workers_are_read_as_the_settings_numbers_are(tmp_path, capsys, workers):
    """argparse's int() took ` 2` and `٢` (Arabic-Indic two) as 2 (tester try28, item 8)."""
    from crawler.warc import reextract

    warc = tmp_path / "x.warc.gz"
    warc.write_bytes(b"")
    assert reextract.main(["--archive", str(tmp_path / "dw.db"), "--workers", workers, str(warc)]) == 3
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"dw reextract failed: --workers={workers!r} is not a whole number as written"
                           " (digits 0-9 only: no blank, line end, sign +, or _); give the extraction"
                           " processes, 1 to "), line
    assert [p.name for p in tmp_path.iterdir()] == ["x.warc.gz"]  # nothing made, nothing forked


@pytest.mark.parametrize(("workers", "said"), [
    # 100000 forked until the kernel's OOM killer ended it; 0 and -3 ran quietly as one
    ("100000", "--workers=100000 is more than the most, {most} (4 per core of the {cores} this"
               " process may use: extraction is CPU-bound, and each worker is a process of its own);"
               " give 1 to {most} (default: one per core)"),
    ("0", "--workers=0 is less than the least, 1; give the extraction processes, 1 to {most}"
          " (default: one per core)"),
    ("-3", "--workers=-3 is less than the least, 1"),
], ids=repr)
def test_reextract_workers_are_bounded_before_anything(tmp_path, capsys, workers, said):
    from crawler.warc import reextract

    cores = len(os.sched_getaffinity(0))
    assert reextract.most_workers() == 4 * cores
    warc = tmp_path / "x.warc.gz"
    warc.write_bytes(b"")
    assert reextract.main(["--archive", str(tmp_path / "dw.db"), "--workers", workers, str(warc)]) == 3
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dw reextract failed: " + said.format(most=4 * cores, cores=cores)), line
    assert [p.name for p in tmp_path.iterdir()] == ["x.warc.gz"]  # nothing made, nothing forked
    assert reextract.workers_problem(1) is None and reextract.workers_problem(4 * cores) is None
    assert reextract.workers_problem(4 * cores + 1) is not None


def test_reextract_an_empty_archive_is_said_to_be_empty(tmp_path, capsys):
    """`--archive ''` (an unset shell variable) was `--archive=. is a folder`."""
    from crawler.warc import reextract

    assert reextract.main(["--archive", "", str(tmp_path)]) == 3
    assert capsys.readouterr().err.strip().splitlines() == [
        "dw reextract failed: --archive= is empty (an unset shell variable?); give the archive's file,"
        " e.g. --archive=data/dw.db"]


def _archive_writer(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", "archive-writer", *args,
                           "-s", "REDIS_URL=redis://127.0.0.1:9/0", "-s", f"ARCHIVE_PATH={tmp_path}/dw.db"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "SCRAPY_SETTINGS_MODULE": "crawler.settings"})


@pytest.mark.parametrize(("args", "status", "said"), [
    # were ignored, exit 0 (the writer ran)
    (["--bogus", "--until-idle", "1"], 2,
     ": error: unknown option --bogus (scrapy archive-writer -h lists the options)"),
    (["--until-idle", "1", "bogus-positional"], 2,
     ": error: unexpected argument 'bogus-positional': archive-writer takes options only"),
    # were taken: -5 stopped at once, nan and 1e400 never went idle
    (["--until-idle", "nan"], 3, "dw archive-writer failed: bad argument: --until-idle=nan is not a"
                                 " number of seconds; give the seconds without an item after which"
                                 " the writer stops, at least 0 (default none: run until stopped)"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_the_archive_writer_refuses_what_it_does_not_take(tmp_path, args, status, said):
    run = _archive_writer(tmp_path, *args)
    assert run.returncode == status, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last == said if status == 3 else last.endswith(said), last  # 2: the parser's prog name
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("value", "said"), [
    ("-5", "--until-idle=-5 is less than the least, 0; give"), ("inf", "--until-idle=inf is not a number"),
    (" 5", "--until-idle=' 5' is not a number of seconds as written"),
    ("1e400", "--until-idle=1e400 is more than the most, 9223372036 (the longest wait Python's timers"
              " take)"),
    ("0", None), ("0.5", None), ("3600", None),
], ids=repr)
def test_until_idle_is_read_as_the_settings_are(value, said):
    import importlib

    writer = importlib.import_module("crawler.commands.archive-writer")
    got = writer.UNTIL_IDLE.problem("--until-idle", value, True)
    assert (got or "").startswith(said) if said else got is None, got


@pytest.mark.parametrize(("setting", "said"), [
    # a number, too large (was "is not a number of seconds": tester try27, item 9)
    ("ARCHIVE_TIMEOUT=1e300",
     "dw archive-writer failed: bad setting: ARCHIVE_TIMEOUT=1e300 is more than the most, 2147483"
     " (SQLite's busy timeout, 2**31 - 1 milliseconds); give the seconds a batch waits for another"
     " process's write lock, at least 0 and at most 2147483 (default 30.0)"),
    # the crawl's LOG_FILE check, the same in the writer (tests/test_outcomes.py: the crawl's)
    ("LOG_FILE=/dev/full",
     "dw archive-writer failed: bad setting: LOG_FILE=/dev/full is a device, not a file (only"
     " /dev/null or a terminal are taken): give the file the log is to be kept in"),
])
def test_the_archive_writer_says_its_own_name_and_exits_3(tmp_path, setting, said):
    """One process each: the writer's refusal of a setting, `dw archive-writer failed: …` (was `dw
    crawl failed: …`), nothing made. Its refusals to start (no Redis, a lock):
    tests/test_distributed.py."""
    run = subprocess.run([sys.executable, "-m", "scrapy", "archive-writer", "-s", setting,
                          "-s", "REDIS_URL=redis://127.0.0.1:9/0", "-s", f"ARCHIVE_PATH={tmp_path}/dw.db"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT),
                              "SCRAPY_SETTINGS_MODULE": "crawler.settings"})
    assert run.returncode == 3
    assert run.stderr.strip().splitlines() == [said]
    assert list(tmp_path.iterdir()) == []


def _settings(given: dict):
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(given, priority="cmdline")
    return settings
