"""Costs measured without a clock, for tests that must hold on a machine three times busier:
lines of Python run (deterministic), and CPU time compared within one process.

Speed itself is measured by `make bench`; these say how a cost grows (with the text, with the
query), which a wall-clock bound said only on a quiet machine.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any


def lines_run(files: set[Path], function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """(`function(*args, **kwargs)`, the number of lines of Python it ran in `files`), counted in
    this thread by a trace function: the same count on every machine, busy or not. Other files'
    frames are not traced (the count does not depend on library versions)."""
    names = {str(Path(f).resolve()) for f in files}
    count = 0

    def local(frame: FrameType, event: str, arg: Any):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any):
        return local if frame.f_code.co_filename in names else None

    before = sys.gettrace()
    sys.settrace(calls)
    try:
        result = function(*args, **kwargs)
    finally:
        sys.settrace(before)
    return result, count


@dataclass
class Cpu:
    """CPU seconds used while a block ran: by the whole process (every thread) and by the
    thread that ran the block (for an asyncio loop: the work that makes other requests wait)."""

    process: float = 0.0
    thread: float = 0.0


@contextmanager
def cpu_used() -> Iterator[Cpu]:
    """CPU time used by the process and by this thread in the block. CPU time, not wall time:
    a busy machine makes it little longer (caches shared), never three times, so compare two
    such figures taken in one process with a generous factor, never with a number of seconds."""
    used = Cpu()
    process, thread = time.process_time(), time.thread_time()
    try:
        yield used
    finally:
        used.process = time.process_time() - process
        used.thread = time.thread_time() - thread
