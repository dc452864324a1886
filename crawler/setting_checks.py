"""What each setting of the project accepts, checked before anything is fetched or created.

`RULES` says, for every setting `crawler/settings.py` adds to Scrapy's (and `JOBDIR`, a
Scrapy setting an operator's slip loses resumability with), what value it takes: a whole number
of at least N, a number of at least N, a fraction from 0 to 1, a boolean, an origin, an http(s)
URL, a folder that can be made and written, the archive's file. `problem(settings)` is the one
check, used by `scrapy crawl`, `scrapy archive-writer` (crawler/commands/crawl.py
`check_settings`) and `python -m crawler.backfill`: it returns the first refusal as one sentence
beginning `NAME=VALUE`, one sentence per kind of problem. Without it a bad value surfaces where it
is first read: a traceback when the crawl closes (`HEALTH_DROP=abc`), an exit 1 after a 0-byte
archive was made (`ARCHIVE_MAX_PAGES=abc`), or a stopped run after the archive, its WARC file and
its `crawl_runs` row were made (`DW_ORIGIN=`, `DW_PENDING_MAX=abc`, `WARC_DIR=/proc/warc`).

Numbers are read strictly, the same way by every rule: ASCII digits `0`-`9`, a leading `-`
(so that `-1` is refused for its value, not its form), for a number a fraction (`0.5`, `.5`) and
an exponent (`1e3`); nothing else: no blank or line end around it, no `+`, no `_` (`1_000`), no
other script's digits (`٥`), no `nan` or `inf`, though Python's `int()`/`float()` take them all.
A whole number has no fraction or exponent (`1.5` and `1e9` are refused). Each number has an
upper bound where a larger value would be misread or crash where it is used: `ARCHIVE_TIMEOUT`
at most 2,147,483 s (SQLite's busy timeout is a C int of milliseconds: past it SQLite waits 0 ms),
`ARCHIVE_MAX_PAGES` at most 4,294,967,294 (SQLite's largest page count), every other number of
seconds at most `threading.TIMEOUT_MAX` (the longest wait Python's timers and sockets take,
about 292 years), `DW_GONE_RECHECK_DAYS` at most a century (a date out of range), every other
whole number at most 2**63 - 1 (SQLite's largest integer and Python's `sys.maxsize`: counts reach
SQL parameters and C sizes). A number past its bound is said to be one, too large: `NAME=VALUE is
more than the most, N (why)`.

Scrapy's own settings that the crawl reads and the README names (`SCRAPY_RULES`: the
`CLOSESPIDER_*` limits, `DOWNLOAD_TIMEOUT`, `CONCURRENT_*`, `RETRY_TIMES`, `RETRY_HTTP_CODES`,
`DNS_TIMEOUT`, the `LOG_*` settings, …) are
checked by the same rules: Scrapy reads them only where they are used, after the archive and its
run's row were made, and takes what `int()`/`float()` take (`CLOSESPIDER_TIMEOUT=-5` stopped the
crawl at once with exit 0).
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crawler import settings as defaults


def _control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


# The one strict reading of numbers (see the module's docstring); `re`'s `[0-9]` is ASCII only.
_WHOLE = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")

# SQLite's largest integer (a 64-bit signed one), also Python's sys.maxsize on 64-bit machines.
LARGEST_WHOLE = 2**63 - 1
# The longest wait Python's timers, `time.sleep` and socket timeouts take (the platform's time_t
# in nanoseconds): a larger one raises OverflowError where it is used.
LONGEST_WAIT = threading.TIMEOUT_MAX
# SQLite's busy timeout is a C int of milliseconds (sqlite3_busy_timeout): past 2**31 - 1 ms the
# PRAGMA silently sets 0, so a huge ARCHIVE_TIMEOUT would mean "never wait".
SQLITE_LONGEST_TIMEOUT = (2**31 - 1) // 1000
# SQLite's largest page count (SQLITE_MAX_PAGE_COUNT, https://www.sqlite.org/limits.html).
SQLITE_MOST_PAGES = 4_294_967_294


def _form(raw) -> str:
    """What to add when Python would have read the text as a number but the strict reading does
    not (`+5`, ` 5 `, `1_000`, `٥`): say how a number is written here."""
    try:
        python = float(str(raw))
    except ValueError:
        return ""
    if read_number(raw) is not None or not math.isfinite(python):
        return ""
    return " as written (digits 0-9 only: no blank, line end, sign +, or _)"


def _shown(raw) -> str:
    """A value as a message shows it: quoted when blanks around it or a control character would
    not show (or would break the one line)."""
    text = str(raw)
    return repr(text) if _control(text) or text != text.strip() else text


def _amount(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def read_whole(raw) -> int | None:
    """A whole number as written (see the module's docstring), or None; an int given by a
    settings file is taken as it is (a bool is no number)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw)
    return int(text) if _WHOLE.fullmatch(text) else None


