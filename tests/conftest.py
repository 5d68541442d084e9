"""Shared fixtures: the benchmark data in ../shared/data (or $AUTORL_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_DATA = REPO.parent / "shared" / "data"

if "AUTORL_DATA" not in os.environ and _DEFAULT_DATA.is_dir():
    os.environ["AUTORL_DATA"] = str(_DEFAULT_DATA)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding the benchmark target files; skips when it is absent."""
    path = Path(os.environ.get("AUTORL_DATA", _DEFAULT_DATA))
    if not (path / "rfam_taneda.txt").is_file():
        pytest.skip(f"benchmark data not found in {path} (set AUTORL_DATA)")
    return path
