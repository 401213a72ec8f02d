"""The delivery tests' campaign: run once per module against the simulator, copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.delivery import Campaign, run_campaign


@pytest.fixture(scope="module")
def ran_campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """The test manifest, run once per module to the end against the simulator."""
    return run_campaign(tmp_path_factory.mktemp("delivery") / "campaign")


@pytest.fixture
def campaign(ran_campaign: Campaign, tmp_path: Path) -> Campaign:
    """A copy of the campaign for this test alone (its own review file and deliveries)."""
    return ran_campaign.copy(tmp_path / "campaign")
