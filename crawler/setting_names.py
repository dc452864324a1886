"""Setting names given with `-s NAME=VALUE`, checked as spider arguments are: a typo of a setting
(`ARCHIVE_PTH`, `DW_ORGIN`) would otherwise be ignored without a word, and the crawl would write
into the default archive or fetch from dw.com instead of the mirror.

The names known are derived, never listed twice: every upper-case name `crawler/settings.py`
defines (the project's settings and the Scrapy settings it changes) and every name of Scrapy's
own default settings (`scrapy.settings.default_settings`). A name that is neither is refused
when it is close to a known one (`did you mean ARCHIVE_PATH?`) or when it begins like the
project's own settings (`DW_`, `ARCHIVE_`, `WARC_`, `HEALTH_`: the first words of the names
`crawler/settings.py` adds to Scrapy's, less those of installed packages such as `SPIDERMON_`).
Any other name is passed on, with a warning, for the add-on or extension that reads it.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from functools import cache
from importlib import metadata

logger = logging.getLogger(__name__)

CLOSE = 0.85  # difflib ratio: ARCHIVE_PTH/ARCHIVE_PATH 0.96, DUPEFILTER_KEY/DUPEFILTER_DEBUG 0.80


def _upper_names(module) -> set[str]:
    return {name for name in vars(module) if name.isupper() and not name.startswith("_")}


@cache
def scrapy_names() -> frozenset[str]:
    """The names of Scrapy's default settings."""
    from scrapy.settings import default_settings

    return frozenset(_upper_names(default_settings))


@cache
def project_names() -> frozenset[str]:
    """The names `crawler/settings.py` defines."""
    from crawler import settings

    return frozenset(_upper_names(settings))


def known_names() -> frozenset[str]:
    """Every setting name dw-archive or Scrapy reads or sets by default."""
    return scrapy_names() | project_names()


@cache
def own_prefixes() -> frozenset[str]:
    """First words of the project's own setting names (`DW`, `ARCHIVE`, `WARC`, `HEALTH`): those
    `crawler/settings.py` adds to Scrapy's, less words Scrapy's names begin with too (`RETRY`)
    and words that name an installed package (`SPIDERMON`, `REDIS`), whose settings we cannot
    know."""
    scrapy_words = {name.split("_")[0] for name in scrapy_names()}
    packages = {name.lower() for name in metadata.packages_distributions()}
    words = {name.split("_")[0] for name in project_names() - scrapy_names() if "_" in name}
    return frozenset(w for w in words if w not in scrapy_words and w.lower() not in packages)


def check(names: Iterable[str]) -> tuple[str | None, list[str]]:
    """(why the first refused name is refused, e.g. `unknown setting ARCHIVE_PTH; did you mean
    ARCHIVE_PATH?`, or None; the unknown names passed on, for the caller to log once logging is
    set up). `names`: setting names as given, or whole `NAME=VALUE` pairs.

    Names are compared as Scrapy stores them, exactly, so a name that is a known one but for its
    case or surrounding spaces (`archive_path`, `"ARCHIVE_PATH "`) is refused: Scrapy would keep
    it as another setting, and the crawl would write into the default archive. A spider argument
    given as a setting (`-s lang=de`) is refused with the `-a` form.
    """
    from crawler.arguments import NAMES as SPIDER_ARGUMENTS

    known = known_names()
    passed_on = []
    for given in names:
        name, _, value = given.partition("=")
        if name in known:
            continue
        key = name.strip().upper()
        if key in known:
            return f"unknown setting {name!r}; did you mean {key}?", passed_on
        if name.strip().lower() in SPIDER_ARGUMENTS:
            argument = name.strip().lower()
            return (f"{argument} is a spider argument, not a setting; give it as"
                    f" -a {argument}={value or 'VALUE'}"), passed_on
        close = difflib.get_close_matches(key, known, n=1, cutoff=CLOSE)
        if close:
            return f"unknown setting {name}; did you mean {close[0]}?", passed_on
        word = key.split("_")[0]
        if word in own_prefixes():
            same = sorted(n for n in project_names() if n.startswith(f"{word}_"))
            return f"unknown setting {name} (dw-archive's {word}_ settings: {', '.join(same)})", passed_on
        passed_on.append(name)
    return None, passed_on


def warn_passed_on(names: Iterable[str]) -> None:
    """Log each name `check` passed on: it may still be a slip."""
    for name in names:
        logger.warning("Setting %s is neither dw-archive's nor Scrapy's: passed on for the add-on"
                       " or extension that reads it", name)


def given_names(pairs: Iterable[str]) -> list[str]:
    """The names of `-s NAME=VALUE` pairs, as given (spaces kept: Scrapy keeps them)."""
    return [pair.split("=", 1)[0] for pair in pairs]
