"""Plain-text and date helpers shared by extraction, discovery and normalisation."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def clean_text(value) -> str | None:
    """NFC, zero-width characters removed, all whitespace (NBSP too) collapsed, trimmed."""
    if not isinstance(value, str):
        return None
    if not value.isascii():  # ASCII is NFC already and holds no invisible character
        value = _INVISIBLE.sub("", unicodedata.normalize("NFC", value))
    value = " ".join(value.split())
    return value or None


def to_utc(value) -> str | None:
    """An ISO 8601 or RFC 822 timestamp as UTC `YYYY-MM-DDTHH:MM:SSZ`; a bare day stays a day."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if _DAY.fullmatch(value):
        return value
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            stamp = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unescaped(value) -> str | None:
    """A string from structured data (JSON-LD, page state) as a reader sees it: HTML entities
    (`&amp;`, `&#39;`) decoded once. Non-strings give None."""
    return html.unescape(value) if isinstance(value, str) else None


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
    try:
        return datetime(year, month, day).strftime("%Y-%m-%d")
    except ValueError:
        return None
