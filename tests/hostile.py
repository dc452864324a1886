"""Helpers for the tests of hostile input: generated sites whose article pages are replaced by
hostile variants, and commands run with their CPU time and peak memory measured.

A bound on a command's cost is a bound on its CPU time (user + system, its children's included),
never on its wall time: a machine three times busier makes the wall time three times longer and
the CPU time hardly longer. A command that stalls (waits, using no CPU) fails at its `timeout`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.sitegen import path_of, render_article, synthetic_spec, write_site
from tests.conftest import ROOT

# Runs `argv[1:]`, then prints the child's peak resident memory (KiB) and CPU time (user +
# system, s; its waited-for children's included) on its last stderr line.
_MEASURE = ("import resource, subprocess, sys\n"
            "code = subprocess.call(sys.argv[1:])\n"
            "used = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print(f'peak-rss-kib {used.ru_maxrss} cpu-s {used.ru_utime + used.ru_stime}',"
            " file=sys.stderr)\n"
            "sys.exit(code)\n")


@dataclass
class Measured:
    """A finished command: its exit status, output, wall time (s, for messages only), peak
    memory (MiB) and CPU time (s: what a bound on its cost is asserted on)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float
    cpu_seconds: float = -1.0


def measured(command: list[str], timeout: float = 240, **kwargs) -> Measured:
    """Run `command` (cwd: the checkout) and measure its wall time, CPU time and peak resident
    memory."""
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-c", _MEASURE, *command], cwd=kwargs.pop("cwd", ROOT),
                         capture_output=True, text=True, timeout=timeout, **kwargs)
    lines = run.stderr.rstrip("\n").split("\n")
    measure = lines[-1].split() if lines and lines[-1].startswith("peak-rss-kib") else None
    peak, cpu = (int(measure[1]) / 1024, float(measure[3])) if measure else (-1.0, -1.0)
    return Measured(run.returncode, run.stdout, "\n".join(lines[:-1]), time.monotonic() - started, peak, cpu)


def articles(count: int, first_id: int = 80_000_000) -> list[dict]:
    """`count` generated English articles (ids from `first_id`)."""
    spec = synthetic_spec(count)["articles"]
    for n, article in enumerate(spec):
        article["id"] = first_id + n
        article["language"] = "en"
    return spec


def write_hostile_site(out: Path, spec: list[dict],
                       variants: dict[int, Callable[[dict, str], str | bytes]]) -> dict[int, Path]:
    """The site of `spec` under `out`, each article whose id is in `variants` replaced by what its
    function makes of (the article, its page as rendered); the file of each article by id."""
    write_site({"articles": spec, "others": []}, out)
    files = {}
    for article in spec:
        file = out / f"{path_of(article)}.html"
        files[article["id"]] = file
        make = variants.get(article["id"])
        if make is not None:
            page = make(article, render_article(article))
            file.write_bytes(page if isinstance(page, bytes) else page.encode("utf-8"))
    return files


def faults_file(path: Path, faults: dict[str, str]) -> Path:
    path.write_text(json.dumps(faults))
    return path


# -- page variants: (article, page as rendered) -> hostile page -------------------------------

def nested(tag: str, depth: int, inner: str = "x") -> str:
    return f"<{tag}>" * depth + inner + f"</{tag}>" * depth


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_deep_json_ld(depth: int) -> Callable[[dict, str], str]:
    """The page's JSON-LD object holding an array nested `depth` deep."""
    def make(article: dict, page: str) -> str:
        return page.replace('"@type": "NewsArticle",', f'"@type": "NewsArticle", "x": {deep_json(depth)},', 1)
    return make


def with_deep_state(depth: int) -> Callable[[dict, str], str]:
    """The page state's content record holding an array nested `depth` deep."""
    def make(article: dict, page: str) -> str:
        marker = '"__typename": "Article",'
        return page.replace(marker, f'{marker} "x": {deep_json(depth)},', 1)
    return make


def with_deep_body(tag: str, depth: int) -> Callable[[dict, str], str]:
    """`depth` nested `tag` elements in the article's body (rich text)."""
    def make(article: dict, page: str) -> str:
        marker = 'class="c17j8gzx rich-text t1r94ulj">'
        return page.replace(marker, marker + nested(tag, depth, "<p>deep text</p>"), 1)
    return make


def with_deep_divs_before_article(depth: int) -> Callable[[dict, str], str]:
    """`depth` nested `<div>`s in front of the page's markup: 100,000 make a 1.2 MB page."""
    def make(article: dict, page: str) -> str:
        return page.replace('<body><div id="root">', '<body>' + nested("div", depth) + '<div id="root">', 1)
    return make


def with_many_attributes(count: int, distinct_elements: bool = False) -> Callable[[dict, str], str]:
    """`count` empty attributes, distinct, on one `<p>` in the body (300,000 make the tester's
    2.4 MB page); or, with `distinct_elements`, `count` `<i>` elements each with an attribute of
    its own name."""
    def make(article: dict, page: str) -> str:
        marker = 'class="c17j8gzx rich-text t1r94ulj">'
        markup = ("".join(f'<i n{n}="">x</i>' for n in range(count)) if distinct_elements
                  else "<p " + " ".join(f"a{n}" for n in range(count)) + ">x</p>")
        return page.replace(marker, marker + markup, 1)
    return make