def read_number(raw) -> float | None:
    """A finite number as written (see the module's docstring), or None."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    elif _NUMBER.fullmatch(text := str(raw)):
        value = float(text)
    else:
        return None
    return value if math.isfinite(value) else None  # 1e999 reads as inf


def _too_large(raw) -> bool:
    """A number written the strict way that is too large for a float (`1e400` reads as inf)."""
    text = str(raw)
    return bool(_NUMBER.fullmatch(text)) and float(text) == math.inf


def _default(name: str) -> str:
    from scrapy.settings import default_settings

    return str(getattr(defaults, name, getattr(default_settings, name, None)))


@dataclass(frozen=True)
class Whole:
    """A whole number, at least `least`; `means` says what it counts."""

    least: int
    means: str
    noun: str = "a whole number"
    default: str = ""
    most: int = LARGEST_WHOLE
    why_most: str = "SQLite's largest integer"

    def problem(self, name: str, raw, given: bool) -> str | None:
        value = read_whole(raw)
        if value is None:
            return (f"{name}={_shown(raw)} is not {self.noun}{_form(raw)}; give {self.means}, a whole"
                    f" number, at least {self.least} (default {self.default or _default(name)})")
        if value < self.least:  # a whole number, too small: say so, not "not a whole number"
            return (f"{name}={_shown(raw)} is less than the least, {self.least}; give {self.means},"
                    f" a whole number, at least {self.least} (default {self.default or _default(name)})")
        if value > self.most:  # a whole number, too large: say so, not "not a whole number"
            return (f"{name}={_shown(raw)} is more than the most, {self.most} ({self.why_most}); give"
                    f" {self.means}, a whole number, at least {self.least} and at most {self.most}"
                    f" (default {self.default or _default(name)})")
        return None


@dataclass(frozen=True)
class Number:
    """A finite number, at least `least` (more than `least` when `above`)."""

    least: float
    means: str
    above: bool = False
    noun: str = "a number"
    default: str = ""
    most: float = LONGEST_WAIT  # where a larger value cannot be used (a date out of range)
    why_most: str = "the longest wait Python's timers take"

    def problem(self, name: str, raw, given: bool) -> str | None:
        value = read_number(raw)
        if value is None and _too_large(raw):  # `1e400`: a number as written, past any float
            value = math.inf
        bound = f"more than {self.least:g}" if self.above else f"at least {self.least:g}"
        if value is None:
            return (f"{name}={_shown(raw)} is not {self.noun}{_form(raw)}; give {self.means}, {bound}"
                    f" (default {self.default or _default(name)})")
        if not (value > self.least if self.above else value >= self.least):  # a number, too small
            low = (f"is not more than {self.least:g}" if self.above and value == self.least
                   else f"is less than the least, {self.least:g}")
            return (f"{name}={_shown(raw)} {low}; give {self.means}, {bound}"
                    f" (default {self.default or _default(name)})")
        if value > self.most:  # a number, too large: say so, not "not a number of seconds"
            return (f"{name}={_shown(raw)} is more than the most, {_amount(self.most)} ({self.why_most});"
                    f" give {self.means}, {bound} and at most {_amount(self.most)}"
                    f" (default {self.default or _default(name)})")
        return None


@dataclass(frozen=True)
class Fraction:
    """A number from 0 to 1."""

    means: str

    def problem(self, name: str, raw, given: bool) -> str | None:
        value = read_number(raw)
        if value is None or not 0 <= value <= 1:
            return (f"{name}={_shown(raw)} is not a fraction{_form(raw)}; give {self.means}, a"
                    f" number from 0 to 1 (default {_default(name)})")
        return None


@dataclass(frozen=True)
class Boolean:
    """True or False as Scrapy's `getbool` reads one (`1`, `0`, any case of true/false)."""

    def problem(self, name: str, raw, given: bool) -> str | None:
        if isinstance(raw, bool) or str(raw).lower() in ("1", "0", "true", "false"):
            return None
        return f"{name}={_shown(raw)} is not a boolean; give True or False (1 or 0)"


