"""An operator's slips on the command line, refused before anything is fetched or created: an
ARCHIVE_PATH that would make SQLite keep the crawl in memory, a typo in a setting's name, an
option Scrapy does not take, and `make crawl` with an empty ARCHIVE.

The crawls run from a folder of their own holding only `scrapy.cfg`, so that whatever a slip
would create (the default archive `data/dw.db`, a WARC folder, a lock file beside the working
folder) shows up there, and nothing can reach the developer's own `data/dw.db`.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crawler import setting_names
from devtools.demo import crawl_command
from tests.conftest import ROOT
from tests.test_outcomes import snapshot


def run_from(folder: Path, mirror, *args: str) -> subprocess.CompletedProcess:
    """`scrapy crawl dw ARGS` against the mirror, from `folder/run` (a project folder of its own)."""
    place = folder / "run"
    place.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "scrapy.cfg", place / "scrapy.cfg")
    command = [a for a in crawl_command(mirror.origin, Path("unused"), *args)]
    at = command.index("ARCHIVE_PATH=unused")
    del command[at - 1:at + 1]  # each case gives its own ARCHIVE_PATH, or none
    run = subprocess.run(command, cwd=place, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run


ARCHIVE_PATHS = [  # (value, what the one line says)
    ("", "ARCHIVE_PATH= is empty (an unset shell variable?); give the archive's file, e.g."
         " ARCHIVE_PATH=data/dw.db"),
    (":memory:", "ARCHIVE_PATH=:memory: is SQLite's in-memory database: nothing would be kept"),
    ("file:dw.db?mode=memory&cache=shared",
     "ARCHIVE_PATH=file:dw.db?mode=memory&cache=shared is a URI, not a file path"),
    (".", "ARCHIVE_PATH=. is a folder; give the archive's file in it, e.g. ARCHIVE_PATH=dw.db"),
    # From $(cat file) or a quoted line end: SQLite would make a file named "dw.db\n".
    ("dw.db\n", "ARCHIVE_PATH='dw.db\\n' holds a control character"),
    # Quoted, no shell expands it: a folder named ~ would be made in the working folder.
    ("~/x.db", "ARCHIVE_PATH=~/x.db begins with ~, which only a shell expands"),
]


@pytest.mark.parametrize(("value", "said"), ARCHIVE_PATHS,
                         ids=[v.strip() or "empty" for v, _ in ARCHIVE_PATHS])
def test_an_archive_path_that_keeps_nothing_is_refused_before_anything(mirror, tmp_path, value, said):
    run = run_from(tmp_path / "work", mirror, "-a", "lang=en", "-s", f"ARCHIVE_PATH={value}")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines() != []
    assert run.stderr.strip().splitlines()[-1].startswith(f"dw crawl failed: bad setting: {said}")
    assert mirror.paths() == []  # not even robots.txt
    # Nothing made anywhere: no archive, no WARC folder, no lock (beside the folder too).
    assert snapshot(tmp_path / "work") == {"run/scrapy.cfg": (ROOT / "scrapy.cfg").read_bytes()}


TYPOS = [  # (setting given, what the one line says)
    ("ARCHIVE_PTH=elsewhere.db", "unknown setting ARCHIVE_PTH; did you mean ARCHIVE_PATH?"),
    ("DW_ORGIN=http://127.0.0.1:9", "unknown setting DW_ORGIN; did you mean DW_ORIGIN?"),
    ("WARC_FOLDER=captures", "unknown setting WARC_FOLDER (dw-archive's WARC_ settings: WARC_DIR,"
                             " WARC_ENABLED, WARC_MAX_SIZE)"),
    # A known name but for its case: Scrapy keeps it as another setting, the default archive used.
    ("archive_path=elsewhere.db", "unknown setting 'archive_path'; did you mean ARCHIVE_PATH?"),
    ("lang=de", "lang is a spider argument, not a setting; give it as -a lang=de"),
]


@pytest.mark.parametrize(("setting", "said"), TYPOS, ids=[s.split("=")[0] for s, _ in TYPOS])
def test_a_typo_in_a_setting_name_is_refused_with_the_name_meant(mirror, tmp_path, setting, said):
    run = run_from(tmp_path / "work", mirror, "-a", "lang=en", "-s", setting)
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == f"dw crawl failed: bad setting: {said}"
    assert mirror.paths() == []
    # No data/dw.db, the default archive the typo would have left in use.
    assert snapshot(tmp_path / "work") == {"run/scrapy.cfg": (ROOT / "scrapy.cfg").read_bytes()}


def test_a_setting_of_another_component_is_passed_on_with_a_warning(mirror, tmp_path):
    run = run_from(tmp_path / "work", mirror, "-a", "lang=xx", "-s", "SPIDERMON_MAX_ERRORS=0",
                   "-s", "MYEXT_LIMIT=3", "-s", "ARCHIVE_PATH=dw.db")
    assert run.returncode == 3  # refused, but for the argument: the settings were taken
    assert run.stderr.strip().splitlines()[-1].startswith(
        "dw crawl failed: bad argument: unknown language xx")
    warned = re.findall(r"Setting (\S+) is neither dw-archive's nor Scrapy's", run.stderr)
    assert warned == ["SPIDERMON_MAX_ERRORS", "MYEXT_LIMIT"]


OPTIONS = [  # (option given, the last line)
    ("--lang=en", "unknown option --lang=en; spider arguments are given with -a: -a lang=en"),
    ("--bogus", "unknown option --bogus (scrapy crawl -h lists the options)"),
]


@pytest.mark.parametrize(("option", "said"), OPTIONS, ids=[o for o, _ in OPTIONS])
def test_an_unknown_option_is_named(mirror, tmp_path, option, said):
    run = run_from(tmp_path / "work", mirror, option)
    assert run.returncode == 2  # Scrapy's usage errors
    assert run.stderr.strip().splitlines()[-1].endswith(f": error: {said}")  # scrapy: / __main__.py:
    assert mirror.paths() == []
    assert snapshot(tmp_path / "work") == {"run/scrapy.cfg": (ROOT / "scrapy.cfg").read_bytes()}


def test_make_crawl_with_an_empty_archive_says_why_and_names_the_crawls_status(mirror, tmp_path):
    origins = " ".join(f"-s {name}={mirror.origin}"
                       for name in ("DW_ORIGIN", "DW_SHORTLINK_ORIGIN", "DW_FEED_ORIGIN"))
    # As typed at a shell: not a sub-make of `make test` (MAKELEVEL would make it "make[1]").
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    run = subprocess.run(["make", "--no-print-directory", "crawl", "ARCHIVE=",
                          f"ARGS=-a lang=en {origins}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    lines = run.stderr.strip().splitlines()
    # GNU make ends with its own status 2 whatever the recipe's: the crawl's 3 is in its line.
    assert run.returncode == 2
    assert lines[-2].startswith("dw crawl failed: bad setting: ARCHIVE_PATH= is empty"), lines
    assert re.fullmatch(r"make: \*\*\* \[Makefile:\d+: crawl\] Error 3", lines[-1]), lines
    assert mirror.paths() == []


def test_a_warc_setting_that_cannot_be_used_is_refused_before_anything(mirror, tmp_path):
    """One real crawl for the WARC settings' checks (the variants: `test_warc_settings_problem`)."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    run = run_from(tmp_path / "work", mirror, "-a", "lang=en", "-s", "ARCHIVE_PATH=dw.db",
                   "-s", f"WARC_DIR={afile}")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == (
        f"dw crawl failed: bad setting: WARC_DIR={afile} is a regular file, not a folder; give the"
        " folder the WARC files go to")
    assert mirror.paths() == []
    # No archive (so no crawl_runs row), no WARC folder, no lock: the file given is untouched.
    assert snapshot(tmp_path / "work") == {"run/scrapy.cfg": (ROOT / "scrapy.cfg").read_bytes()}
    assert afile.read_text() == "not a folder"


