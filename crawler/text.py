"""Plain-text helpers shared by extraction, discovery and normalisation (dates: `crawler.dates`)."""

from __future__ import annotations

import html
import re
import unicodedata

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


def _zwsp(match: re.Match) -> str:
    return " " if " " in match.group(0) else "\u200b"


def _clean_line(value: str) -> str:
    # Text already clean (most of a page's) is kept as it is: with no character but the space
    # unprintable (str.isprintable is False for every other white space, U+200B and the dropped
    # characters) and no space doubled or at either end, split and join would give it back.
    if value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
        return value
    value = " ".join(value.split())
    if "\u200b" in value:
        value = _ZWSP_AT_SPACE.sub(_zwsp, value).strip(" \u200b")
    return value


# Texts cleaned lately, per mode, and what each became; a cleaned text is its own entry (cleaning
# is idempotent). An article's texts are cleaned by the source that reads them and again by the
# merge and the normaliser: those later cleanings are look-ups (the same string object: its
# hash is cached, and identity compares first). Emptied when full.
_CLEANED: tuple[dict[str, str | None], dict[str, str | None]] = ({}, {})
_CLEANED_MAX = 4096
_MISSING = object()


def forget_cleaned() -> None:
    """Empty the memory of texts cleaned lately (for benchmarks that time pages as met afresh)."""
    for cache in _CLEANED:
        cache.clear()


def clean_text(value, *, lines: bool = False) -> str | None:
    """NFC; the characters listed above dropped; every run of whitespace (NBSP, line breaks too)
    one space; trimmed; None when nothing is left.

    With `lines=True` a line break stays a line boundary: each line cleaned as above, empty
    lines left out, the lines joined by one `\\n` (a paragraph's `<br>`).
    """
    if not isinstance(value, str):
        return None
    cache = _CLEANED[lines]
    cleaned = cache.get(value, _MISSING)
    if cleaned is not _MISSING:
        return cleaned
    cleaned = _clean(value, lines)
    if len(cache) >= _CLEANED_MAX:
        cache.clear()
    cache[value] = cleaned
    if cleaned is not None:
        cache[cleaned] = cleaned
        if not lines:
            # One cleaned line holds no line break (all are white space), so cleaning it by
            # lines gives it back: the normaliser's `clean_body` then finds the paragraphs
            # that the readers cleaned as one line (most of them) instead of cleaning them again.
            lined = _CLEANED[True]
            if len(lined) >= _CLEANED_MAX:
                lined.clear()
            lined[cleaned] = cleaned
    return cleaned


def _clean(value: str, lines: bool) -> str | None:
    if not value.isascii():  # ASCII is NFC already and holds no character to drop
        value = _DROPPED.sub("", unicodedata.normalize("NFC", value))
    if lines:
        value = "\n".join(line for line in map(_clean_line, value.splitlines()) if line)
    else:
        value = _clean_line(value)
    return value or None


def unescaped(value) -> str | None:
    """A string from structured data (JSON-LD, page state) as a reader sees it: HTML entities
    (`&amp;`, `&#39;`) decoded once. Non-strings give None."""
    return html.unescape(value) if isinstance(value, str) else None