@dataclass(frozen=True)
class Url:
    """An http(s) URL with a host; `origin`: nothing after the host but a `/`; `placeholder`: a
    template holding it; `optional`: empty means the documented default."""

    means: str
    origin: bool = False
    placeholder: str = ""
    optional: bool = False

    def problem(self, name: str, raw, given: bool) -> str | None:
        text = "" if raw is None else str(raw)
        if self.optional and not text:
            return None
        if _not_a_url(text, self.origin):
            what = "an origin" if self.origin else "an http(s) URL"
            example = " (the scheme and host only, e.g. http://127.0.0.1:8000)" if self.origin else ""
            return (f"{name}={text!r} is not {what}{example}; give {self.means}"
                    f" (default {_default(name)})")
        fault = origin_fault(text) if self.origin else None
        if fault:
            return f"{name}={text!r} is not an origin Scrapy can fetch from: {fault}"
        if self.placeholder and self.placeholder not in text:
            return f"{name}={text!r} has no {self.placeholder}; give {self.means}"
        return None


def _not_a_url(text: str, origin: bool) -> bool:
    """True when `text` is no http(s) URL with a host (`origin`: nor an origin)."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        return True
    if _control(text) or " " in text or parts.scheme.lower() not in ("http", "https") or not host:
        return True
    # A user name or password in an origin (`http://u:p@host`) is no host Scrapy can reach
    # (every request fails "invalid hostname"), nor is port 0.
    return origin and (parts.path not in ("", "/") or bool(parts.query or parts.fragment)
                       or "@" in parts.netloc or parts.port == 0)


def origin_fault(text: str) -> str | None:
    """What makes an origin that reads as a URL one that cannot work, and how to write it; None
    when it can. Each of these was taken and then made a crawl fail or spin (tester-try27 items
    1, 7): Scrapy drops an empty port (`http://127.0.0.1:`, what `http://127.0.0.1:$PORT` gives
    with PORT unset); an empty query or fragment (`…:18810?`) moves the request's path after
    it; a `%`-escape in the host (`127.0.0.1%3A18810`) is sent as the host's name; with a trailing
    dot (`localhost.:18810`) no listing was read (the dotless name is the same host); and an
    IPv6 literal (`[::1]`) fails every request, since Scrapy's resolver (`DNS_RESOLVER`'s
    default) looks up IPv4 addresses only and takes `::1` for a name ("DNS lookup failed"). A
    capital letter in the host is no fault: host names are case-insensitive, and the origin is
    read lowercased, as Scrapy and browsers read it (`Origins`)."""
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    if "?" in text or "#" in text:
        return ("it has a query or fragment ('?' or '#'); give the scheme and host only,"
                f" e.g. {parts.scheme}://{host}")
    if "[" in host:
        return ("its host is an IPv6 address, which Scrapy's resolver cannot reach (it looks up IPv4"
                " only); give an IPv4 address or a host name, e.g. http://127.0.0.1:8000")
    if "%" in host:
        return ("a %-escape in its host, which is sent as part of the host's name; write the"
                " host and port as they are, e.g. http://127.0.0.1:8000")
    if host.endswith(":"):
        return ("its port is empty (an unset shell variable?); give the port after the colon,"
                f" e.g. {parts.scheme}://{host}8000, or leave the colon out for the scheme's own")
    if (parts.hostname or "").endswith("."):
        return ("its host ends in a dot; give the host without it, e.g."
                f" {parts.scheme}://{host.replace('.:', ':').rstrip('.')}")
    return None


def origin_problem(name: str, text: str) -> str | None:
    """Why `text` is not an origin by `DW_ORIGIN`'s rule (`http(s)://host[:port]`, nothing after
    it but `/`), in words starting `NAME 'TEXT'`; None when it is one. For an origin given
    otherwise than as a setting (`python -m crawler.reextract --origin`)."""
    if _not_a_url(text, origin=True):
        return f"{name} {text!r} is not an origin (the scheme and host only, e.g. http://127.0.0.1:8000)"
    fault = origin_fault(text)
    if fault:
        return f"{name} {text!r} is not an origin Scrapy can fetch from: {fault}"
    return None


@dataclass(frozen=True)
class Name:
    """A non-empty name without blanks or control characters."""

    means: str

    def problem(self, name: str, raw, given: bool) -> str | None:
        text = "" if raw is None else str(raw)
        if not text or _control(text) or any(char.isspace() for char in text):
            return (f"{name}={text!r} is not a name; give {self.means}, without blanks"
                    f" (default {_default(name)})")
        return None


@dataclass(frozen=True)
class RedisUrl:
    """Unset, or a redis://, rediss:// or unix:// URL (redis-py's forms)."""

    def problem(self, name: str, raw, given: bool) -> str | None:
        if raw is None or (raw == "" and not given):
            return None
        text = str(raw)
        if urlsplit(text).scheme.lower() in ("redis", "rediss", "unix") and not _control(text):
            return None
        return (f"{name}={text!r} is not a Redis URL; give redis://HOST:PORT/DB, or leave it out"
                " for a crawl of its own")


