"""Markers for the whole suite, set by what a test needs, so that ``make test-fast`` can leave out
what is slow: ``browser`` (a real headless Chromium) and ``slow`` (real processes started and
killed, waits on real time, whole campaigns over the simulator, hypothesis at scale).

``make test`` runs everything; ``make test-fast`` runs ``-m "not slow and not browser"``.
A module is slow by its folder or by name below; a test may also say ``@pytest.mark.slow``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support.browser import chromium_or_fail, launched_browser

TESTS = Path(__file__).resolve().parent

#: Folders whose every test runs a campaign end to end (the CLI as a process, the simulator).
SLOW_FOLDERS = frozenset({"run", "ci"})
#: Modules elsewhere that start processes, wait on real time or search widely with hypothesis.
SLOW_MODULES = frozenset(
    {
        "cli/test_broken_streams.py",
        "cli/test_bug_and_interrupt.py",
        "cli/test_commands.py",
        "lockfile/test_lockfile_journal.py",
        "lockfile/test_lockfile_processes.py",
        "manifest/test_limits.py",
        "manifest/test_properties.py",
        "reports/test_budget_reports.py",
        "reports/test_status_files.py",
        "simulator/test_sim_concurrency.py",
        "test_fast_paths.py",
    }
)
BROWSER_FIXTURES = frozenset({"browser", "chromium_path"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        where = Path(str(item.path)).resolve().relative_to(TESTS)
        if where.parts[0] in SLOW_FOLDERS or where.as_posix() in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium; the tests fail, saying how to install it, when it is missing."""
    return chromium_or_fail()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in the main
    # thread while it is open, and asyncio.run() in later test modules would refuse to start.
    """A headless Chromium for one test module (Playwright, the system's executable)."""
    with launched_browser(chromium_path) as launched:
        yield launched