# -- the same rules, as functions (every case above and more, without a process each) ----------

@pytest.mark.parametrize(("value", "refused"), [
    ("", True), ("  ", True), (None, True), (":memory:", True), ("file:kept.db", True),
    ("FILE:x.db?mode=memory", True), ("new/", True), ("data/dw.db", False), ("dw", False),
    ("/srv/dw/dw.db", False), ("archive:2026.db", False), ("memory.db", False),
    (":MEMORY:", True), (" :Memory:", True), ("dw.db\n", True), ("dw\r.db", True), ("d\x1bw.db", True),
    ("dw\x7f.db", True), ("/dev/null", True), ("/dev/zero", True), ("/dev/stdin", True),
    ("Café/dw.db", False), ("/dev/stdout", True), ("/proc/self/fd/1", True),
])
def test_archive_path_problem(value, refused):
    from crawler.archive import paths

    said = paths.problem(value)
    assert (said is not None) == refused
    if refused:
        assert said.startswith(f"ARCHIVE_PATH={value or ''} ") or said.startswith(
            f"ARCHIVE_PATH={value!r} holds a control character")


def test_a_fifo_socket_or_device_is_no_archive_and_is_never_opened(tmp_path):
    import socket

    from crawler.archive import integrity, paths

    os.mkfifo(tmp_path / "fifo.db")  # opened, it would block for ever (no writer)
    (tmp_path / "null.db").symlink_to("/dev/null")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.db"))
    try:
        for name, kind in [("fifo.db", "a FIFO (named pipe)"), ("null.db", "a character device"),
                           ("sock.db", "a socket")]:
            said = f"is {kind}, not a regular file"
            assert said in paths.problem(tmp_path / name)
            assert said in integrity.not_an_archive(tmp_path / name)
            assert integrity.damage(tmp_path / name) is None  # returns: nothing opened
    finally:
        server.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.db", "null.db", "sock.db"]


@pytest.mark.parametrize(("names", "said"), [
    (["ARCHIVE_PATH", "DW_ORIGIN", "LOG_LEVEL", "CLOSESPIDER_ITEMCOUNT"], None),
    (["DOWNLOAD_DELY"], "unknown setting DOWNLOAD_DELY; did you mean DOWNLOAD_DELAY?"),
    (["LOG_LEVEL", "JOB_DIR"], "unknown setting JOB_DIR; did you mean JOBDIR?"),
    (["ARCHIVEPATH"], "unknown setting ARCHIVEPATH; did you mean ARCHIVE_PATH?"),
    (["HEALTH_WINDOW"], "unknown setting HEALTH_WINDOW (dw-archive's HEALTH_ settings: HEALTH_DROP,"
                        " HEALTH_MIN_ARTICLES, HEALTH_MIN_BASELINE, HEALTH_RECENT_RUNS)"),
    # Other components' settings, not near one we know: passed on.
    (["SCHEDULER_PERSIST", "DUPEFILTER_KEY", "SPIDERMON_FIELD_COVERAGE_RULES", "REDIS_PARAMS"], None),
    # A known name but for its case or surrounding spaces (as `-s NAME=VALUE` or the name alone).
    (["archive_path"], "unknown setting 'archive_path'; did you mean ARCHIVE_PATH?"),
    (["Archive_Path=x.db"], "unknown setting 'Archive_Path'; did you mean ARCHIVE_PATH?"),
    (["ARCHIVE_PATH =x.db"], "unknown setting 'ARCHIVE_PATH '; did you mean ARCHIVE_PATH?"),
    ([" DW_ORIGIN=x"], "unknown setting ' DW_ORIGIN'; did you mean DW_ORIGIN?"),
    (["log_level=DEBUG"], "unknown setting 'log_level'; did you mean LOG_LEVEL?"),
    (["archive_pth=x"], "unknown setting archive_pth; did you mean ARCHIVE_PATH?"),
    # Spider arguments given as settings: the -a form, with the value given.
    (["lang=de"], "lang is a spider argument, not a setting; give it as -a lang=de"),
    (["LANG=de,en"], "lang is a spider argument, not a setting; give it as -a lang=de,en"),
    ([" urls=@list.txt"], "urls is a spider argument, not a setting; give it as -a urls=@list.txt"),
    (["since"], "since is a spider argument, not a setting; give it as -a since=VALUE"),
])
def test_setting_names_check(names, said):
    assert setting_names.check(names)[0] == said


@pytest.mark.parametrize(("option", "said"), [
    ("--urls", "unknown option --urls; spider arguments are given with -a: -a urls=VALUE"),
    ("--ARCHIVE_PATH=x.db", "unknown option --ARCHIVE_PATH=x.db; settings are given with -s:"
                            " -s ARCHIVE_PATH=x.db"),
    ("-x", "unknown option -x (scrapy crawl -h lists the options)"),
])
def test_unknown_option(option, said):
    from crawler.commands.crawl import unknown_option

    assert unknown_option(option) == said


# -- the names known are derived, not kept by hand ---------------------------------------------

def _names_read_by_the_code() -> set[str]:
    """Every setting name the project's code reads with `settings.get…("NAME")`."""
    names = set()
    for path in [*(ROOT / "crawler").rglob("*.py"), *(ROOT / "pipelines").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "getint", "getfloat", "getbool", "getlist",
                                           "getdict", "getwithbase", "getpriority")
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.args[0].value)):
                names.add(node.args[0].value)
    return names


def test_every_setting_the_code_reads_is_known():
    read = _names_read_by_the_code()
    assert {"ARCHIVE_PATH", "DW_ORIGIN", "WARC_DIR", "REDIS_URL"} <= read  # the scan finds them
    assert read - setting_names.known_names() == set()