@dataclass(frozen=True)
class Folder:
    """A folder, or a path where one can be made, that can be written: checked by making what is
    missing and a file in it, then removing all that was made (whether or not it could be).
    Not given (None, or empty from crawler/settings.py) is `unset`'s meaning; given empty (an
    unset shell variable) or with a control character, refused."""

    unset: str
    means: str

    def problem(self, name: str, raw, given: bool) -> str | None:
        text = "" if raw is None else os.fspath(raw)
        if not text.strip():
            if given and raw is not None:
                return (f"{name}={text} is empty (an unset shell variable?); leave it out for"
                        f" {self.unset}, or give a folder")
            return None
        if _control(text):
            return f"{name}={text!r} holds a control character (a line end from $(cat file)?); give a folder"
        from crawler.archive.paths import path_slip

        return path_slip(name, text) or folder_problem(name, text, self.means)


def folder_problem(name: str, text: str, means: str, shown: str | None = None) -> str | None:
    """Why the folder `text` cannot be made and written, in one sentence starting `NAME=VALUE`
    (`shown`: the value, when `text` is the folder of the file it names); None when it can.
    Leaves nothing behind: what it makes to find out is removed."""
    value = text if shown is None else shown
    path = Path(text)
    for place in (path, *path.parents):  # the folder, or the nearest of its parents that exists
        try:
            mode = os.stat(place).st_mode
        except (FileNotFoundError, NotADirectoryError):  # absent, or under a file: see its parents
            continue
        except OSError as exc:
            return f"{name}={value} cannot be used: {exc.strerror or exc}"
        if stat.S_ISDIR(mode):
            return _writable(name, value, path, place)
        from crawler.archive.integrity import file_kind

        kind = "a regular file" if stat.S_ISREG(mode) else file_kind(mode)
        if place == path and shown is None:
            return f"{name}={value} is {kind}, not a folder; give {means}"
        return (f"{name}={value} cannot be made: {place} is {kind}, so no folder can be made under"
                " it; give another folder")
    return None


def _writable(name: str, value: str, path: Path, existing: Path) -> str | None:
    missing = []
    for place in (path, *path.parents):
        if place == existing:
            break
        missing.append(place)
    made: list[Path] = []
    try:
        for place in reversed(missing):
            os.mkdir(place)
            made.append(place)
        with tempfile.TemporaryFile(dir=path, prefix=".dw-check-"):
            pass
    except OSError as exc:
        if len(made) < len(missing):  # a folder could not be made: name it when it is a parent
            at = f" ({exc.filename})" if exc.filename and os.fspath(exc.filename) != value else ""
            return f"{name}={value} cannot be made: {exc.strerror or exc}{at}; give another folder"
        at = f" (its folder {path})" if value != str(path) else ""
        return f"{name}={value} cannot be written{at}: {exc.strerror or exc}; give another folder"
    finally:
        for place in reversed(made):
            try:
                os.rmdir(place)
            except OSError:
                pass
    return None


@dataclass(frozen=True)
class Checked:
    """Checked by a function of the module that reads the setting: (NAME, value) -> why or None."""

    by: Callable[[str, object], str | None]

    def problem(self, name: str, raw, given: bool) -> str | None:
        return self.by(name, raw)


@dataclass(frozen=True)
class ArchiveFile:
    """The archive's SQLite file (crawler/archive/paths.py `problem`)."""

    def problem(self, name: str, raw, given: bool) -> str | None:
        from crawler.archive import paths

        why = paths.problem(raw, name)
        if why or raw is None:
            return why
        # Its folder is made when the archive opens: tried now, as WARC_DIR's is (a folder that
        # cannot be made or written: `/proc/x/dw.db`, an immutable folder).
        text = os.fspath(raw)
        folder = os.path.dirname(text) or "."
        return folder_problem(name, folder, "the archive's folder", shown=text)


