"""The suite's runs get Ctrl-C as from a terminal, even when the suite was started in the
background by a shell without job control (which starts it with SIGINT ignored)."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import ROOT

# The suite's set-up (tests/conftest.py imported, as pytest imports it), then a run started the
# way the tests start one, which prints how it would take SIGINT.
_PROBE = (
    "import tests.conftest, subprocess, sys;"
    "print(subprocess.run([sys.executable, '-c', 'import signal; print(signal.getsignal(signal.SIGINT))'],"
    " capture_output=True, text=True).stdout.strip())"
)


def test_a_suite_started_in_the_background_still_gives_its_runs_ctrl_c():
    # `cmd &` in a non-interactive bash: the background command starts with SIGINT ignored.
    shell = subprocess.run(["bash", "-c", f'"{sys.executable}" -c "$0" & wait', _PROBE],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0, shell.stderr[-2000:]
    assert shell.stdout.strip() == str(signal.default_int_handler), shell.stdout


def test_the_background_start_does_ignore_sigint_without_the_suites_set_up():
    # What the test above guards against: without the set-up, the run cannot be stopped by Ctrl-C.
    probe = ("import subprocess, sys; print(subprocess.run([sys.executable, '-c', 'import signal;"
             " print(signal.getsignal(signal.SIGINT))'], capture_output=True, text=True).stdout.strip())")
    shell = subprocess.run(["bash", "-c", f'"{sys.executable}" -c "$0" & wait', probe],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shell.stdout.strip() == str(signal.SIG_IGN), shell.stdout
