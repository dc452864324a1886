"""placeholder"""
from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import version
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent
# What decides an article's stored content: the extractor, DW knowledge, the normaliser.
_EXTRACTOR_SOURCES = ("crawler/extract*", "crawler/dw*", "crawler/text*", "pipelines/normalize*")


@cache
def extractor_version() -> str:
    """`<package version>+<12 hex digits of the extractor's and normaliser's source>`."""
    digest = hashlib.sha256()
    for pattern in _EXTRACTOR_SOURCES:
        for path in sorted(_ROOT.glob(pattern)):
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for file in files:
                if file.suffix == ".py":
                    digest.update(file.relative_to(_ROOT).as_posix().encode())
                    digest.update(file.read_bytes())
    return f"{version('dw-archive')}+{digest.hexdigest()[:12]}"
