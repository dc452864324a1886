"""Plain-text helpers shared by extraction, discovery and normalisation (dates: `crawler.dates`)."""

from __future__ import annotations

import html
import re
import unicodedata

_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def clean_text(value) -> str | None:
    """NFC, zero-width characters removed, all whitespace (NBSP too) collapsed, trimmed."""
    if not isinstance(value, str):
        return None
    if not value.isascii():  # ASCII is NFC already and holds no invisible character
        value = _INVISIBLE.sub("", unicodedata.normalize("NFC", value))
    value = " ".join(value.split())
    return value or None


def unescaped(value) -> str | None:
    """A string from structured data (JSON-LD, page state) as a reader sees it: HTML entities
    (`&amp;`, `&#39;`) decoded once. Non-strings give None."""
    return html.unescape(value) if isinstance(value, str) else None