def _listing_size(name: str, raw) -> str | None:
    from crawler.discovery.listings import size_limit_problem

    why = size_limit_problem(raw, name)
    size = read_whole(raw)
    if why is None and size is None:  # read by int() but not by the strict reading (` 5 `, `+5`)
        return (f"{name}={raw!r} is not a whole number of bytes{_form(raw)} (the sitemap protocol's"
                " limit: 52428800)")
    if why is None and size > sys.maxsize:  # zlib and Scrapy take a size that fits a C ssize_t
        return (f"{name}={raw} is too large: give a number of bytes, at most {sys.maxsize} (the"
                " largest size Python's zlib takes), e.g. 52428800 (the sitemap protocol's limit)")
    return why


def _user_agent(name: str, raw) -> str | None:
    text = "" if raw is None else str(raw)
    if not text.strip() or _control(text):
        return (f"{name}={text!r} is not a User-Agent: the crawl would go out unidentified; give"
                " a product name and a contact, e.g. 'dw-archive/0.1 (+mailto:you@example.org)'")
    return None


# The levels Python's logging takes by name (exactly so: `info` is a ValueError when Scrapy sets
# up its log, an exit 1 with a traceback).
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def _log_level(name: str, raw) -> str | None:
    if str(raw) in (*_LOG_LEVELS, "WARN", "FATAL", "NOTSET") or (
            isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0):
        return None
    hint = f" (in capitals: {str(raw).upper()})" if str(raw).upper() in _LOG_LEVELS else ""
    return (f"{name}={_shown(raw)} is not a log level{hint}; give one of {', '.join(_LOG_LEVELS)}"
            " (default INFO)")


def _status_codes(name: str, raw) -> str | None:
    """A list of HTTP status codes as Scrapy reads one (`Settings.getlist`: a list, or text split
    at commas, each read by int()): each a whole number from 100 to 599, read strictly (a blank
    around an item, after a comma, is the list's own)."""
    items = raw.split(",") if isinstance(raw, str) else list(raw or ())
    for item in items:
        code = read_whole(item.strip() if isinstance(item, str) else item)
        if code is None or not 100 <= code <= 599:
            return (f"{name}={_shown(raw)} is not a list of HTTP status codes ({str(item)!r} is"
                    " not one); give whole numbers from 100 to 599 separated by commas (default"
                    " 500,502,503,504,522,524,408,429)")
    return None


def _log_format(name: str, raw) -> str | None:
    """A format Python's logging can format a record with (Scrapy makes its `logging.Formatter`
    from `LOG_FORMAT` and `LOG_DATEFORMAT`): `%(bogus)s` was a `--- Logging error ---` traceback
    on stderr for every record, nothing in the log, and exit 0."""
    import logging

    from scrapy.settings import default_settings

    fmt, datefmt = default_settings.LOG_FORMAT, default_settings.LOG_DATEFORMAT
    if name == "LOG_FORMAT":
        fmt = raw
    else:
        datefmt = raw
    record = logging.LogRecord("scrapy.core.engine", logging.INFO, __file__, 1, "Spider opened %s",
                               ("dw",), None)
    try:
        logging.Formatter(fmt=fmt, datefmt=datefmt).format(record)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        why = f"no field {exc}" if isinstance(exc, KeyError) else str(exc)
        return (f"{name}={_shown(raw)} cannot format a log record ({why}); give a format of Python's"
                f" logging, e.g. {getattr(default_settings, name)}")
    return None


_SECONDS = "a number of seconds"
_ORIGIN = "where {} is fetched from: point all three origins at a mirror to crawl it"

