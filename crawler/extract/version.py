"""Which extractor read a page: a version that changes whenever the code deciding an article's
content changes (stored with each article as `extractor_version`; re-extraction resumes only
under the same one)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import version
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
# What decides an article's stored content: the extractor, DW knowledge, the normaliser, the
# date reader, the fields.
_EXTRACTOR_SOURCES = ("crawler/extract*", "crawler/dw*", "crawler/text*", "crawler/dates*", "crawler/items*")


@cache
def extractor_version() -> str:
    """`<package version>+<12 hex digits of the extractor's and normaliser's source>`.

    Any change to the code that decides an article's content changes it; no one has to
    remember to bump a number.
    """
    digest = hashlib.sha256()
    for pattern in _EXTRACTOR_SOURCES:
        for path in sorted(_ROOT.glob(pattern)):
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                if file.suffix == ".py":
                    digest.update(file.relative_to(_ROOT).as_posix().encode())
                    digest.update(file.read_bytes())
    return f"{version('dw-archive')}+{digest.hexdigest()[:12]}"
