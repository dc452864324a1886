"""The README's commands, run as written from a fresh checkout against the sample site.

Every fenced `sh`, `cron`, `ini` and `sql` block in README.md follows a marker saying how it is
tested: `<!-- readme-test: run -->` (the block as one bash script in a checkout in a tmp
folder), `serve` (each line a server, asked for the reading view), `cron` (each line's command
after its five time fields), `sql` (each statement against the archive the blocks made),
`file PATH` (the block is that file of the repo), or `not run (why)`. The only changes made to a
command are these: fixed ports become free ones, and the cron lines' deployment paths
(`/srv/dw-archive`, `/srv/dw`, `/var/log/dw-archive`, `/tmp/dw-archive.lock`) are folders of
the tmp folder; the cron lines reach the mirror through `SCRAPY_SETTINGS_MODULE`
(tests/readme_settings.py), never DW.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.crawling import running_mirror

README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKED = re.compile(r"<!-- readme-test: (?P<how>.+?) -->\n```(?P<lang>\w*)\n(?P<body>.*?)^```",
                    re.S | re.M)
FENCE = re.compile(r"^```(sh|cron|ini|sql|console|bash)\n", re.M)
SEED = "https://www.dw.com/en/x/a-16825046"

# What each `run` block must print (stdout and stderr), keyed by a line of the block.
EXPECTED_OUTPUT = {
    "make demo   #": "31 articles, ",
    "crawler.extract saved/*.html": '"id": 16825046',
    "devtools.mirror --root saved/": "Crawl finished (ok)",
    "sqlite-utils tables data/dw.db --counts": '{"table": "articles", "count": 31}',
    "cp -r data/sample-site demo-site": '"title": "Hezbollah troops die in siege"',
    "crawler.reextract --archive new.db": '{"article_responses": 31, "files": 1, "new": 31,',
    "make backup  ": "runs, integrity ok) to backup/dw.db; captures: ",
}
SEARCHES = {  # and each search of the example queries, the article it must find (its title in
    # data/sample-articles.json)
    '"Schneefälle"': "Schneechaos in Bayern",
    '"Emilia-Romagna"': "Flood warnings issued across northern Italy",
    '"Italy\'s"': "Flood warnings issued across northern Italy"}


def blocks() -> list[tuple[str, str, str]]:
    return [(m["how"], m["lang"], m["body"]) for m in MARKED.finditer(README)]


def test_every_command_block_says_how_it_is_tested():
    assert len(FENCE.findall(README)) == len(blocks()) > 10
    for how, _, _ in blocks():
        assert re.fullmatch(r"run|serve|cron|sql|file \S+|not run \(.+\)", how), how


@pytest.mark.parametrize("path", ["contrib/systemd/dw-archive.service",
                                  "contrib/systemd/dw-archive.timer"])
def test_the_systemd_units_are_the_files_in_the_repo_and_verify(path, tmp_path):
    shown = [body for how, _, body in blocks() if how == f"file {path}"]
    assert shown == [(ROOT / path).read_text()]
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    # Installed at /srv/dw-archive; here the checkout is, so that ExecStart= names a real program.
    for unit in ("dw-archive.service", "dw-archive.timer"):
        text = (ROOT / "contrib" / "systemd" / unit).read_text()
        (tmp_path / unit).write_text(text.replace("/srv/dw-archive", str(ROOT)))
    run = subprocess.run(["systemd-analyze", "verify", str(tmp_path / Path(path).name)],
                         capture_output=True, text=True, timeout=120)
    if "Failed to" in run.stderr and "bus" in run.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {run.stderr.strip()[:200]}")
    assert run.returncode == 0 and run.stderr.strip() == "", run.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def checkout(folder: Path) -> Path:
    """A fresh checkout as a reader has it after `make install`: the code linked, data/ copied."""
    # `make demo` in the copy would otherwise install into the linked .venv from the tmp folder
    # (scripts whose first line names a python that is then deleted).
    if subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.fail("the .venv is older than pyproject.toml or constraints.txt: run make install")
    folder.mkdir()
    for name in (".venv", "crawler", "pipelines", "devtools", "plugins", "tests", "contrib",
                 "Makefile", "pyproject.toml", "constraints.txt", "scrapy.cfg"):
        (folder / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "data", folder / "data",
                    ignore=shutil.ignore_patterns("dw.db*", "mirror-access.log", "*.lock", "warc"))
    saved = folder / "saved"  # a reader's saved pages, for the extractor and the mirror
    saved.mkdir()
    for page in (ROOT / "data" / "sample-site").rglob("a-*.html"):
        if page.stem in ("a-16825046", "a-79010003"):
            shutil.copy(page, saved / page.name)
    shutil.copy(saved / "a-16825046.html", folder / "page.html")
    return folder


def with_free_ports(text: str, port: int) -> str:
    return re.sub(r"(?<=127\.0\.0\.1:)8765\b|(?<=--port )8765\b|(?<=PORT=)800\d\b", str(port), text)


def run_block(body: str, cwd: Path) -> str:
    script = "set -e\n" + with_free_ports(body, free_port())
    run = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                         timeout=300, start_new_session=True)
    out = run.stdout + run.stderr
    assert run.returncode == 0, f"{body}\n--\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    return out


def serve(line: str, cwd: Path) -> None:
    """Start one `make serve` line, read the reading view of the seed article, stop it."""
    port = free_port()
    command = with_free_ports(line.split("#")[0].strip(), port)
    env = {**os.environ, "PORT": str(port)}  # `make serve` alone: the Makefile's PORT ?= 8001
    process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    database = Path(re.search(r"ARCHIVE=(\S+)", command)[1]).stem if "ARCHIVE=" in command else "dw"
    try:
        deadline, page = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None and page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/{database}/articles/16825046",
                                            timeout=10) as response:
                    page = response.read().decode("utf-8")
            except OSError:
                time.sleep(0.3)
        assert page is not None, f"{command}: no answer"
        assert "Hezbollah" in page and "siege" in page
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def cron(line: str, cwd: Path, tmp: Path, origin: str) -> None:
    command = line.split(None, 5)[5]
    for path, here in (("/srv/dw-archive", cwd), ("/srv/dw/", f"{tmp}/srv-dw/"),
                       ("/var/log/dw-archive", tmp / "var-log" / "dw-archive"),
                       ("/tmp/dw-archive.lock", tmp / "dw-archive.lock")):
        command = command.replace(path, str(here))
    log = Path(re.search(r"LOG_FILE=(\S+)", command)[1])
    assert not log.parent.exists()
    run = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SCRAPY_SETTINGS_MODULE": "tests.readme_settings",
                              "DW_README_ORIGIN": origin})
    assert run.returncode == 0, run.stderr[-3000:] or log.read_text()[-3000:]
    assert run.stdout + run.stderr == ""  # cron mails nothing when a run goes well
    logged = log.read_text()
    assert " INFO: " not in logged and "Traceback" not in logged  # WARNING and above only
    shutil.rmtree(log.parent)  # the next line makes the folder again


def test_the_readme_commands_run_as_written(tmp_path):
    here = checkout(tmp_path / "checkout")
    outputs = {}
    with running_mirror(ROOT / "data" / "sample-site", tmp_path / "access.log") as origin:
        for how, _, body in blocks():
            if how == "run":
                if "wget.warc.gz" in body:  # a WARC another tool wrote: here, one the demo wrote
                    shutil.copy(sorted((here / "data" / "dw.db-warc").glob("*.warc.gz"))[0],
                                here / "wget.warc.gz")
                outputs[body] = run_block(body, here)
            elif how == "serve":
                (here / "backup").mkdir(exist_ok=True)  # the reader's other archive
                shutil.copy(here / "data" / "dw.db", here / "backup" / "dw-2026.db")
                for line in body.splitlines():
                    serve(line, here)
            elif how == "cron":
                # In the order written: crawl health compares a run only with runs over the
                # same languages, so the weekly all-languages run after the daily one is ok.
                lines = [line for line in body.splitlines() if line.strip() and not line.startswith("#")]
                for line in lines:
                    cron(line, here, tmp_path, origin)
    for body, out in outputs.items():
        keys = [key for key in EXPECTED_OUTPUT if key in body]
        assert len(keys) == 1, f"no expected output for this README block:\n{body}"
        assert EXPECTED_OUTPUT[keys[0]] in out, f"{body}\n--\n{out[-3000:]}"
    queries = next(out for body, out in outputs.items() if "dw_match" in body)
    for words in SEARCHES:  # sqlite-utils prints each search's JSON in turn
        assert f'sqlite-utils data/dw.db "$SEARCH" --functions "$FOLD" -p q {words}' in README
    found, decoder, at = [], json.JSONDecoder(), 0  # the blocks' outputs: JSON lists in a row
    while at < len(queries.rstrip()):
        value, at = decoder.raw_decode(queries, at)
        found.append(value)
        at += len(queries[at:]) - len(queries[at:].lstrip())
    assert [{row["title"] for row in rows} >= {article} for rows, article in
            zip(found[-3:], SEARCHES.values(), strict=True)] == [True] * 3, found
    cron_archive = tmp_path / "srv-dw" / "dw.db"
    with sqlite3.connect(cron_archive) as conn:  # the daily line archived every language there
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 31
    with sqlite3.connect(here / "data" / "dw.db") as conn:
        for how, _, body in blocks():
            if how == "sql":
                for statement in filter(str.strip, re.split(r";\s*$", body, flags=re.M)):
                    rows = conn.execute(statement).fetchall()
                    assert rows, f"no rows: {statement.strip()}"
        revision = conn.execute("SELECT changed, title FROM revisions WHERE article_id = 16825046"
                                ).fetchall()
    assert revision == [('["title"]', "Hezbollah troops die in siege")]