# Every setting of the project, and what it accepts (its default and meaning: crawler/settings.py).
Rule = Whole | Number | Fraction | Boolean | Url | Name | RedisUrl | Folder | Checked | ArchiveFile
RULES: dict[str, Rule] = {
    "DW_ORIGIN": Url(_ORIGIN.format("www.dw.com"), origin=True),
    "DW_SHORTLINK_ORIGIN": Url(_ORIGIN.format("p.dw.com"), origin=True),
    "DW_FEED_ORIGIN": Url(_ORIGIN.format("rss.dw.com"), origin=True),
    "ARCHIVE_PATH": ArchiveFile(),
    "ARCHIVE_BATCH_SIZE": Whole(1, "the articles written in one transaction"),
    "ARCHIVE_BATCH_SECONDS": Number(0, "the seconds between two transactions", above=True,
                                    noun=_SECONDS),
    "ARCHIVE_MAX_PAGES": Whole(0, "the SQLite pages (4 KiB) the archive may grow to (0: no limit)",
                               most=SQLITE_MOST_PAGES, why_most="SQLite's largest page count"),
    "ARCHIVE_TIMEOUT": Number(0, "the seconds a batch waits for another process's write lock",
                              noun=_SECONDS, most=SQLITE_LONGEST_TIMEOUT,
                              why_most="SQLite's busy timeout, 2**31 - 1 milliseconds"),
    "DW_SITEMAP_DEPTH": Whole(0, "how deep sitemap indexes are followed"),
    "DW_LISTING_MAXSIZE": Checked(_listing_size),
    "DW_REQUESTS_AHEAD": Whole(0, "the requests the scheduler may hold (0: all at once)"),
    "DW_PENDING_MAX": Whole(1, "the listed articles that may wait before the next sitemap is read"),
    "DW_GONE_RECHECK_DAYS": Number(0, "how long a gone article is not asked for again (0: every"
                                      " run asks)", noun="a number of days", most=36500,
                                   why_most="a century: later dates are out of range"),
    "BACKFILL_COMMONCRAWL_CDX": Url("Common Crawl's CDX index, with {crawl} where the crawl id goes",
                                    placeholder="{crawl}"),
    "BACKFILL_COMMONCRAWL_COLLINFO": Url("the list of Common Crawl's crawls (empty: beside the CDX"
                                         " index)", optional=True),
    "BACKFILL_COMMONCRAWL_DATA": Url("where Common Crawl's WARC files are read from"),
    "BACKFILL_WAYBACK_CDX": Url("the Wayback Machine's CDX API"),
    "BACKFILL_WAYBACK_REPLAY": Url("where the Wayback Machine replays captures"),
    "BACKFILL_DELAY": Number(0, "the seconds between two requests to one archive", noun=_SECONDS),
    "BACKFILL_WAYBACK_CDX_DELAY": Number(0, "the seconds between two CDX requests", noun=_SECONDS),
    "BACKFILL_RETRIES": Whole(0, "the retries of a failed request"),
    "BACKFILL_BACKOFF": Number(0, "the seconds before the first retry", noun=_SECONDS),
    "BACKFILL_RETRY_AFTER_MAX": Number(0, "the longest Retry-After waited, in seconds", noun=_SECONDS),
    "BACKFILL_TIMEOUT": Number(0, "the seconds without a byte before a request is retried",
                               above=True, noun=_SECONDS),
    "BACKFILL_BREAKER": Whole(1, "the failed requests in a row before the run stops"),
    "BACKFILL_BATCH_SIZE": Whole(1, "the captures written in one transaction"),
    "BACKFILL_PROGRESS_INTERVAL": Number(0, "the seconds between progress lines", above=True,
                                         noun=_SECONDS),
    "BACKFILL_WAYBACK_SETTLE_DAYS": Whole(0, "the days after a range's end before its listing is"
                                             " complete"),
    "BACKFILL_CC_NEWS_SETTLE_DAYS": Whole(0, "the days after a month before its file list is"
                                             " complete"),
    "RETRY_BACKOFF_BASE": Number(0, "the seconds before the first retry", noun=_SECONDS),
    "RETRY_BACKOFF_MAX": Number(0, "the longest wait before a retry, in seconds", noun=_SECONDS),
    "WARC_ENABLED": Boolean(),
    "WARC_DIR": Folder("the archive's own folder beside ARCHIVE_PATH", "the folder the WARC files go to"),
    "WARC_MAX_SIZE": Whole(1, "the bytes per WARC file", noun="a size", default="1000000000, 1 GB"),
    "JOBDIR": Folder("a run that cannot be resumed", "the folder the crawl's state is kept in"),
    "REDIS_URL": RedisUrl(),
    "DW_REDIS_PREFIX": Name("the key prefix of this archive's cluster in Redis"),
    "DW_HEARTBEAT_SECONDS": Number(0, "how often a worker renews its heartbeat, in seconds",
                                   above=True, noun=_SECONDS),
    "DW_HEARTBEAT_TTL": Number(0, "the seconds of silence after which a worker is taken for dead",
                               above=True, noun=_SECONDS),
    "DW_WRITER_WAIT": Number(0, "the seconds a worker waits for the archive writer", noun=_SECONDS),
    "SPIDERMON_ENABLED": Boolean(),
    "SPIDERMON_ADD_FIELD_COVERAGE": Boolean(),
    "HEALTH_RECENT_RUNS": Whole(1, "the recent runs a run's field coverage is compared with"),
    "HEALTH_MIN_ARTICLES": Whole(0, "the articles a run needs to be judged"),
    "HEALTH_DROP": Fraction("the share of a field's median below which it is degraded"),
    "HEALTH_MIN_BASELINE": Fraction("the share under which a field is not judged"),
    # Scrapy's, set by the project: empty, Scrapy sends no User-Agent at all (the crawl goes out
    # unidentified, against the README's politeness); a line end is folded into the header.
    "USER_AGENT": Checked(lambda name, raw: _user_agent(name, raw)),
}

