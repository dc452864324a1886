"""The one date reader: every date the project reads (pages, sitemaps, feeds, WARC headers, HTTP
headers) becomes UTC `YYYY-MM-DDTHH:MM:SSZ` here, or a bare `YYYY-MM-DD` when only a day is given.

Forms read (`utc_stamp`; tests/test_dates.py holds every one):
- W3C Datetime / ISO 8601 (sitemaps, `dc:date`, Atom, JSON-LD, page state, WARC-Date):
  `2026-11-05`, `2026-11-05T08:00Z`, `2026-11-05T08:00:00.000+01:00`, with or without seconds
  and fraction, basic (`20261105T080000Z`) and week (`2026-W45-4`) forms; `2026-11` and `2026`
  are read as their first day. A time without a zone is taken as UTC (the sitemaps.org
  convention) and reported as `no_zone`.
- RFC 822 / RFC 1123 (RSS `pubDate`) and the HTTP-date forms of RFC 9110 (IMF-fixdate, RFC 850,
  asctime): `Thu, 05 Nov 2026 08:00:00 +0100`, two-digit years, without seconds, with AM/PM,
  with `GMT+3` / `UTC-05:30` offsets (read as written, not POSIX-inverted), with the named
  zones of `ZONES` or an IANA zone (`Europe/Berlin`); the day of the week in any language is
  ignored, and German month names are read too.

A zone name not in `ZONES` raises `UnknownZone`: the caller logs and counts it, and the date is
not used; it is never taken as UTC. The date and time themselves are read by dateutil's parser
(python-dateutil); only the zone is read here, because dateutil maps unknown names to a naive
time, `Z` to the machine's local zone and `GMT+3` to three hours *behind* GMT.

Readers for each use, all on `utc_stamp`: `to_utc` (a page's dates: None for what is no date,
an unknown zone included), `newest` (a listing entry's dates, with what could not be used),
`http_date` (`Retry-After`, `Last-Modified`); and `printed_day` for the day a page prints in
words of its language (`30.01.2024`), which is no timestamp.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser

from crawler.text import clean_text

_H = 3600
# Zone abbreviations used in feeds of the regions DW serves, as offsets from UTC in seconds.
# Where an abbreviation is ambiguous, RFC 822's meaning wins for its own names (EST, CST, ...:
# North America), and otherwise the zone of DW's audience: IST is India (Hindi, Urdu and Bengali
# services), BST British Summer Time, AST Atlantic.
ZONES: dict[str, int] = {
    # RFC 822 and universal
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5 * _H, "EDT": -4 * _H, "CST": -6 * _H,
    "CDT": -5 * _H, "MST": -7 * _H, "MDT": -6 * _H, "PST": -8 * _H, "PDT": -7 * _H,
    # Europe
    "WET": 0, "WEST": _H, "BST": _H, "IST": 5 * _H + 1800, "CET": _H, "CEST": 2 * _H, "MEZ": _H,
    "MESZ": 2 * _H, "EET": 2 * _H, "EEST": 3 * _H, "OEZ": 2 * _H, "OESZ": 3 * _H, "MSK": 3 * _H,
    "TRT": 3 * _H, "FET": 3 * _H, "SAMT": 4 * _H,
    # Africa
    "WAT": _H, "CAT": 2 * _H, "EAT": 3 * _H, "SAST": 2 * _H,
    # Asia and Oceania
    "GST": 4 * _H, "IRST": 3 * _H + 1800, "AFT": 4 * _H + 1800, "PKT": 5 * _H, "NPT": 5 * _H + 2700,
    "BDT": 6 * _H, "MMT": 6 * _H + 1800, "ICT": 7 * _H, "WIB": 7 * _H, "WITA": 8 * _H, "WIT": 9 * _H,
    "HKT": 8 * _H, "SGT": 8 * _H, "MYT": 8 * _H, "PHT": 8 * _H, "AWST": 8 * _H, "JST": 9 * _H,
    "KST": 9 * _H, "ACST": 9 * _H + 1800, "AEST": 10 * _H, "AEDT": 11 * _H, "NZST": 12 * _H,
    "NZDT": 13 * _H,
    # The Americas
    "AKST": -9 * _H, "AKDT": -8 * _H, "HST": -10 * _H, "AST": -4 * _H, "ADT": -3 * _H,
    "NST": -3 * _H - 1800, "NDT": -2 * _H - 1800, "BRT": -3 * _H, "BRST": -2 * _H, "ART": -3 * _H,
    "CLT": -4 * _H, "CLST": -3 * _H, "COT": -5 * _H, "PET": -5 * _H, "VET": -4 * _H,
    "UYT": -3 * _H, "PYT": -4 * _H, "BOT": -4 * _H, "ECT": -5 * _H,
}  # fmt: skip

_PARTIAL_DAY = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
_COMMENT = re.compile(r"\([^)]*\)")
_WEEKDAY = re.compile(r"^[^\W\d]+\.?,\s*")  # `Thu,` `Do.,` `jeu.,`: the day of the week says nothing
# The zone at the end of an RFC 822-like date: a name, a name with an offset, an offset, or an
# IANA name (`Europe/Berlin`).
_ZONE = re.compile(r"^(?P<main>.*?(?:\d|\b[AaPp]\.?[Mm]\.?))\s*(?P<zone>(?P<iana>[A-Za-z]+/[A-Za-z_+/-]+)|"
                   r"(?P<name>[A-Za-z]{1,5})?(?P<offset>[+-]\d{1,2}(?::?\d{2})?)?)\s*$")


class _Months(dateutil_parser.parserinfo):
    """English month names, and German ones: DW's own feeds are written in Bonn and Berlin."""

    MONTHS = [("Jan", "January", "Januar", "Jän"), ("Feb", "February", "Februar"),
              ("Mar", "March", "Mär", "Mrz", "März"), ("Apr", "April"), ("May", "Mai"),
              ("Jun", "June", "Juni"), ("Jul", "July", "Juli"), ("Aug", "August"),
              ("Sep", "Sept", "September"), ("Oct", "October", "Okt", "Oktober"),
              ("Nov", "November"), ("Dec", "December", "Dez", "Dezember")]