def test_known_names_are_crawler_settings_and_scrapys_defaults():
    from scrapy.settings import default_settings

    import crawler.settings as project

    assert setting_names.known_names() == {
        n for module in (project, default_settings) for n in dir(module) if n.isupper()}
    assert {"DW", "ARCHIVE", "WARC", "HEALTH"} <= setting_names.own_prefixes()
    assert not {"SPIDERMON", "RETRY", "DOWNLOAD", "REDIS"} & setting_names.own_prefixes()


def test_the_check_runs_in_the_archive_writer_too(tmp_path):
    run = subprocess.run([sys.executable, "-m", "scrapy", "archive-writer", "-s", "ARCHIVE_PATH=",
                          "-s", "REDIS_URL=redis://127.0.0.1:9/0"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT),
                              "SCRAPY_SETTINGS_MODULE": "crawler.settings"})
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1].startswith(  # was "dw crawl failed: …"
        "dw archive-writer failed: bad setting: ARCHIVE_PATH= is empty")
    assert list(tmp_path.iterdir()) == []


# -- WARC settings (their rules in crawler/setting_checks.py) ------------------------------------

def _warc_problem(given: dict, project: dict | None = None):
    from scrapy.settings import Settings

    from crawler import setting_checks

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(project or {}, priority="project")
    settings.setdict(given, priority="cmdline")  # as `-s NAME=VALUE` sets them
    return setting_checks.problem(settings, ("WARC_ENABLED", "WARC_MAX_SIZE", "WARC_DIR"))


@pytest.mark.parametrize(("given", "said"), [
    ({}, None),
    ({"WARC_ENABLED": "False"}, None), ({"WARC_ENABLED": "true"}, None), ({"WARC_ENABLED": "0"}, None),
    ({"WARC_ENABLED": "maybe"}, "WARC_ENABLED=maybe is not a boolean; give True or False (1 or 0)"),
    ({"WARC_ENABLED": ""}, "WARC_ENABLED= is not a boolean; give True or False (1 or 0)"),
    ({"WARC_MAX_SIZE": "1000000"}, None), ({"WARC_MAX_SIZE": "1"}, None),
    *[({"WARC_MAX_SIZE": value}, f"WARC_MAX_SIZE={value} is not a size; give the bytes per WARC file,"
       " a whole number, at least 1 (default 1000000000, 1 GB)")
      for value in ("abc", "", "1e9", "1.5", "1GB")],
    *[({"WARC_MAX_SIZE": value}, f"WARC_MAX_SIZE={value} is less than the least, 1; give the bytes per"
       " WARC file, a whole number, at least 1 (default 1000000000, 1 GB)")
      for value in ("0", "-5")],
    ({"WARC_DIR": ""}, "WARC_DIR= is empty (an unset shell variable?); leave it out for the"
                       " archive's own folder beside ARCHIVE_PATH, or give a folder"),
    ({"WARC_DIR": "  "}, "WARC_DIR=   is empty (an unset shell variable?); leave it out for the"
                         " archive's own folder beside ARCHIVE_PATH, or give a folder"),
    ({"WARC_DIR": "captures\n"}, "WARC_DIR='captures\\n' holds a control character (a line end"
                                  " from $(cat file)?); give a folder"),
    ({"WARC_DIR": "new/folder/to/make"}, None),
    ({"WARC_DIR": "/dev/null"}, "WARC_DIR=/dev/null is a character device, not a folder; give the"
                                " folder the WARC files go to"),
], ids=repr)
def test_warc_settings_problem(given, said):
    assert _warc_problem(given) == said


def test_warc_dir_not_given_is_the_archives_own_folder():
    # The default (empty, from crawler/settings.py) is no slip; only an empty value given is.
    assert _warc_problem({}, {"WARC_DIR": ""}) is None


