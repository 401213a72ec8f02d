"""Fixtures of the gallery tests: a campaign folder on disk and a real headless Chromium.

The browser is the system's Chromium (Debian's ``chromium`` package), driven by Playwright;
Playwright never downloads a browser of its own. No fixture installs anything: ``make test``
installs it when it is missing (``.ci/install-chromium``); without it these tests fail, never
skip, saying how to install it. ``SEEDANCE_CHROMIUM`` names another executable.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gallery_helpers import ARTIFACTS, AWKWARD_DIR, DEMO, Campaign, build_campaign

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def find_chromium() -> str | None:
    """The Chromium executable: ``SEEDANCE_CHROMIUM``, /usr/bin/chromium, or one on PATH."""
    named = os.environ.get("SEEDANCE_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium; the tests fail, saying how to install it, when it is missing."""
    named = os.environ.get("SEEDANCE_CHROMIUM")
    if named and not os.access(named, os.X_OK):
        pytest.fail(f"SEEDANCE_CHROMIUM={named} is not an executable", pytrace=False)
    found = find_chromium()
    if found is None:
        pytest.fail(
            "Chromium is needed for the gallery's browser tests and is not installed: "
            "`make browser` installs Debian's package (or `apt-get install -y chromium`, or set "
            "SEEDANCE_CHROMIUM to a Chromium executable)",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in the main
    # thread while it is open, and asyncio.run() in later test modules would refuse to start.
    """A headless Chromium for one test module (Playwright, the system's executable)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


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