# Scrapy's own settings that the crawl reads and the README names, checked the same way: Scrapy
# reads them where they are used, after the archive and its `crawl_runs` row were made, and takes
# what int()/float() take: `CLOSESPIDER_TIMEOUT=-5` stopped the crawl at once with exit 0 having
# done nothing, `CLOSESPIDER_ITEMCOUNT=abc` was a ValueError (exit 1), `-1` was "no limit".
SCRAPY_RULES: dict[str, Rule] = {
    "CLOSESPIDER_TIMEOUT": Number(0, "the seconds after which the crawl stops (0: no limit)",
                                  noun=_SECONDS),
    "CLOSESPIDER_ITEMCOUNT": Whole(0, "the articles after which the crawl stops (0: no limit)"),
    "CLOSESPIDER_PAGECOUNT": Whole(0, "the responses after which the crawl stops (0: no limit)"),
    "CLOSESPIDER_ERRORCOUNT": Whole(0, "the errors after which the crawl stops (0: no limit)"),
    "CLOSESPIDER_TIMEOUT_NO_ITEM": Whole(0, "the seconds without an article after which the crawl"
                                            " stops (0: no limit)"),
    "CLOSESPIDER_PAGECOUNT_NO_ITEM": Whole(0, "the responses without an article after which the"
                                              " crawl stops (0: no limit)"),
    "CONCURRENT_REQUESTS": Whole(1, "the requests in flight at once"),
    "CONCURRENT_REQUESTS_PER_DOMAIN": Whole(1, "the requests in flight at once to one host"),
    "CONCURRENT_ITEMS": Whole(1, "the items of one response handled at once"),
    "DOWNLOAD_DELAY": Number(0, "the seconds between two requests to one host", noun=_SECONDS),
    "DOWNLOAD_TIMEOUT": Number(0, "the seconds a request may take", above=True, noun=_SECONDS),
    "DOWNLOAD_MAXSIZE": Whole(0, "the largest response in bytes (0: no limit)", noun="a size"),
    "DOWNLOAD_WARNSIZE": Whole(0, "the response size in bytes that is warned of (0: never)",
                               noun="a size"),
    "DOWNLOAD_FAIL_ON_DATALOSS": Boolean(),
    "RETRY_ENABLED": Boolean(),
    "RETRY_TIMES": Whole(0, "the retries of a failed request"),
    "ROBOTSTXT_OBEY": Boolean(),
    "AUTOTHROTTLE_ENABLED": Boolean(),
    "AUTOTHROTTLE_START_DELAY": Number(0, "AutoThrottle's first delay, in seconds", noun=_SECONDS),
    "AUTOTHROTTLE_MAX_DELAY": Number(0, "AutoThrottle's longest delay, in seconds", noun=_SECONDS),
    "AUTOTHROTTLE_TARGET_CONCURRENCY": Number(0, "the requests AutoThrottle aims to have in flight"
                                                 " to one host", above=True),
    "DEPTH_LIMIT": Whole(0, "how many links deep a request may be (0: no limit)"),
    "LOG_LEVEL": Checked(lambda name, raw: _log_level(name, raw)),
    # tester try28 item 3: a traceback and exit 1 (a boolean that is none), a stop blamed on
    # robots.txt (`DNS_TIMEOUT=-1`, `REACTOR_THREADPOOL_MAXSIZE=0`: no lookup ever ends), a run
    # stopped `memusage_exceeded` (`MEMUSAGE_LIMIT_MB=-1`), a log lost with exit 0 (`LOG_FORMAT`).
    "LOG_ENABLED": Boolean(),
    "LOG_STDOUT": Boolean(),
    "LOG_SHORT_NAMES": Boolean(),
    "LOG_FILE_APPEND": Boolean(),
    "LOG_FORMAT": Checked(lambda name, raw: _log_format(name, raw)),
    "LOG_DATEFORMAT": Checked(lambda name, raw: _log_format(name, raw)),
    "RANDOMIZE_DOWNLOAD_DELAY": Boolean(),
    "REDIRECT_ENABLED": Boolean(),
    "REDIRECT_MAX_TIMES": Whole(0, "the redirects one request may follow"),
    "REACTOR_THREADPOOL_MAXSIZE": Whole(1, "the threads that look up host names"),
    "MEMUSAGE_LIMIT_MB": Whole(0, "the memory in MiB at which the crawl stops (0: no limit)"),
    "DNS_TIMEOUT": Number(0, "the seconds a host name's lookup may take", above=True, noun=_SECONDS),
    "RETRY_HTTP_CODES": Checked(lambda name, raw: _status_codes(name, raw)),
}
RULES.update(SCRAPY_RULES)