def test_a_warc_dir_that_is_or_is_under_a_file_is_refused(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert _warc_problem({"WARC_DIR": str(afile)}) == (
        f"WARC_DIR={afile} is a regular file, not a folder; give the folder the WARC files go to")
    assert _warc_problem({"WARC_DIR": str(afile / "sub" / "dir")}) == (
        f"WARC_DIR={afile / 'sub' / 'dir'} cannot be made: {afile} is a regular file, so no folder"
        " can be made under it; give another folder")
    assert _warc_problem({"WARC_DIR": str(tmp_path)}) is None
    assert _warc_problem({"WARC_DIR": str(tmp_path / "new")}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing made by the check


# -- the value of every setting of the project (crawler/setting_checks.py) -----------------------

def _project_settings() -> list[str]:
    """Every setting crawler/settings.py adds to Scrapy's, and JOBDIR and USER_AGENT (Scrapy's,
    where a slip loses resumability or sends the crawl out unidentified): derived, so that a new
    setting without a rule fails the tests below."""
    return sorted(setting_names.project_names() - setting_names.scrapy_names()
                  | {"JOBDIR", "USER_AGENT"})


def _settings(given: dict | None = None):
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(given or {}, priority="cmdline")  # as `-s NAME=VALUE` sets them
    return settings


def _bad_values(name: str) -> list[str]:
    """Values no setting of its type takes, from its default in crawler/settings.py alone (not
    from its rule): a number that is none, negative or not finite; a boolean that is none; a
    text (a path, a URL, a name) with a line end in it."""
    import crawler.settings as project

    default = getattr(project, name, None)
    if isinstance(default, bool):
        return ["maybe", "yes", ""]
    if isinstance(default, int):
        return ["abc", "1.5", "1e3", "-1", ""]
    if isinstance(default, float):
        return ["abc", "nan", "inf", "-1", ""]
    return ["x\ny", "\tx"]


def _refused(name: str, value) -> str | None:
    from crawler import setting_checks

    return setting_checks.problem(_settings({name: value}))


def test_every_setting_of_the_project_has_a_rule_and_its_default_passes():
    from crawler import setting_checks

    names = _project_settings()
    assert {"ARCHIVE_PATH", "HEALTH_DROP", "DW_ORIGIN", "WARC_DIR", "JOBDIR"} <= set(names)
    # none missing, none left over but Scrapy's own that the crawl reads (tests below)
    assert sorted(set(setting_checks.RULES) - set(setting_checks.SCRAPY_RULES)) == names
    assert setting_checks.problem(_settings()) is None


@pytest.mark.parametrize("name", _project_settings())
def test_a_bad_value_of_each_setting_is_refused_in_a_sentence_naming_it(name):
    for value in _bad_values(name):
        said = _refused(name, value)
        assert said is not None, (name, value)
        assert said.startswith((f"{name}={value} ", f"{name}={value!r} ")), said
        assert "\n" not in said.replace("\\n", "")  # one line, whatever the value holds


@pytest.mark.parametrize("name", [n for n in _project_settings() if _bad_values(n)[0] == "abc"])
def test_text_that_is_no_number_is_refused_for_every_number_setting(name):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    def number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    @settings(max_examples=25, deadline=None)
    @given(st.text(max_size=12).filter(lambda text: not number(text)))
    def check(text):
        assert _refused(name, text) is not None

    check()


@pytest.mark.parametrize(("given", "said"), [
    ({"HEALTH_DROP": "abc"}, "HEALTH_DROP=abc is not a fraction; give the share of a field's median"
                             " below which it is degraded, a number from 0 to 1 (default 0.5)"),
    ({"HEALTH_MIN_BASELINE": "1.5"}, "HEALTH_MIN_BASELINE=1.5 is not a fraction"),
    ({"HEALTH_RECENT_RUNS": "0"}, "HEALTH_RECENT_RUNS=0 is less than the least, 1; give"),
    ({"HEALTH_MIN_ARTICLES": "1.5"}, "HEALTH_MIN_ARTICLES=1.5 is not a whole number"),
    ({"ARCHIVE_MAX_PAGES": "abc"}, "ARCHIVE_MAX_PAGES=abc is not a whole number; give the SQLite"
                                   " pages (4 KiB) the archive may grow to (0: no limit), a whole"
                                   " number, at least 0 (default 0)"),
    ({"ARCHIVE_BATCH_SIZE": "0"}, "ARCHIVE_BATCH_SIZE=0 is less than the least, 1; give"),
    ({"ARCHIVE_BATCH_SECONDS": "0"}, "ARCHIVE_BATCH_SECONDS=0 is not more than 0; give"),
    ({"ARCHIVE_TIMEOUT": "-1"}, "ARCHIVE_TIMEOUT=-1 is less than the least, 0; give"),
    ({"DW_SITEMAP_DEPTH": "-1"}, "DW_SITEMAP_DEPTH=-1 is less than the least, 0; give"),
    ({"DW_REQUESTS_AHEAD": "-3"}, "DW_REQUESTS_AHEAD=-3 is less than the least, 0; give"),
    ({"DW_PENDING_MAX": "abc"}, "DW_PENDING_MAX=abc is not a whole number"),
    ({"DW_ORIGIN": ""}, "DW_ORIGIN='' is not an origin (the scheme and host only, e.g."
                        " http://127.0.0.1:8000)"),
    ({"DW_FEED_ORIGIN": "ftp://127.0.0.1:18953"}, "DW_FEED_ORIGIN='ftp://127.0.0.1:18953' is not an origin"),
    ({"DW_SHORTLINK_ORIGIN": "127.0.0.1:8765"}, "DW_SHORTLINK_ORIGIN='127.0.0.1:8765' is not an origin"),
    ({"DW_ORIGIN": "http://127.0.0.1:8765/en/"}, "DW_ORIGIN='http://127.0.0.1:8765/en/' is not an origin"),
    ({"DW_ORIGIN": "http://127.0.0.1:99999"}, "DW_ORIGIN='http://127.0.0.1:99999' is not an origin"),
    ({"BACKFILL_COMMONCRAWL_CDX": "http://127.0.0.1:9/index"},
     "BACKFILL_COMMONCRAWL_CDX='http://127.0.0.1:9/index' has no {crawl}"),
    ({"JOBDIR": ""}, "JOBDIR= is empty (an unset shell variable?); leave it out for a run that"
                     " cannot be resumed, or give a folder"),
    ({"JOBDIR": "/x/j\n"}, "JOBDIR='/x/j\\n' holds a control character"),
    ({"JOBDIR": "/dev/null"}, "JOBDIR=/dev/null is a character device, not a folder; give the"
                              " folder the crawl's state is kept in"),
    ({"WARC_DIR": "/proc/warc"}, "WARC_DIR=/proc/warc cannot be made: No such file or directory;"
                                 " give another folder"),
    # a number over its bound is one, too large (was "is not a number of days": tester try27)
    ({"DW_GONE_RECHECK_DAYS": "1000000"}, "DW_GONE_RECHECK_DAYS=1000000 is more than the most, 36500"
                                          " (a century: later dates are out of range);"),
    ({"DW_GONE_RECHECK_DAYS": "1e300"}, "DW_GONE_RECHECK_DAYS=1e300 is more than the most, 36500"),
    ({"DW_ORIGIN": "http://u:p@127.0.0.1:8765"}, "DW_ORIGIN='http://u:p@127.0.0.1:8765' is not an origin"),
    ({"DW_ORIGIN": "http://127.0.0.1:0"}, "DW_ORIGIN='http://127.0.0.1:0' is not an origin"),
    ({"USER_AGENT": ""}, "USER_AGENT='' is not a User-Agent: the crawl would go out unidentified"),
    ({"USER_AGENT": "dw-test\nX-Injected: yes"}, "USER_AGENT='dw-test\\nX-Injected: yes' is not a"
                                                 " User-Agent"),
    ({"ARCHIVE_PATH": "/tmp/dw-check-same/dw.db", "JOBDIR": "/tmp/dw-check-same/dw.db"},
     "JOBDIR=/tmp/dw-check-same/dw.db is the archive's own file (ARCHIVE_PATH)"),
    ({"ARCHIVE_PATH": "/tmp/dw-check-same/x", "WARC_DIR": "/tmp/dw-check-same/./x"},
     "WARC_DIR=/tmp/dw-check-same/./x is the archive's own file (ARCHIVE_PATH)"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a Redis URL"),
    ({"DW_REDIS_PREFIX": "my cluster"}, "DW_REDIS_PREFIX='my cluster' is not a name"),
], ids=repr)
def test_setting_values_refused(given, said):
    from crawler import setting_checks

    assert (setting_checks.problem(_settings(given)) or "").startswith(said)


@pytest.mark.parametrize("given", [
    {"DW_ORIGIN": "http://127.0.0.1:8765"}, {"DW_ORIGIN": "https://www.dw.com/"},
    {"DW_REQUESTS_AHEAD": "0"}, {"ARCHIVE_MAX_PAGES": "5"}, {"HEALTH_DROP": "1"},
    {"HEALTH_MIN_BASELINE": "0"}, {"DW_GONE_RECHECK_DAYS": "0.5"}, {"SPIDERMON_ENABLED": "False"},
    {"REDIS_URL": "redis://127.0.0.1:6379/0"}, {"BACKFILL_COMMONCRAWL_COLLINFO": ""},
    {"JOBDIR": "crawls/run1"},
], ids=repr)
def test_setting_values_taken(given):
    from crawler import setting_checks

    assert setting_checks.problem(_settings(given)) is None


def test_a_folder_setting_is_tried_and_nothing_is_left_behind(tmp_path):
    from crawler import setting_checks

    afile = tmp_path / "afile"
    afile.write_text("")
    for name in ("WARC_DIR", "JOBDIR"):
        assert _refused(name, str(tmp_path / "new" / "deeper")) is None  # can be made
        assert _refused(name, str(tmp_path)) is None  # is a folder, written
        assert _refused(name, str(afile / "sub")).startswith(f"{name}={afile / 'sub'} cannot be made:")
        assert _refused(name, str(afile)) == (
            f"{name}={afile} is a regular file, not a folder; give"
            f" {setting_checks.RULES[name].means}")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["afile"]  # nothing made stays


def test_an_immutable_folder_is_refused_and_nothing_is_left_in_it(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made.stderr.decode().strip()}")
    try:
        said_in = _refused("WARC_DIR", str(folder))
        said_under = _refused("JOBDIR", str(folder / "sub" / "job"))
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert said_in == f"WARC_DIR={folder} cannot be written: Operation not permitted; give another folder"
    assert said_under == (f"JOBDIR={folder / 'sub' / 'job'} cannot be made: Operation not permitted"
                          f" ({folder / 'sub'}); give another folder")


def test_a_bad_health_setting_is_refused_before_anything(mirror, tmp_path):
    """One real crawl for the value checks (the variants: the tests above). Before, the whole
    crawl ran, then a traceback when it closed, a false `stopped by force` and the run's row
    left `running`."""
    run = run_from(tmp_path / "work", mirror, "-a", "lang=en", "-s", "ARCHIVE_PATH=dw.db",
                   "-s", "HEALTH_DROP=abc")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1] == (
        "dw crawl failed: bad setting: HEALTH_DROP=abc is not a fraction; give the share of a"
        " field's median below which it is degraded, a number from 0 to 1 (default 0.5)")
    assert mirror.paths() == []
    # No archive (so no crawl_runs row), no WARC folder, no lock, no folder at all.
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "work", "work/run", "work/run/scrapy.cfg"]


def test_the_backfill_checks_the_same_settings(tmp_path, capsys):
    from crawler.backfill import cli

    code = cli.main(["wayback", "--archive", str(tmp_path / "dw.db"), "-s", "HEALTH_DROP=abc",
                     "-s", "BACKFILL_WAYBACK_CDX=http://127.0.0.1:9/cdx", "-s", "BACKFILL_RETRIES=0"])
    assert code == 3
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "dw backfill failed: bad setting: HEALTH_DROP=abc is not a fraction")
    assert list(tmp_path.iterdir()) == []


