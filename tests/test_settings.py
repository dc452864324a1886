"""Every setting in one place: each name the code reads is defined in crawler/settings.py (or
is Scrapy's own, with Scrapy's default), and nothing reads one with a fallback of its own."""

from __future__ import annotations

import ast

import pytest
from scrapy.settings import default_settings

from crawler import settings as project
from tests.conftest import ROOT

READERS = {"get", "getint", "getfloat", "getbool", "getlist", "getdict", "getdictorlist",
           "getwithbase", "getpriority"}
CODE = sorted(path for folder in ("crawler", "pipelines", "devtools", "plugins")
              for path in (ROOT / folder).rglob("*.py"))


def setting_reads(path) -> list[tuple[str, int, ast.Call]]:
    """(name, line, call) of each `<...>settings.get*("NAME", ...)` in a file."""
    reads = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in READERS and node.args):
            continue
        owner = ast.unparse(node.func.value)
        name = node.args[0]
        if owner.endswith("settings") and isinstance(name, ast.Constant) and isinstance(name.value, str):
            reads.append((name.value, node.lineno, node))
    return reads


READS = [(path.relative_to(ROOT).as_posix(), name, line, call)
         for path in CODE for name, line, call in setting_reads(path)]


def test_the_code_reads_settings():  # the scan finds what it looks for
    names = {name for _, name, _, _ in READS}
    assert {"ARCHIVE_PATH", "ARCHIVE_TIMEOUT", "DW_REDIS_PREFIX", "HEALTH_RECENT_RUNS",
            "DW_REQUESTS_AHEAD"} <= names


@pytest.mark.parametrize("where, name, line, call", READS, ids=[f"{w}:{ln}:{n}" for w, n, ln, _ in READS])
def test_each_setting_is_defined_once_and_read_without_a_fallback(where, name, line, call):
    assert hasattr(project, name) or hasattr(default_settings, name), \
        f"{where}:{line} reads {name}, which crawler/settings.py does not define"
    assert len(call.args) == 1 and not call.keywords, \
        f"{where}:{line} reads {name} with a fallback: its default belongs in crawler/settings.py"


def test_the_distributed_add_on_outranks_the_projects_defaults():
    # DW_REQUESTS_AHEAD is 48 in crawler/settings.py; a worker must request what it admits at
    # once (entries waiting in a killed worker's memory would be lost), unless -s says otherwise.
    from tests.conftest import project_crawler

    assert project_crawler().settings.getint("DW_REQUESTS_AHEAD") == 48
    worker = project_crawler(REDIS_URL="redis://127.0.0.1:9/0")
    assert worker.settings.getint("DW_REQUESTS_AHEAD") == 0
    assert worker.settings.get("SCHEDULER") == "crawler.distributed.scheduler.ClusterScheduler"


def test_every_setting_of_the_project_is_in_the_readme():
    # A setting users cannot find is one they cannot set: each name crawler/settings.py adds to
    # Scrapy's is named in the README, less those of installed packages (SPIDERMON_*).
    from importlib import metadata

    from crawler import setting_names

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    packages = {name.upper() for name in metadata.packages_distributions()}
    own = {name for name in setting_names.project_names() - setting_names.scrapy_names()
           if name.split("_")[0] not in packages}
    assert len(own) > 30 and "ARCHIVE_PATH" in own  # the scan finds what it looks for
    assert sorted(name for name in own if f"`{name}`" not in readme) == []
