"""Fixtures of the client's tests: a scripted server for the API, another for image hosts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from client_support import FakeTime, Harness, ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """The API's origin."""
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def image_server() -> Iterator[ScriptedServer]:
    """An image host on another origin (another port)."""
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def harness(server: ScriptedServer, fake_time: FakeTime) -> Harness:
    return Harness(server, fake_time)