def test_a_warc_error_before_any_file_is_open_names_the_folder(tmp_path, caplog):
    from scrapy.utils.test import get_crawler

    from crawler.middlewares import Origins
    from crawler.warc.capture import WarcCaptureMiddleware, WarcFiles

    files = WarcFiles(tmp_path / "captures", 1000, {})
    middleware = WarcCaptureMiddleware(get_crawler(), files, Origins())
    try:
        # No engine started: the crawl's stop, after the line, is not what is tested here.
        with contextlib.suppress(RuntimeError):
            middleware._fail(FileNotFoundError(2, "No such file or directory", str(tmp_path / "captures")))
    finally:
        middleware.writer.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"Cannot write in the WARC folder {tmp_path / 'captures'} ([Errno 2] No such file or"
        f" directory: '{tmp_path / 'captures'}'); stopping the crawl"]


# -- numbers read one strict way, each with its upper bound (tester try26, item 10) ---------------

def _number_settings() -> dict[str, str]:
    """Each number setting of the project and a value in digits it takes, from its default's
    type in crawler/settings.py (not from its rule)."""
    import crawler.settings as project

    taken = {}
    for name in _project_settings():
        default = getattr(project, name, None)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        taken[name] = "1" if name.startswith("HEALTH_") and isinstance(default, float) else "5"
    return taken


@pytest.mark.parametrize("name", sorted(_number_settings()))
def test_a_number_is_read_in_ascii_digits_only_for_every_number_setting(name):
    """Before, int()/float() read all of these as 5 (` 5 `, `+5`, `٥`) or 1000 (`1_000`)."""
    plain = _number_settings()[name]
    assert _refused(name, plain) is None
    for written in (f" {plain} ", f"{plain}\n", f"+{plain}", f"{plain}_0", "٥" * len(plain),
                    f"{plain}\t", f"\u00a0{plain}"):
        said = _refused(name, written)
        assert said is not None, (name, written)
        assert said.startswith((f"{name}={written} ", f"{name}={written!r} ")), said
        assert "\n" not in said  # one line, the value quoted when it holds a line end


@pytest.mark.parametrize("name", sorted(_number_settings()))
def test_any_number_text_taken_is_plain_ascii_and_finite(name):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(st.one_of(st.text(max_size=8), st.from_regex(r"[-+ ]?[0-9_.eE٥]{1,6}[ \n]?", fullmatch=True)))
    def check(text):
        if _refused(name, text) is None:
            assert set(text) <= set("0123456789.eE-"), text
            assert math.isfinite(float(text))

    check()


BOUNDS = [  # (setting, the largest value taken, the least refused, what the refusal names)
    ("ARCHIVE_MAX_PAGES", "4294967294", str(10**20), "SQLite's largest page count"),
    ("ARCHIVE_TIMEOUT", "2147483", "1e300", "SQLite's busy timeout"),
    ("RETRY_BACKOFF_MAX", "9223372036", "1e300", "the longest wait Python's timers take"),
    ("ARCHIVE_BATCH_SECONDS", "9223372036", "1e308", "the longest wait Python's timers take"),
    ("BACKFILL_TIMEOUT", "9223372036", "9223372037", "the longest wait Python's timers take"),
    ("ARCHIVE_BATCH_SIZE", str(2**63 - 1), str(10**26), "SQLite's largest integer"),
    ("HEALTH_RECENT_RUNS", str(2**63 - 1), str(2**63), "SQLite's largest integer"),
    ("DW_LISTING_MAXSIZE", str(2**63 - 1), str(10**22), "the largest size Python's zlib takes"),
]


