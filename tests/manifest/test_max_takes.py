"""budget.max_takes: how many takes a reroll may give a job, 3 unless the manifest says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seedance_batch._errors import ManifestError
from seedance_batch._manifest import DEFAULT_MAX_TAKES, load_manifest

HEAD = "version: 1\nname: takes\n"
JOBS = "jobs:\n  - {name: a, prompt: p}\n"


def test_max_takes_defaults_to_three(write_manifest: Callable[[str], Path]) -> None:
    """A manifest without budget.max_takes (or without budget) allows 3 takes per job."""
    assert DEFAULT_MAX_TAKES == 3
    assert load_manifest(write_manifest(HEAD + JOBS)).max_takes == 3
    with_credits = HEAD + "budget: {max_credits: 10}\n" + JOBS
    assert load_manifest(write_manifest(with_credits)).max_takes == 3


@pytest.mark.parametrize("value", [1, 2, 99])
def test_max_takes_is_read(write_manifest: Callable[[str], Path], value: int) -> None:
    """budget.max_takes from 1 to 99 is the manifest's max_takes."""
    text = HEAD + f"budget: {{max_takes: {value}}}\n" + JOBS
    assert load_manifest(write_manifest(text)).max_takes == value


@pytest.mark.parametrize("value", ["0", "100", "2.5", "'3'", "true"])
def test_a_bad_max_takes_is_one_line_at_its_place(
    write_manifest: Callable[[str], Path], value: str
) -> None:
    """0, 100 (file names hold takes up to 99), a fraction, a string or a boolean is refused,
    naming budget.max_takes at its line."""
    path = write_manifest(HEAD + f"budget:\n  max_takes: {value}\n" + JOBS)
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    [problem] = raised.value.diagnostics
    assert (problem.line, problem.path) == (4, "budget.max_takes")
