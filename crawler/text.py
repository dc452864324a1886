"""Plain-text and date helpers shared by extraction, discovery and normalisation."""

from __future__ import annotations

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