@pytest.mark.parametrize(("name", "most", "over", "why"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_a_number_past_what_its_user_takes_is_refused(name, most, over, why):
    assert _refused(name, most) is None
    said = _refused(name, over)
    assert said is not None and said.startswith(f"{name}={over} ") and why in said, said


def test_the_bounds_are_the_limits_of_what_reads_the_values(tmp_path):
    """The bounds are where SQLite and Python stop: past them SQLite's busy timeout silently
    becomes 0 (never wait) and a socket's timeout overflows."""
    import socket
    import sqlite3

    from crawler.archive import Archive

    archive = Archive(tmp_path / "dw.db", timeout=2147483, max_pages=4294967294)
    try:
        assert archive.db.execute("PRAGMA busy_timeout").fetchone()[0] == 2147483000
    finally:
        archive.close()
    conn = sqlite3.connect(":memory:")
    conn.execute(f"PRAGMA busy_timeout = {2147484 * 1000}")
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] != 2147484000  # not what was asked
    conn.close()
    with socket.socket() as sock:
        sock.settimeout(9223372036)
        with pytest.raises(OverflowError):
            sock.settimeout(9223372037)


# -- paths as a shell slip leaves them; ARCHIVE_PATH's folder (tester try26, items 8 and 10) ----

def test_a_path_with_a_blank_at_its_ends_or_a_tilde_is_refused_for_every_path_setting(tmp_path):
    for name in ("ARCHIVE_PATH", "WARC_DIR", "JOBDIR"):
        for value in (f"{tmp_path}/x ", f" {tmp_path}/x", f"{tmp_path}/x\u00a0"):
            said = _refused(name, value)
            assert said == (f"{name}={value!r} begins or ends with a blank, which would be part of"
                            " the name made; give the path without it (quote a name that truly has"
                            " one inside)"), said
        said = _refused(name, "~/x")
        assert said.startswith(f"{name}=~/x begins with ~, which only a shell expands"), said
        assert said.endswith(f"e.g. {name}={Path('~/x').expanduser()}")
        assert _refused(name, f"{tmp_path}/a b/~x") is None  # inside, both are a name's own
    assert list(tmp_path.iterdir()) == []


def test_an_archive_path_that_cannot_be_made_is_a_bad_setting_naming_why(tmp_path):
    from crawler.archive import paths

    afile = tmp_path / "afile"
    afile.write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    cases = {  # before: "File exists", "No such file or directory" when the archive was opened
        f"{afile}/dw.db": f"ARCHIVE_PATH={afile}/dw.db cannot be made: {afile} is a regular file,"
                          " so no folder can be made under it",
        f"{afile}/sub/dw.db": f"ARCHIVE_PATH={afile}/sub/dw.db cannot be made: {afile} is a regular"
                              " file, so no folder can be made under it",
        f"{tmp_path}/dangling": f"ARCHIVE_PATH={tmp_path}/dangling is a symbolic link to"
                                f" {tmp_path}/nowhere, which does not exist",
        "/proc/dw.db": "ARCHIVE_PATH=/proc/dw.db is under /proc, not a place for an archive",
        "/proc/new/dw.db": "ARCHIVE_PATH=/proc/new/dw.db is under /proc, not a place for an archive",
    }
    for value, said in cases.items():
        assert (paths.problem(value) or "").startswith(said), paths.problem(value)
        assert (_refused("ARCHIVE_PATH", value) or "").startswith(said)
    assert _refused("ARCHIVE_PATH", f"{tmp_path}/new/folders/dw.db") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangling"]  # nothing made


# -- tester try27: numbers over their bound, Scrapy's own settings, NAME_MAX, JOBDIR -------------

@pytest.mark.parametrize(("name", "value", "most", "why"), [
    ("ARCHIVE_MAX_PAGES", "4294967295", "4294967294", "SQLite's largest page count"),
    ("ARCHIVE_TIMEOUT", "2147483.9", "2147483", "SQLite's busy timeout, 2**31 - 1 milliseconds"),
    ("ARCHIVE_TIMEOUT", "1e400", "2147483", "SQLite's busy timeout, 2**31 - 1 milliseconds"),  # past a float
    ("HEALTH_RECENT_RUNS", str(2**63), str(2**63 - 1), "SQLite's largest integer"),
    ("RETRY_BACKOFF_MAX", "1e300", "9223372036", "the longest wait Python's timers take"),
], ids=repr)
def test_a_number_over_its_bound_is_said_to_be_more_than_the_most(name, value, most, why):
    """It is a number, too large: was "is not a whole number" / "is not a number of seconds"."""
    said = _refused(name, value)
    assert said.startswith(f"{name}={value} is more than the most, {most} ({why}); give "), said
    assert f"at most {most} (default " in said


def _scrapy_default(name: str):
    from scrapy.settings import default_settings

    return getattr(default_settings, name)


def test_scrapys_own_settings_checked_are_scrapys_and_their_defaults_pass():
    from crawler import setting_checks

    assert {"CLOSESPIDER_TIMEOUT", "CLOSESPIDER_ITEMCOUNT", "CLOSESPIDER_PAGECOUNT", "DOWNLOAD_TIMEOUT",
            "CONCURRENT_REQUESTS", "RETRY_TIMES", "LOG_LEVEL"} <= set(setting_checks.SCRAPY_RULES)
    for name in setting_checks.SCRAPY_RULES:
        assert name in setting_names.scrapy_names(), name
        from scrapy.settings import Settings

        assert setting_checks.problem(Settings(), (name,)) is None, name  # Scrapy's default
    assert setting_checks.problem(_settings()) is None  # and the project's


@pytest.mark.parametrize(("given", "said"), [
    # stopped at once, exit 0, an archive and a crawl_runs row made, nothing fetched
    ({"CLOSESPIDER_TIMEOUT": "-5"}, "CLOSESPIDER_TIMEOUT=-5 is less than the least, 0; give the"
                                    " seconds after which the crawl stops (0: no limit), at least 0"),
    # a ValueError of int() when the crawl started: exit 1
    ({"CLOSESPIDER_ITEMCOUNT": "abc"}, "CLOSESPIDER_ITEMCOUNT=abc is not a whole number; give the"
                                       " articles after which the crawl stops (0: no limit)"),
    ({"CLOSESPIDER_PAGECOUNT": "1.5"}, "CLOSESPIDER_PAGECOUNT=1.5 is not a whole number"),
    # was no limit
    ({"CLOSESPIDER_ITEMCOUNT": "-1"}, "CLOSESPIDER_ITEMCOUNT=-1 is less than the least, 0; give"),
    ({"CLOSESPIDER_TIMEOUT_NO_ITEM": "2.5"}, "CLOSESPIDER_TIMEOUT_NO_ITEM=2.5 is not a whole number"),
    ({"DOWNLOAD_TIMEOUT": "0"}, "DOWNLOAD_TIMEOUT=0 is not more than 0; give"),
    ({"DOWNLOAD_TIMEOUT": "nan"}, "DOWNLOAD_TIMEOUT=nan is not a number of seconds"),
    ({"DOWNLOAD_DELAY": "-1"}, "DOWNLOAD_DELAY=-1 is less than the least, 0; give"),
    ({"CONCURRENT_REQUESTS": "0"}, "CONCURRENT_REQUESTS=0 is less than the least, 1; give"),
    ({"CONCURRENT_REQUESTS_PER_DOMAIN": "abc"}, "CONCURRENT_REQUESTS_PER_DOMAIN=abc is not a whole"),
    ({"RETRY_TIMES": "-1"}, "RETRY_TIMES=-1 is less than the least, 0; give"),
    ({"RETRY_ENABLED": "maybe"}, "RETRY_ENABLED=maybe is not a boolean"),
    ({"DOWNLOAD_MAXSIZE": "16MB"}, "DOWNLOAD_MAXSIZE=16MB is not a size"),
    ({"AUTOTHROTTLE_TARGET_CONCURRENCY": "0"}, "AUTOTHROTTLE_TARGET_CONCURRENCY=0 is not more than 0; give"),
    ({"LOG_LEVEL": "info"}, "LOG_LEVEL=info is not a log level (in capitals: INFO); give one of"
                            " CRITICAL, ERROR, WARNING, INFO, DEBUG"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL=LOUD is not a log level; give one of"),
], ids=repr)
def test_scrapys_own_settings_the_crawl_reads_are_refused_as_the_projects(given, said):
    from crawler import setting_checks

    assert (setting_checks.problem(_settings(given)) or "").startswith(said)


@pytest.mark.parametrize("given", [
    {"CLOSESPIDER_TIMEOUT": "0"}, {"CLOSESPIDER_TIMEOUT": "2.5"}, {"CLOSESPIDER_ITEMCOUNT": "5"},
    {"CLOSESPIDER_PAGECOUNT": "0"}, {"DOWNLOAD_TIMEOUT": "0.5"}, {"DOWNLOAD_DELAY": "0"},
    {"CONCURRENT_REQUESTS": "1"}, {"RETRY_TIMES": "0"}, {"RETRY_ENABLED": "False"},
    {"LOG_LEVEL": "WARNING"}, {"LOG_LEVEL": "DEBUG"}, {"DOWNLOAD_FAIL_ON_DATALOSS": "False"},
], ids=repr)
def test_scrapys_own_settings_taken(given):
    from crawler import setting_checks

    assert setting_checks.problem(_settings(given)) is None


def test_a_scrapy_setting_refused_before_anything(mirror, tmp_path):
    """One real crawl: `CLOSESPIDER_TIMEOUT=-5` ended `stopped: closespider_timeout`, exit 0, with
    an archive and a `crawl_runs` row made and nothing fetched."""
    run = run_from(tmp_path / "work", mirror, "-a", "lang=en", "-s", "ARCHIVE_PATH=dw.db",
                   "-s", "CLOSESPIDER_TIMEOUT=-5")
    assert run.returncode == 3
    assert run.stderr.strip().splitlines()[-1].startswith(
        "dw crawl failed: bad setting: CLOSESPIDER_TIMEOUT=-5 is less than the least, 0; give")
    assert mirror.paths() == []
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "work", "work/run", "work/run/scrapy.cfg"]


def test_an_archive_file_name_longer_than_the_file_system_takes_is_a_bad_setting(tmp_path):
    """Was `the archive could not be written: … File name too long` after the run began; WARC_DIR
    and JOBDIR with such a name were already refused. Room is left for `-journal`."""
    most = os.pathconf(tmp_path, "PC_NAME_MAX")
    room = most - len("-journal")
    for size in (300, room + 1):
        value = f"{tmp_path}/{'x' * (size - 3)}.db"
        said = _refused("ARCHIVE_PATH", value)
        assert said == (f"ARCHIVE_PATH={value} has a file name of {size} bytes, more than the most,"
                        f" {room} (the file system takes names of {most} bytes (NAME_MAX), and"
                        " -journal is added for SQLite's journal); give a shorter file name"), said
    assert _refused("ARCHIVE_PATH", f"{tmp_path}/{'x' * (room - 3)}.db") is None
    assert list(tmp_path.iterdir()) == []


def test_jobdir_in_the_captures_folder_is_refused(tmp_path):
    """The crawl's queue, seen-set and lock among the WARC files (was accepted)."""
    archive = tmp_path / "dw.db"
    given = {"ARCHIVE_PATH": str(archive), "WARC_DIR": str(tmp_path / "w"), "JOBDIR": str(tmp_path / "w")}
    from crawler import setting_checks

    assert setting_checks.problem(_settings(given)) == (
        f"JOBDIR={tmp_path}/w is the captures folder (WARC_DIR): the crawl's state would be kept"
        " among the WARC files; give another folder")
    own = {"ARCHIVE_PATH": str(archive), "JOBDIR": f"{archive}-warc/"}  # the archive's own folder
    assert (setting_checks.problem(_settings(own)) or "").startswith(
        f"JOBDIR={archive}-warc/ is the captures folder (the archive's own, beside ARCHIVE_PATH)")
    for elsewhere in ({**given, "JOBDIR": str(tmp_path / "job")}, {**own, "JOBDIR": str(tmp_path / "job")}):
        assert setting_checks.problem(_settings(elsewhere)) is None
    assert list(tmp_path.iterdir()) == []


# -- tester try28: a value below its least, Scrapy's settings still unchecked, LOG_FILE ----------

@pytest.mark.parametrize(("name", "value", "said"), [
    ("CLOSESPIDER_ITEMCOUNT", "-1", "is less than the least, 0; give the articles after which"),
    ("CLOSESPIDER_TIMEOUT_NO_ITEM", "-1", "is less than the least, 0; give the seconds without"),
    ("CONCURRENT_REQUESTS", "0", "is less than the least, 1; give the requests in flight at once"),
    ("WARC_MAX_SIZE", "0", "is less than the least, 1; give the bytes per WARC file"),
    ("CLOSESPIDER_TIMEOUT", "-5", "is less than the least, 0; give the seconds after which"),
    ("DOWNLOAD_TIMEOUT", "0", "is not more than 0; give the seconds a request may take, more than 0"),
    ("DOWNLOAD_TIMEOUT", "-1", "is less than the least, 0; give the seconds a request may take"),
    ("DW_GONE_RECHECK_DAYS", "-0.5", "is less than the least, 0; give how long a gone article"),
], ids=repr)
def test_a_number_under_its_least_is_said_to_be_less_than_the_least(name, value, said):
    """It is a number, too small: was "is not a whole number" / "is not a number of seconds"."""
    assert _refused(name, value).startswith(f"{name}={value} {said}"), _refused(name, value)


@pytest.mark.parametrize(("given", "said"), [
    # a traceback and exit 1 (LOG_FILE_APPEND also left an empty log file behind)
    ({"LOG_ENABLED": "maybe"}, "LOG_ENABLED=maybe is not a boolean; give True or False (1 or 0)"),
    ({"LOG_STDOUT": "maybe"}, "LOG_STDOUT=maybe is not a boolean"),
    ({"LOG_SHORT_NAMES": "yes"}, "LOG_SHORT_NAMES=yes is not a boolean"),
    ({"LOG_FILE_APPEND": "maybe"}, "LOG_FILE_APPEND=maybe is not a boolean"),
    # "Scrapy could not start the crawl: ValueError…", exit 1
    ({"RANDOMIZE_DOWNLOAD_DELAY": "maybe"}, "RANDOMIZE_DOWNLOAD_DELAY=maybe is not a boolean"),
    ({"REDIRECT_ENABLED": ""}, "REDIRECT_ENABLED= is not a boolean"),
    ({"RETRY_HTTP_CODES": "abc"}, "RETRY_HTTP_CODES=abc is not a list of HTTP status codes ('abc' is"
                                  " not one); give whole numbers from 100 to 599 separated by commas"
                                  " (default 500,502,503,504,522,524,408,429)"),
    ({"RETRY_HTTP_CODES": "500,600"}, "RETRY_HTTP_CODES=500,600 is not a list of HTTP status codes"
                                      " ('600' is not one)"),
    ({"RETRY_HTTP_CODES": "500,,503"}, "RETRY_HTTP_CODES=500,,503 is not a list of HTTP status codes"
                                       " ('' is not one)"),
    ({"RETRY_HTTP_CODES": ""}, "RETRY_HTTP_CODES= is not a list of HTTP status codes ('' is not one)"),
    ({"RETRY_HTTP_CODES": "99"}, "RETRY_HTTP_CODES=99 is not a list of HTTP status codes"),
    ({"RETRY_HTTP_CODES": "5٠3"}, "RETRY_HTTP_CODES=5٠3 is not a list of HTTP status codes"),
    ({"RETRY_HTTP_CODES": [500, "x"]}, "RETRY_HTTP_CODES=[500, 'x'] is not a list of HTTP status codes"),
    # blamed on robots.txt: an AssertionError, or no lookup ever ending
    ({"DNS_TIMEOUT": "-1"}, "DNS_TIMEOUT=-1 is less than the least, 0; give the seconds a host name's"
                            " lookup may take, more than 0 (default 60)"),
    ({"DNS_TIMEOUT": "0"}, "DNS_TIMEOUT=0 is not more than 0"),
    ({"DNS_TIMEOUT": "abc"}, "DNS_TIMEOUT=abc is not a number of seconds"),
    ({"REACTOR_THREADPOOL_MAXSIZE": "0"}, "REACTOR_THREADPOOL_MAXSIZE=0 is less than the least, 1;"
                                          " give the threads that look up host names"),
    # stopped `memusage_exceeded` once the archive was made; accepted without a word
    ({"MEMUSAGE_LIMIT_MB": "-1"}, "MEMUSAGE_LIMIT_MB=-1 is less than the least, 0"),
    ({"MEMUSAGE_LIMIT_MB": "1.5"}, "MEMUSAGE_LIMIT_MB=1.5 is not a whole number"),
    ({"REDIRECT_MAX_TIMES": "-1"}, "REDIRECT_MAX_TIMES=-1 is less than the least, 0"),
    ({"REDIRECT_MAX_TIMES": " 5"}, "REDIRECT_MAX_TIMES=' 5' is not a whole number as written"),
    # 953 "--- Logging error ---" tracebacks on stderr, the log file empty, exit 0
    ({"LOG_FORMAT": "%(bogus)s"}, "LOG_FORMAT=%(bogus)s cannot format a log record (Formatting field"
                                  " not found in record: 'bogus'); give a format of Python's logging,"
                                  " e.g. %(asctime)s [%(name)s] %(levelname)s: %(message)s"),
    ({"LOG_FORMAT": "plain text"}, "LOG_FORMAT=plain text cannot format a log record"),
    ({"LOG_FORMAT": "%(message)d"}, "LOG_FORMAT=%(message)d cannot format a log record"),
    ({"LOG_FORMAT": "%(message)"}, "LOG_FORMAT=%(message) cannot format a log record"),
    ({"LOG_DATEFORMAT": "%Y\x00"}, "LOG_DATEFORMAT='%Y\\x00' cannot format a log record (embedded null"
                                   " character); give a format of Python's logging, e.g. %Y-%m-%d"
                                   " %H:%M:%S"),
], ids=repr)
def test_more_scrapy_settings_the_crawl_reads_are_refused(given, said):
    from crawler import setting_checks

    assert (setting_checks.problem(_settings(given)) or "").startswith(said), \
        setting_checks.problem(_settings(given))


@pytest.mark.parametrize("given", [
    {"LOG_ENABLED": "False"}, {"LOG_STDOUT": "0"}, {"LOG_SHORT_NAMES": "true"},
    {"LOG_FILE_APPEND": "False"}, {"RANDOMIZE_DOWNLOAD_DELAY": "0"}, {"REDIRECT_ENABLED": "1"},
    {"RETRY_HTTP_CODES": "500"}, {"RETRY_HTTP_CODES": "500, 503,429"}, {"RETRY_HTTP_CODES": [503, "504"]},
    {"DNS_TIMEOUT": "0.5"}, {"REACTOR_THREADPOOL_MAXSIZE": "1"}, {"MEMUSAGE_LIMIT_MB": "0"},
    {"REDIRECT_MAX_TIMES": "0"}, {"LOG_FORMAT": "%(levelname)s %(message)s"}, {"LOG_FORMAT": ""},
    {"LOG_FORMAT": "%(asctime)s %(name)s: %(message)s"}, {"LOG_DATEFORMAT": "%H:%M"},
], ids=repr)
def test_more_scrapy_settings_taken(given):
    from crawler import setting_checks

    assert setting_checks.problem(_settings(given)) is None


@pytest.mark.parametrize(("value", "priority", "said"), [
    # made a file named `x.log ` (the blank part of its name), as ARCHIVE_PATH's slips are refused
    ("{tmp}/x.log ", "cmdline", "LOG_FILE='{tmp}/x.log ' begins or ends with a blank, which would be"
                                " part of the name made; give the path without it"),
    (" {tmp}/x.log", "cmdline", "LOG_FILE=' {tmp}/x.log' begins or ends with a blank"),
    ("{tmp}/x.log\u00a0", "cmdline", "LOG_FILE='{tmp}/x.log\\xa0' begins or ends with a blank"),
    # taken silently as "no log file", as WARC_DIR= and JOBDIR= are not
    ("", "cmdline", "LOG_FILE= is empty (an unset shell variable?); leave it out for the log on"
                    " stderr, or give a file"),
    ("  ", "cmdline", "LOG_FILE=   is empty (an unset shell variable?)"),
    ("{tmp}/x.log\n", "cmdline", "LOG_FILE='{tmp}/x.log\\n' holds a control character"),
    # /proc exists: "create its folder first" sent the operator the wrong way
    ("/proc/x.log", "cmdline", "LOG_FILE=/proc/x.log cannot be written: no file can be made in its"
                               " folder /proc (No such file or directory); give a file in another"
                               " folder"),
    ("{tmp}/missing/x.log", "cmdline", "LOG_FILE={tmp}/missing/x.log cannot be written: No such file"
                                       " or directory (create its folder first)"),
    ("~/x.log", "cmdline", "LOG_FILE=~/x.log begins with ~, which only a shell expands, and not here;"
                           " give the full path, e.g. LOG_FILE=/"),
    ("", "project", None),  # not given: Scrapy's own meaning, no log file
    ("{tmp}/x.log", "cmdline", None),
    ("/dev/null", "cmdline", None),
], ids=repr)
def test_a_log_file_is_refused_as_the_other_paths_slips_are(tmp_path, value, priority, said):
    from scrapy.settings import Settings

    from crawler import setting_checks

    settings = Settings()
    settings.set("LOG_FILE", value.format(tmp=tmp_path), priority)
    got = setting_checks.log_file_problem(settings)
    assert got == said if said is None else (got or "").startswith(said.format(tmp=tmp_path)), got
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == (["x.log"] if value == "{tmp}/x.log" else []), made  # nothing named with a blank
