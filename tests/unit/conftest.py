"""Fixtures the unit tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A private copy of the shipped templates, named `templates` like the real folder."""
    return Path(shutil.copytree(SHIPPED_TEMPLATES, tmp_path / "templates"))
