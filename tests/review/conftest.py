"""Fixtures of the review tests: one campaign run against the simulator, a copy of it per test,
a review server over that copy, and a real headless Chromium (the system's, via Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _support.review import ARTIFACTS, Campaign, run_campaign

from seedance_batch.review import ReviewServer, serve


@pytest.fixture(scope="session")
def ran_campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """The test manifest, run once to the end against the simulator."""
    return run_campaign(tmp_path_factory.mktemp("review") / "campaign")


@pytest.fixture
def campaign(ran_campaign: Campaign, tmp_path: Path) -> Campaign:
    """A copy of the campaign of this test alone (its own review file and thumbnails)."""
    return ran_campaign.copy(tmp_path / "campaign")


@pytest.fixture
def server(campaign: Campaign) -> Iterator[ReviewServer]:
    """A review server over the test's campaign, on 127.0.0.1 and a free port."""
    with serve(ReviewServer(campaign.manifest, by="Ada Tester")) as running:
        yield running


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` at the repository's root (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
