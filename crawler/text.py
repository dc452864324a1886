"""Plain-text and date helpers shared by extraction, discovery and normalisation."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Characters dropped from stored text, each for a reason (the README's "Text as stored" lists
# them): none is a letter, none marks a word or line boundary, so dropping one never joins or
# splits a word.
#   U+00AD soft hyphen: a place where a word may be hyphenated at a line end; the word is the
#          word without it (and it would split the word for search).
#   U+2060 word joiner, U+FEFF zero-width no-break space / byte-order mark: "no line break
#          here" between characters that are joined anyway; U+FEFF mostly a byte-order mark
#          left at the start of pasted text.
# Kept, because they carry meaning: U+200C ZWNJ and U+200D ZWJ (the Persian, Urdu, Pashto, Dari
# half-space; Bengali, Hindi conjunct forms; emoji sequences), the direction marks and isolates
# (U+200E, U+200F, U+061C, U+202A-U+202E, U+2066-U+2069: editors place them so that mixed
# right-to-left and left-to-right text shows in its order), and U+200B zero-width space between
# two characters (an invisible word boundary: dropping it would join two words). A zero-width
# space next to a space or at either end marks no boundary that is not there anyway: dropped.
_DROPPED = re.compile("[\u00ad\u2060\ufeff]")
_ZWSP_AT_SPACE = re.compile(" ?\u200b[\u200b ]*")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _zwsp(match: re.Match) -> str:
    return " " if " " in match.group(0) else "\u200b"


def _clean_line(value: str) -> str:
    value = " ".join(value.split())
    if "\u200b" in value:
        value = _ZWSP_AT_SPACE.sub(_zwsp, value).strip(" \u200b")
    return value


def clean_text(value, *, lines: bool = False) -> str | None:
    """NFC; the characters listed above dropped; every run of whitespace (NBSP, line breaks too)
    one space; trimmed; None when nothing is left.

    With `lines=True` a line break stays a line boundary: each line cleaned as above, empty
    lines left out, the lines joined by one `\\n` (a paragraph's `<br>`).
    """
    if not isinstance(value, str):
        return None
    if not value.isascii():  # ASCII is NFC already and holds no character to drop
        value = _DROPPED.sub("", unicodedata.normalize("NFC", value))
    if lines:
        value = "\n".join(line for line in map(_clean_line, value.splitlines()) if line)
    else:
        value = _clean_line(value)
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
