"""Fixtures of the gallery tests: a campaign folder on disk and a real headless Chromium.

The browser is the system's Chromium (Debian's ``chromium`` package), driven by Playwright;
Playwright never downloads a browser of its own. When it is missing, the session installs it with
``apt-get install -y chromium`` (as root, or through passwordless ``sudo``) and fails, never
skips, when that does not work. ``SEEDANCE_CHROMIUM`` names another executable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


def _apt_prefix() -> list[str] | None:
    """How to run apt-get as root here: directly, through ``sudo -n``, or not at all."""
    if shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n"]
    return None


def install_chromium() -> str:
    """Install Debian's ``chromium`` with apt-get; what happened, for the failure message."""
    prefix = _apt_prefix()
    if prefix is None:
        return "cannot install it: apt-get needs root (or passwordless sudo) and is not available"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "chromium"]
    update = [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=300", "update"]
    log = []
    for command in (install, update, install):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        log.append(f"$ {' '.join(command)} -> {done.returncode}\n{done.stderr[-2000:]}")
        if command is install and done.returncode == 0:
            break
    return "\n".join(log)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium, installed with apt-get first if it is missing."""
    named = os.environ.get("SEEDANCE_CHROMIUM")
    if named and not os.access(named, os.X_OK):
        pytest.fail(f"SEEDANCE_CHROMIUM={named} is not an executable", pytrace=False)
    found = find_chromium()
    if found is None:
        report = install_chromium()
        found = find_chromium()
        if found is None:
            pytest.fail(
                "Chromium is needed for the gallery's browser tests and is not installed: "
                "install Debian's package with `apt-get install -y chromium` (or set "
                f"SEEDANCE_CHROMIUM to a Chromium executable).\n{report}",
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
