"""`LOG_FILE`: checked before anything is made (`problem`), and watched while the crawl runs
(`watch`), so that a log that cannot be written is one counted failure, not a traceback per record.

Python's `logging.FileHandler`, which Scrapy makes for `LOG_FILE`, prints `--- Logging error ---`
and a traceback on stderr for every record it cannot write (a full disk, `/dev/full`), and its
`close()` raises, which ended the crawl with exit status 1 before a request. Scrapy gives no way
to choose the handler's class, and makes and uses it before a command's code runs again (its
"Scrapy started" lines), so `watch` hooks `FileHandler` itself, for the one file named by
`LOG_FILE` only: the first record that cannot be written stops the writing (the error kept),
every later record is counted as lost, and the run's outcome says so (`crawler.outcome`,
`failed/log_not_written`). Nothing more goes to that file in this run: a log with silent holes
where the disk was full would read as a complete one.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
from dataclasses import dataclass


def problem(path: str) -> str | None:
    """Why `LOG_FILE=path` cannot be used, in words after `LOG_FILE=path: `, or None. Refused: a
    file that cannot be opened for appending (its folder missing, a file in its place, a folder
    given, no permission), and what is not a file that holds what is written: a device other than
    `/dev/null` or a terminal (`/dev/full` fails every write, `/dev/zero` discards them unseen, a
    disk would be overwritten), a socket, a named pipe no process reads. Opening a file for the
    check creates it empty, as Scrapy would a moment later; no folder is made."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        status = None
    except OSError as exc:
        return f"cannot be written: {exc.strerror or exc}"
    if status is not None and stat.S_ISFIFO(status.st_mode):
        try:  # without O_NONBLOCK, opening a pipe nobody reads waits for ever
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return "is a named pipe that no process reads"
            return f"cannot be written: {exc.strerror or exc}"
        return None
    if status is not None and stat.S_ISSOCK(status.st_mode):
        return "is a socket, not a file"
    if status is not None and (stat.S_ISCHR(status.st_mode) or stat.S_ISBLK(status.st_mode)):
        if stat.S_ISCHR(status.st_mode) and (os.path.samefile(path, os.devnull) or _is_terminal(path)):
            return None
        return ("is a device, not a file (only /dev/null or a terminal are taken): give the file"
                " the log is to be kept in")
    try:
        open(path, "a").close()
    except OSError as exc:
        folder = os.path.dirname(os.path.abspath(path))
        if isinstance(exc, FileNotFoundError) and not os.path.isdir(folder):
            return f"cannot be written: {exc.strerror or exc} (create its folder first)"
        if isinstance(exc, FileNotFoundError):  # the folder is there but takes no new file (/proc)
            return (f"cannot be written: no file can be made in its folder {folder}"
                    f" ({exc.strerror or exc}); give a file in another folder")
        return f"cannot be written: {exc.strerror or exc}"
    return None


def _is_terminal(path: str) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


@dataclass
class LogFailure:
    """The log file that could not be written: its path, the first error, the records lost."""

    path: str
    error: str | None = None
    lost: int = 0

    def __str__(self) -> str:
        return (f"the log file {self.path} could not be written ({self.error}): {self.lost} log"
                " records lost")


class _Lost:
    """The stream of a handler whose file failed: counts what would have been written."""

    def __init__(self, failure: LogFailure):
        self.failure = failure

    def write(self, text: str) -> int:
        self.failure.lost += 1  # StreamHandler.emit writes once per record
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


_watched: LogFailure | None = None


def failure() -> LogFailure | None:
    """The watched log file's failure, once a record could not be written; else None."""
    return _watched if _watched is not None and _watched.error is not None else None


def watch(path: str) -> None:
    """From now on, a record that cannot be written to `path` by a `logging.FileHandler` (Scrapy's
    for `LOG_FILE`) stops that handler's writing, counted (`failure()`), with nothing on stderr;
    other handlers and files keep Python's behaviour. Idempotent; the last path given is watched."""
    global _watched
    _watched = LogFailure(path)
    if getattr(logging.FileHandler, "_dw_watched", False):
        return
    handle_error, close = logging.FileHandler.handleError, logging.FileHandler.close

    def is_watched(handler: logging.FileHandler) -> bool:
        return (_watched is not None
                and os.path.abspath(handler.baseFilename) == os.path.abspath(_watched.path))

    def stop(handler: logging.FileHandler, exc: BaseException | None) -> None:
        assert _watched is not None
        if _watched.error is None:
            _watched.error = (getattr(exc, "strerror", None) or str(exc)) if exc else "unknown error"
        _watched.lost += 1
        stream, handler.stream = handler.stream, _Lost(_watched)
        try:  # flushes what is buffered, which fails again: dropped with the stream
            if stream is not None and not isinstance(stream, _Lost):
                stream.close()
        except (OSError, ValueError):
            pass

    def watched_handle_error(self, record):
        exc = sys.exc_info()[1]
        # Only the file failing: a record that cannot be formatted (a bug in its arguments)
        # keeps Python's report, and the log goes on.
        if not is_watched(self) or not isinstance(exc, OSError):
            return handle_error(self, record)
        stop(self, exc)
        return None

    def watched_close(self):
        if not is_watched(self):
            return close(self)
        try:
            return close(self)
        except (OSError, ValueError) as exc:  # the last buffered records, flushed on close
            stop(self, exc)  # the handler stays closed: a record logged later is counted as lost
            return None

    logging.FileHandler.handleError = watched_handle_error
    logging.FileHandler.close = watched_close
    logging.FileHandler._dw_watched = True  # type: ignore[attr-defined]
