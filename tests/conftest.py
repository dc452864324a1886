"""Shared fixtures: paths to the project's saved pages and to `../shared/` when present."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "pages"
SHARED = ROOT.parent / "shared"
REAL_PAGES = SHARED / "dw" / "pages"
SEED_TEXT = SHARED / "seed" / "dw-article-a-16825046.txt"


def needs_shared(path: Path):
    """Skip a test cleanly where `../shared/` (or the part it needs) is absent."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is not here")
