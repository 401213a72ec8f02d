"""The system's Chromium under Playwright, for the tests that open pages in a real browser.

Debian's ``chromium`` package, driven by Playwright; Playwright never downloads a browser of its
own. No fixture installs anything: ``make test`` installs it when it is missing
(``.ci/install-chromium``). ``SEEDANCE_CHROMIUM`` names another executable.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

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


def chromium_or_fail() -> str:
    """The Chromium executable, or the test fails saying how to install it (never skips)."""
    named = os.environ.get("SEEDANCE_CHROMIUM")
    if named and not os.access(named, os.X_OK):
        pytest.fail(f"SEEDANCE_CHROMIUM={named} is not an executable", pytrace=False)
    found = find_chromium()
    if found is None:
        pytest.fail(
            "Chromium is needed for the browser tests and is not installed: `make browser` "
            "installs Debian's package (or `apt-get install -y chromium`, or set "
            "SEEDANCE_CHROMIUM to a Chromium executable)",
            pytrace=False,
        )
    return found


@contextmanager
def launched_browser(executable: str) -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API) for as long as the block lasts."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