def problem(settings, names: Iterable[str] | None = None) -> str | None:
    """Why the first of `names` (default: every setting in `RULES`) cannot be used, in one
    sentence starting `NAME=VALUE`; None when all can. `settings`: Scrapy settings; a value
    given on the command line (`-s`) empty is told from one not given by its priority."""
    from scrapy.settings import SETTINGS_PRIORITIES

    for name in RULES if names is None else names:
        given = (settings.getpriority(name) or 0) >= SETTINGS_PRIORITIES["cmdline"]
        why = RULES[name].problem(name, settings.get(name), given)
        if why:
            return why
    if names is None or "ARCHIVE_PATH" in names:
        return _the_archive_itself(settings)
    return None


def log_file_problem(settings) -> str | None:
    """Why `LOG_FILE` cannot be used, in one sentence starting `LOG_FILE=VALUE`; None when it can
    (or is not set). Refused as the other paths' slips are (given empty: an unset shell variable;
    a control character; a blank at an end, which would be part of the file's name; a leading
    `~`), then by `crawler.logfile.problem` (a file that cannot be written, a device, …), which
    creates the file empty, as Scrapy would a moment later."""
    from scrapy.settings import SETTINGS_PRIORITIES

    from crawler import logfile
    from crawler.archive.paths import path_slip

    raw = settings.get("LOG_FILE")
    if raw is None:
        return None
    text = os.fspath(raw)
    if not text.strip():
        if (settings.getpriority("LOG_FILE") or 0) >= SETTINGS_PRIORITIES["cmdline"]:
            return (f"LOG_FILE={text} is empty (an unset shell variable?); leave it out for the log"
                    " on stderr, or give a file")
        return None
    if _control(text):
        return (f"LOG_FILE={text!r} holds a control character (a line end from $(cat file)?); give"
                " a file")
    if text.startswith("~"):  # path_slip's words speak of a folder made: no folder is made here
        return (f"LOG_FILE={text} begins with ~, which only a shell expands, and not here; give the"
                f" full path, e.g. LOG_FILE={Path(text).expanduser()}")
    why = path_slip("LOG_FILE", text) or logfile.problem(text)
    if why is None or why.startswith("LOG_FILE="):
        return why
    return f"LOG_FILE={text} {why}"


def _the_archive_itself(settings) -> str | None:
    """WARC_DIR or JOBDIR naming the archive's own file: each would be made a folder where the
    archive goes (the crawl then stops part way, or cannot open its archive)."""
    archive = settings.get("ARCHIVE_PATH")
    if not archive:
        return None
    archive = os.path.realpath(os.fspath(archive))
    for name in ("WARC_DIR", "JOBDIR"):
        value = settings.get(name)
        if value and os.path.realpath(os.fspath(value)) == archive:
            return (f"{name}={value} is the archive's own file (ARCHIVE_PATH); give another"
                    " folder")
    # JOBDIR in the captures folder: the crawl's queue, seen-set and lock would sit among the
    # WARC files a rebuild reads and a backup copies, and a second archive's captures.
    jobdir = settings.get("JOBDIR")
    if jobdir:
        from crawler.archive.paths import captures_dir

        captures = captures_dir(settings.get("ARCHIVE_PATH"), settings.get("WARC_DIR") or None)
        if os.path.realpath(os.fspath(jobdir)) == os.path.realpath(captures):
            given = "WARC_DIR" if settings.get("WARC_DIR") else "the archive's own, beside ARCHIVE_PATH"
            return (f"JOBDIR={jobdir} is the captures folder ({given}): the crawl's state would be"
                    " kept among the WARC files; give another folder")
    return None
