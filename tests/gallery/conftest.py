"""Fixtures of the gallery tests: a campaign folder on disk and a real headless Chromium.

The browser is the system's Chromium (Debian's ``chromium`` package), driven by Playwright;
Playwright never downloads a browser of its own. No fixture installs anything: ``make test``
installs it when it is missing (``.ci/install-chromium``); without it these tests fail, never
skip, saying how to install it. ``SEEDANCE_CHROMIUM`` names another executable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _support.gallery import ARTIFACTS, AWKWARD_DIR, DEMO, Campaign, build_campaign


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` at the repository's root (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """manifests/demo.yaml as a run leaves it: one job failed, one pending, one orphan."""
    out = tmp_path_factory.mktemp("gallery") / AWKWARD_DIR
    return build_campaign(DEMO, out, fail=[2], pending=[6], with_orphan=True)