_PARSER = dateutil_parser.parser(_Months())


class UnknownZone(ValueError):
    """A date whose zone name is not in `ZONES`: its instant is unknown."""

    def __init__(self, zone: str, value: str):
        super().__init__(f"unknown time zone {zone!r} in {value!r}")
        self.zone = zone


@dataclass
class Reading:
    """What `newest` made of an entry's dates: the latest as UTC, and what it could not use."""

    stamp: str | None = None
    first: str | None = None  # the first usable date, in the order given
    unknown_zones: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    no_zone: int = 0


def _offset(text: str) -> int:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = (digits, "0") if len(digits) <= 2 else (digits[:-2], digits[-2:])
    return sign * (int(hours) * _H + int(minutes) * 60)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_stamp(value: str) -> tuple[str | None, bool]:
    """(`YYYY-MM-DDTHH:MM:SSZ` or a bare `YYYY-MM-DD`, whether the zone was missing).

    None when the text is not a date (an offset of a day or more, `+25:00`, `+2400`, is none);
    UnknownZone when its zone name is not known.
    """
    try:
        return _utc_stamp(value)
    except UnknownZone:
        raise
    except (ValueError, OverflowError):  # datetime's limits: a zone of ±24 h or more, year 0
        return None, False


def _utc_stamp(value: str) -> tuple[str | None, bool]:
    value = " ".join(_COMMENT.sub(" ", value).split())
    if not value:
        return None, False
    day = _PARTIAL_DAY.fullmatch(value)
    if day:
        return _valid_day(int(day[1]), int(day[2] or 1), int(day[3] or 1)), False
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return _rfc822(value)
    if moment.tzinfo is None:
        return _stamp(moment.replace(tzinfo=UTC)), True
    return _stamp(moment), False


def _rfc822(value: str) -> tuple[str | None, bool]:
    value = _WEEKDAY.sub("", value)
    m = _ZONE.match(value)
    main, zone = (m["main"], m["zone"]) if m else (value, "")
    tz = None
    if zone and m["iana"]:
        try:
            tz = ZoneInfo(m["iana"])
        except (ZoneInfoNotFoundError, ValueError):
            raise UnknownZone(m["iana"], value) from None
    elif zone:
        name, offset = (m["name"] or "").upper(), m["offset"]
        if name and name not in ZONES:
            raise UnknownZone(m["name"] + (offset or ""), value)
        seconds = (ZONES[name] if name else 0) + (_offset(offset) if offset else 0)
        tz = timezone(timedelta(seconds=seconds))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", dateutil_parser.UnknownTimezoneWarning)
            moment = _PARSER.parse(main, default=datetime(2000, 1, 1))
    except (ValueError, OverflowError, dateutil_parser.UnknownTimezoneWarning):
        return None, False
    if not re.search(r"\d{1,2}:\d{2}", main) and not re.search(r"\d{4}", main):
        return None, False  # "Monday" or "November" alone: dateutil would fill in the rest
    if moment.tzinfo is not None:
        return _stamp(moment), False
    if tz is None:
        return _stamp(moment.replace(tzinfo=UTC)), True
    return _stamp(moment.replace(tzinfo=tz)), False


def _sort_key(stamp: str) -> str:
    return stamp if len(stamp) > 10 else stamp + "T00:00:00Z"


