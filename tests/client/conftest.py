"""Fixtures of the client's tests: scripted hosts for the API and for images, and fake time.

The hosts answer through ``httpx.MockTransport`` (no socket: milliseconds a test) unless the
test is marked ``sockets``: then they are real HTTP servers on 127.0.0.1, for what only
sockets show (resets, bodies cut short, connections, TLS, timeouts).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _support.client import FakeTime, Harness, MockNetwork, ScriptedServer, _Scripts


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sockets: the client's scripted hosts are real servers on 127.0.0.1"
    )


def _sockets(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("sockets") is not None


@pytest.fixture
def network() -> MockNetwork:
    """The hosts of a test without sockets."""
    return MockNetwork()


def _host(request: pytest.FixtureRequest, network: MockNetwork) -> Iterator[_Scripts]:
    host: _Scripts = ScriptedServer() if _sockets(request) else network.host()
    yield host
    host.close()


@pytest.fixture
def server(request: pytest.FixtureRequest, network: MockNetwork) -> Iterator[_Scripts]:
    """The API's origin."""
    yield from _host(request, network)


@pytest.fixture
def image_server(request: pytest.FixtureRequest, network: MockNetwork) -> Iterator[_Scripts]:
    """An image host on another origin (another port)."""
    yield from _host(request, network)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def harness(
    request: pytest.FixtureRequest, server: _Scripts, fake_time: FakeTime, network: MockNetwork
) -> Harness:
    return Harness(server, fake_time, transport=None if _sockets(request) else network.transport)
