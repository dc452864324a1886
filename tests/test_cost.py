"""The harness's clock-free measures (tests/cost.py, tests/hostile.py's `measured`): they count
work, not the machine's load."""

from __future__ import annotations

import sys
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cost import cpu_used, lines_run
from tests.hostile import measured

BURN = "import time\nwhile time.process_time() < {0}: pass\n"  # {0} s of CPU, then out


def _loop(n: int) -> int:
    total = 0
    for k in range(n):
        total += k
    return total


def test_lines_run_counts_the_lines_run_in_the_files_named_the_same_each_time():
    files = {__file__}
    result, once = lines_run(files, _loop, 1000)
    assert result == sum(range(1000))
    assert lines_run(files, _loop, 1000)[1] == once  # no clock in it: the same count
    assert 2 * 1000 <= once <= 2 * 1000 + 5  # the loop's two lines, a thousand times
    assert lines_run(files, _loop, 2000)[1] - once == 2 * 1000
    assert lines_run({"elsewhere.py"}, _loop, 1000)[1] == 0  # other files' lines are not counted


def test_cpu_used_counts_work_and_not_waiting_and_tells_this_thread_from_the_others():
    with cpu_used() as waited:
        time.sleep(0.3)
    with cpu_used() as worked:
        exec(BURN.format(time.process_time() + 0.3))
    assert waited.process < 0.1 <= 0.25 < worked.process
    other = threading.Thread(target=lambda: exec(BURN.format(time.process_time() + 0.3)))
    with cpu_used() as beside:
        other.start()
        other.join()
    assert beside.process > 0.25 and beside.thread < 0.1


def test_measured_gives_a_commands_cpu_time_not_its_wall_time():
    slept = measured([sys.executable, "-c", "import time; time.sleep(1.5)"])
    burnt = measured([sys.executable, "-c", BURN.format(1.0)])
    assert slept.returncode == burnt.returncode == 0
    assert slept.seconds >= 1.5 and slept.cpu_seconds < 0.5
    assert burnt.cpu_seconds >= 1.0 and burnt.peak_mib > 0


@settings(max_examples=2)  # the suite's profile otherwise (tests/conftest.py)
@given(st.integers(0, 9))
def test_a_property_whose_examples_take_longer_than_hypothesis_deadline_passes(n):
    # Hypothesis's default: 200 ms per example, exceeded and the test fails; a busy machine makes
    # a 70 ms example 210 ms. The suite's profile has no deadline (tests/conftest.py).
    exec(BURN.format(time.process_time() + 0.25))
