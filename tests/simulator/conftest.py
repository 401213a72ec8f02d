"""Fixtures of the simulator's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from seedance_batch.simulator import Simulator, SimulatorConfig, serve


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator with the defaults: no faults, no latency, unlimited credits."""
    with serve(SimulatorConfig()) as simulator:
        yield simulator