def newest(values: Iterable[str | None]) -> Reading:
    """The latest of an entry's dates (sitemap `lastmod`, `news:publication_date`, `dc:date`,
    `pubDate`, Atom `updated`...), with the ones that could not be used."""
    reading = Reading()
    for value in values:
        if not value or not value.strip():
            continue
        try:
            stamp, no_zone = utc_stamp(value)
        except UnknownZone as exc:
            reading.unknown_zones.append(exc.zone)
            continue
        if stamp is None:
            reading.unreadable.append(value.strip()[:40])
            continue
        reading.no_zone += no_zone
        reading.first = reading.first or stamp
        if reading.stamp is None or _sort_key(stamp) > _sort_key(reading.stamp):
            reading.stamp = stamp
    return reading


def to_utc(value) -> str | None:
    """A date as `utc_stamp` reads it, or None: for what is not text, no date, or a date whose zone
    is unknown (never taken as UTC). A bare day stays a day."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return utc_stamp(value)[0]
    except UnknownZone:
        return None


# The shapes of an HTTP-date (RFC 9110 §5.6.7): a day, a month name, a year and a time of day,
# in IMF-fixdate or RFC 850 order (`06 Nov 1994 08:49:37`, `06-Nov-94 08:49:37`) then a zone,
# or asctime's (`Nov  6 08:49:37 1994`); a day name may come first. Leniently: one-digit days,
# no seconds, any zone or offset the reader above reads.
_HTTP_DATE = re.compile(
    r"(?:[A-Za-z]+,?\s+)?(?:\d{1,2}(?:\s+|-)[A-Za-z]{3,9}\.?(?:\s+|-)(?:\d{4}|\d{2})\s+"
    r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*[A-Za-z0-9:+-]{1,12})?"
    r"|[A-Za-z]{3,9}\s+\d{1,2}\s+\d{1,2}:\d{2}(?::\d{2})?\s+\d{4})", re.ASCII)


def http_date(value: str | bytes | None) -> datetime | None:
    """An HTTP-date (RFC 9110 §5.6.7: `Retry-After`, `Date`, `Last-Modified`) as an aware UTC
    datetime; None when the text is no full date and time (`12:00`, `Dec 2026`, `Sat, 05 Dec
    2026`, an ISO 8601 stamp), or names a zone not in `ZONES` (its instant is unknown).

    All three forms a recipient must accept: IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the
    obsolete RFC 850 form `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year in the last 50
    years or the next 50, as the RFC says) and asctime's `Sun Nov  6 08:49:37 1994` (GMT: it
    names no zone); and, leniently, any zone or offset the RFC 822 reader reads (`+0100`, `CET`).
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or not _HTTP_DATE.fullmatch(" ".join(value.split())):
        return None
    stamp = to_utc(value)
    if stamp is None or len(stamp) <= 10:  # a bare day is no HTTP-date
        return None
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


_DAY_FORMS = (
    re.compile(r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日$"),
)
_SLASH_DAY = re.compile(r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})$")


def printed_day(value, language: str | None) -> str | None:
    """A day printed on a page (`30.01.2024`, `06/14/2026`, `2026年10月29日`) as `YYYY-MM-DD`."""
    value = clean_text(value)
    if not value:
        return None
    for form in _DAY_FORMS:
        m = form.match(value)
        if m:
            return _valid_day(int(m["y"]), int(m["m"]), int(m["d"]))
    m = _SLASH_DAY.match(value)
    if m:
        a, b, year = int(m["a"]), int(m["b"]), int(m["y"])
        # English pages print month/day; the others day/month. A part over 12 settles it.
        month_first = (language == "en" and a <= 12) or b > 12
        return _valid_day(year, a, b) if month_first else _valid_day(year, b, a)
    return None


def _valid_day(year: int, month: int, day: int) -> str | None:
    """`YYYY-MM-DD`, or None when no calendar has that day (month 13, 30 February, year 0)."""
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


# A capture dated later than now by more than this is refused wherever capture dates are read
# (re-extraction's WARC-Date, backfill's capture times): clocks differ by seconds, not by more,
# and a fetch dated in the future would stay "the newest" for ever (no later fetch replaces it).
FUTURE_TOLERANCE = timedelta(minutes=10)


def in_the_future(fetched_at: str | None, now: datetime | None = None) -> bool:
    """Whether a capture's date (the archive's form, `2026-11-29T14:03:00Z`, or any form
    `utc_stamp` reads) is later than `now` (default: the clock) plus `FUTURE_TOLERANCE`.
    A date that cannot be read is not in the future (its reader judges it)."""
    stamp = to_utc(fetched_at)
    if not stamp or len(stamp) < 20:
        return False
    try:
        when = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return False
    return when > (now or datetime.now(UTC)) + FUTURE_TOLERANCE
