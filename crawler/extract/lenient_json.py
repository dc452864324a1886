"""JSON as pages embed it, read as browsers' consumers read it: raw control characters inside
strings, a wrapping HTML comment or CDATA section, a trailing semicolon, trailing commas, and
backslashes before characters JSON does not escape (`\\'`)."""

from __future__ import annotations

import json
import re

# strict=False lets raw control characters (a newline, a tab) stand inside strings.
DECODER = json.JSONDecoder(strict=False)
_WRAPPERS = re.compile(r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)?\s*;?\s*$")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
# A backslash pair, or a backslash before a character JSON does not escape.
_ESCAPE = re.compile(r'\\(\\|[^"\\/bfnrtu])')


def _repaired(text: str) -> str:
    text = _ESCAPE.sub(lambda m: m[0] if m[1] == "\\" else m[1], text)
    return _TRAILING_COMMA.sub(r"\1", text)


def loads(raw: str):
    """The value of a JSON text with the slips above; raises ValueError when it cannot be read."""
    text = (raw or "").strip()
    if text.startswith(("<", "//")) or text.endswith((">", ";")):
        text = _WRAPPERS.sub("", text).strip()
    try:
        return DECODER.decode(text)
    except ValueError as first_error:
        # Repairs are only tried after a failure, since their patterns can match in strings.
        try:
            return DECODER.decode(_repaired(text))
        except ValueError:
            raise first_error from None


def value_at(text: str, start: int):
    """The JSON value beginning at `start` (after any whitespace) in `text`; ValueError if none."""
    while start < len(text) and text[start].isspace():
        start += 1
    return DECODER.raw_decode(text, start)[0]
