"""Fixtures of the report tests: the demo campaign in its own folder, real lockfiles, the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _support.reports import DEMO, Record, write_records


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo manifest (9 jobs, 20 credits, max_credits 30) in a folder of its own."""
    target = tmp_path / "demo.yaml"
    shutil.copy(DEMO, target)
    return target


@pytest.fixture
def record() -> Record:
    """:func:`write_records`, as a fixture."""
    return write_records
