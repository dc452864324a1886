"""`clean_text`'s shortcuts (issue 24) change nothing: generated text of every kind, whatever was
cleaned before it, cleans as the plain definition below (the rules of `crawler.text` before
the shortcuts, kept here) cleans it."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.text import clean_text, forget_cleaned

_DROPPED = re.compile("[\u00ad\u2060\ufeff]")
_ZWSP_AT_SPACE = re.compile(" ?\u200b[\u200b ]*")


def _line(value: str) -> str:
    value = " ".join(value.split())
    if "\u200b" in value:
        value = _ZWSP_AT_SPACE.sub(lambda m: " " if " " in m.group(0) else "\u200b", value).strip(" \u200b")
    return value


def defined(value: str, lines: bool = False) -> str | None:
    """`clean_text` as first written: no fast path, no memory."""
    if not value.isascii():
        value = _DROPPED.sub("", unicodedata.normalize("NFC", value))
    if lines:
        value = "\n".join(line for line in map(_line, value.splitlines()) if line)
    else:
        value = _line(value)
    return value or None


# Every white space and line boundary Python knows, the characters dropped or kept for a reason,
# combining marks (NFC), and ordinary letters of a few scripts.
SPECIAL = (" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f"
           "\u205f\u3000\u200b\u200c\u200d\u200e\u200f\u00ad\u2060\ufeff\u0301\u0308\u064b"
           "\u202e\u2066\x00\x7f")
TEXT = st.text(alphabet=st.sampled_from(SPECIAL) | st.sampled_from("aZé e\u0301ß日本ع") |
               st.characters(), max_size=60)


@settings(max_examples=600, deadline=None)
@given(TEXT, st.booleans())
def test_clean_text_is_its_definition(value, lines):
    forget_cleaned()
    assert clean_text(value, lines=lines) == defined(value, lines)
    assert clean_text(value, lines=lines) == defined(value, lines)  # remembered


@settings(max_examples=600, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4), st.lists(st.booleans(), min_size=1, max_size=4))
def test_what_was_cleaned_before_changes_no_later_cleaning(values, modes):
    """A text cleaned as one line, and then that result (or any other text) cleaned by lines,
    as the readers and the normaliser's `clean_body` clean a paragraph."""
    forget_cleaned()
    for value, lines in zip(values, modes * 4, strict=False):
        once = clean_text(value, lines=lines)
        assert once == defined(value, lines)
        if once is not None:
            assert clean_text(once, lines=True) == defined(once, True)
            assert clean_text(once, lines=False) == defined(once, False)


def test_a_clean_line_is_kept_as_the_same_text():
    for value in ("Olaf Scholz said on Monday", "عربي نص", "Ein Satz\u200bmit Leerzeichen", "x"):
        assert clean_text(value) == value == defined(value)
    for value in (" lead", "trail ", "two  spaces", "a\u00a0b", "tab\there", "soft\u00adhyphen"):
        assert clean_text(value) == defined(value) != value
