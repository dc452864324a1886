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

Values are read as Scrapy's `getint`/`getfloat`/`getbool` read them (a whole number has no
fraction or exponent, `1.5` and `1e9` are refused), and a number must be finite (`nan`, `inf`).
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crawler import settings as defaults


def _control(text: str) -> bool:
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def _number_text(raw) -> str:
    """The text of a number as given: a control character (a line end from `$(cat file)`, which
    `str.strip` would drop) makes it no number."""
    text = str(raw)
    return "not a number" if _control(text) else text.strip()


def _default(name: str) -> str:
    return str(getattr(defaults, name, None))


@dataclass(frozen=True)
class Whole:
    """A whole number, at least `least`; `means` says what it counts."""

    least: int
    means: str
    noun: str = "a whole number"
    default: str = ""

    def problem(self, name: str, raw, given: bool) -> str | None:
        try:
            value = int(_number_text(raw))
        except ValueError:
            value = None
        if value is None or value < self.least:
            return (f"{name}={raw} is not {self.noun}; give {self.means}, a whole number, at least"
                    f" {self.least} (default {self.default or _default(name)})")
        return None


@dataclass(frozen=True)
class Number:
    """A finite number, at least `least` (more than `least` when `above`)."""

    least: float
    means: str
    above: bool = False
    noun: str = "a number"
    default: str = ""
    most: float | None = None  # where a larger value cannot be used (a date out of range)

    def problem(self, name: str, raw, given: bool) -> str | None:
        try:
            value = float(_number_text(raw))
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value > self.least if self.above else value >= self.least)
        if not ok or (self.most is not None and value > self.most):
            bound = f"more than {self.least:g}" if self.above else f"at least {self.least:g}"
            if self.most is not None:
                bound += f" and at most {self.most:g}"
            return (f"{name}={raw} is not {self.noun}; give {self.means}, {bound}"
                    f" (default {self.default or _default(name)})")
        return None


@dataclass(frozen=True)
class Fraction:
    """A number from 0 to 1."""

    means: str

    def problem(self, name: str, raw, given: bool) -> str | None:
        try:
            value = float(_number_text(raw))
        except ValueError:
            value = math.nan
        if not 0 <= value <= 1:  # nan too
            return (f"{name}={raw} is not a fraction; give {self.means}, a number from 0 to 1"
                    f" (default {_default(name)})")
        return None


@dataclass(frozen=True)
class Boolean:
    """True or False as Scrapy's `getbool` reads one (`1`, `0`, any case of true/false)."""

    def problem(self, name: str, raw, given: bool) -> str | None:
        if isinstance(raw, bool) or str(raw).strip().lower() in ("1", "0", "true", "false"):
            return None
        return f"{name}={raw} is not a boolean; give True or False (1 or 0)"


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
        try:
            parts = urlsplit(text)
            host = parts.hostname
            parts.port  # noqa: B018 (a port that is not a number raises ValueError)
        except ValueError:
            host = None
        wrong = (_control(text) or " " in text or parts.scheme.lower() not in ("http", "https")
                 or not host)
        if self.origin and not wrong:
            # A user name or password in an origin (`http://u:p@host`) is no host Scrapy can
            # reach (every request fails "invalid hostname"), nor is port 0.
            wrong = (parts.path not in ("", "/") or bool(parts.query or parts.fragment)
                     or "@" in parts.netloc or parts.port == 0)
        if wrong:
            what = "an origin" if self.origin else "an http(s) URL"
            example = " (the scheme and host only, e.g. http://127.0.0.1:8000)" if self.origin else ""
            return (f"{name}={text!r} is not {what}{example}; give {self.means}"
                    f" (default {_default(name)})")
        if self.placeholder and self.placeholder not in text:
            return f"{name}={text!r} has no {self.placeholder}; give {self.means}"
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
        return folder_problem(name, text, self.means)


def folder_problem(name: str, text: str, means: str) -> str | None:
    """Why the folder `text` cannot be made and written, in one sentence starting `NAME=VALUE`;
    None when it can. Leaves nothing behind: what it makes to find out is removed."""
    path = Path(text)
    for place in (path, *path.parents):  # the folder, or the nearest of its parents that exists
        try:
            mode = os.stat(place).st_mode
        except (FileNotFoundError, NotADirectoryError):  # absent, or under a file: see its parents
            continue
        except OSError as exc:
            return f"{name}={text} cannot be used: {exc.strerror or exc}"
        if stat.S_ISDIR(mode):
            return _writable(name, text, path, place)
        from crawler.archive.integrity import file_kind

        kind = "a regular file" if stat.S_ISREG(mode) else file_kind(mode)
        if place == path:
            return f"{name}={text} is {kind}, not a folder; give {means}"
        return (f"{name}={text} cannot be made: {place} is {kind}, so no folder can be made under"
                " it; give another folder")
    return None


def _writable(name: str, text: str, path: Path, existing: Path) -> str | None:
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
            at = f" ({exc.filename})" if exc.filename and os.fspath(exc.filename) != text else ""
            return f"{name}={text} cannot be made: {exc.strerror or exc}{at}; give another folder"
        return f"{name}={text} cannot be written: {exc.strerror or exc}; give another folder"
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

        return paths.problem(raw, name)


def _listing_size(name: str, raw) -> str | None:
    from crawler.discovery.listings import size_limit_problem

    return size_limit_problem(raw, name)


def _user_agent(name: str, raw) -> str | None:
    text = "" if raw is None else str(raw)
    if not text.strip() or _control(text):
        return (f"{name}={text!r} is not a User-Agent: the crawl would go out unidentified; give"
                " a product name and a contact, e.g. 'dw-archive/0.1 (+mailto:you@example.org)'")
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
    "ARCHIVE_MAX_PAGES": Whole(0, "the SQLite pages (4 KiB) the archive may grow to (0: no limit)"),
    "ARCHIVE_TIMEOUT": Number(0, "the seconds a batch waits for another process's write lock",
                              noun=_SECONDS),
    "DW_SITEMAP_DEPTH": Whole(0, "how deep sitemap indexes are followed"),
    "DW_LISTING_MAXSIZE": Checked(_listing_size),
    "DW_REQUESTS_AHEAD": Whole(0, "the requests the scheduler may hold (0: all at once)"),
    "DW_PENDING_MAX": Whole(1, "the listed articles that may wait before the next sitemap is read"),
    "DW_GONE_RECHECK_DAYS": Number(0, "how long a gone article is not asked for again (0: every"
                                      " run asks)", noun="a number of days", most=36500),
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
    return None
