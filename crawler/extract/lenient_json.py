"""JSON as pages embed it, read as browsers' consumers read it: raw control characters inside
strings, a wrapping HTML comment or CDATA section, a trailing semicolon, trailing commas, and
backslashes before characters JSON does not escape (`\\'`). A `\\uD83D` escape that is half of
no surrogate pair (a string cut by a CMS mid-emoji) decodes to a lone surrogate, which no UTF-8
text can hold: every string read here has them replaced by U+FFFD, and counted in `warnings`
(as `replacement_characters`, like bytes a page's charset could not decode) when given."""

from __future__ import annotations

import json
import re

# strict=False lets raw control characters (a newline, a tab) stand inside strings.
DECODER = json.JSONDecoder(strict=False)
_WRAPPERS = re.compile(r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)?\s*;?\s*$")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
# A backslash pair, or a backslash before a character JSON does not escape.
_ESCAPE = re.compile(r'\\(\\|[^"\\/bfnrtu])')


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # a pair was joined by the decoder: these are lone


def _without_lone_surrogates(value, replaced: list[int]):
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            value, n = _LONE_SURROGATE.subn("\ufffd", value)
            replaced[0] += n
        return value
    if isinstance(value, list):
        return [_without_lone_surrogates(v, replaced) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k, replaced): _without_lone_surrogates(v, replaced)
                for k, v in value.items()}
    return value


# What a JSON text holding a lone surrogate must contain: a `\uD800`-`\uDFFF` escape, or such a
# character itself (only a text given as `str` can: one decoded from bytes never does). Values
# of a text without either (nearly all) are not walked one by one.
_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _may_hold_surrogates(text: str, start: int, end: int, raw: bool) -> bool:
    return bool(_SURROGATE_ESCAPE.search(text, start, end) or (raw and _SURROGATE.search(text, start, end)))


def _clean(value, warnings: list | None):
    replaced = [0]
    value = _without_lone_surrogates(value, replaced)
    if replaced[0] and warnings is not None:
        warnings.append(("replacement_characters",
                         f"{replaced[0]} lone surrogate escapes in JSON replaced by U+FFFD"))
    return value


def _repaired(text: str) -> str:
    text = _ESCAPE.sub(lambda m: m[0] if m[1] == "\\" else m[1], text)
    return _TRAILING_COMMA.sub(r"\1", text)


def loads(raw: str, warnings: list | None = None, *, surrogates: bool = True):
    """The value of a JSON text with the slips above; raises ValueError when it cannot be read
    (also when it nests deeper than Python's recursion goes).
    Lone surrogates replaced, counted in `warnings` ((kind, detail) pairs) when given.
    `surrogates=False`: `raw` holds no surrogate code point itself (it was decoded from bytes);
    its escapes are still read."""
    try:
        value = _loads(raw)
        raw = raw or ""
        return _clean(value, warnings) if _may_hold_surrogates(raw, 0, len(raw), surrogates) else value
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def _loads(raw: str):
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


def value_at(text: str, start: int, warnings: list | None = None, *, surrogates: bool = True):
    """The JSON value beginning at `start` (after any whitespace) in `text`; ValueError if none
    (or nested too deeply).
    Lone surrogates replaced, counted in `warnings` when given (as `loads`, `surrogates` too)."""
    while start < len(text) and text[start].isspace():
        start += 1
    try:
        value, end = DECODER.raw_decode(text, start)
        return _clean(value, warnings) if _may_hold_surrogates(text, start, end, surrogates) else value
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
