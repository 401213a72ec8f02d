from __future__ import annotations

from pathlib import Path

import pytest
from _support.campaign import CAMPAIGN, Campaign


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """The standard test campaign in its own folder."""
    made = Campaign(tmp_path, tmp_path / "campaign.yaml")
    made.write(CAMPAIGN)
    return made
