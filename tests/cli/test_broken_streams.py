"""Printing never changes a run: with stderr closed, full or a broken pipe, the run against the
simulator completes and its exit code says so; a broken stdout ends a report quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, Variants, serve

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-streams-5b2e9a0c1d"

#: Eight jobs of two images each, delivered one short each: a warning per job, spread in time.
NOISY = """
version: 1
name: noisy
defaults: {model: gpt-image-2-all, n: 2}
execution: {concurrency: 2, requests_per_second: 200, poll_interval: 0.05, poll_max: 0.2}
jobs:
  - name: shot
    prompt: "A {thing} on a table"
    matrix:
      thing: [cup, jug, bowl, vase, lamp, book, clock, shell]
"""

#: 600 jobs: a plan whose JSON is far longer than a pipe's buffer.
A_VALUES = ", ".join(f"a{i}" for i in range(30))
B_VALUES = ", ".join(f"b{i}" for i in range(20))
LARGE = f"""
version: 1
name: large
defaults: {{model: gpt-image-2-all}}
jobs:
  - name: grid
    prompt: "A {{a}} beside a {{b}}"
    matrix:
      a: [{A_VALUES}]
      b: [{B_VALUES}]
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
    env["SEEDANCE_API_KEY"] = KEY
    return env


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "noisy.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _shell(command: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in bash with ``$PY`` the interpreter and the given variables."""
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env={**_env(), "PY": sys.executable, **variables},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def _assert_all_succeeded(manifest: Path) -> None:
    snapshot = read_lockfile(manifest.with_name(manifest.stem + ".lock.json"))
    assert snapshot is not None
    assert {r.state for r in snapshot.jobs.values()} == {"succeeded"}


SHORT = SimulatorConfig(seed=91, latency=(0.0, 0.3), variants=Variants(short_delivery_rate=1.0))


@pytest.mark.parametrize(
    "redirect",
    ["2>&-", "2>/dev/full", "2>&1 | head -1 >/dev/null"],
    ids=["stderr-closed", "stderr-full", "stderr-broken-pipe"],
)
def test_a_run_with_a_broken_stderr_completes_and_exits_0(tmp_path: Path, redirect: str) -> None:
    """stderr closed, full, or a pipe whose reader left after one line: every job succeeds, each
    is created once, the exit code is 0, and nothing meant for stderr lands on stdout."""
    manifest = _manifest(tmp_path, NOISY)
    with serve(SHORT) as sim:
        done = _shell(
            f'"$PY" -m seedance_batch run "$M" --base-url "$U" {redirect}; '
            'echo "exit=${PIPESTATUS[0]}"',
            M=str(manifest),
            U=sim.base_url,
        )
        counters = sim.counters
    assert done.stdout.strip().splitlines()[-1] == "exit=0", done.stdout + done.stderr
    assert done.stdout.strip().splitlines() == ["exit=0"], done.stdout
    assert "Traceback" not in done.stderr
    assert counters.creates == 8
    _assert_all_succeeded(manifest)


def test_a_failed_run_with_a_full_stderr_still_exits_1(tmp_path: Path) -> None:
    """With stderr full, a run whose tasks all fail still says so by its exit code (1)."""
    manifest = _manifest(tmp_path, NOISY)
    with serve(SimulatorConfig(seed=92, fail_rate=1.0)) as sim:
        done = _shell(
            '"$PY" -m seedance_batch run "$M" --base-url "$U" 2>/dev/full; echo "exit=$?"',
            M=str(manifest),
            U=sim.base_url,
        )
    assert done.stdout.strip() == "exit=1", done.stdout + done.stderr


def test_plan_json_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`plan --format json | head -1` on a plan larger than the pipe: exit 0, nothing on stderr."""
    manifest = _manifest(tmp_path, LARGE)
    done = _shell(
        '"$PY" -m seedance_batch plan "$M" --format json | head -c 10 >/dev/null; '
        'echo "exit=${PIPESTATUS[0]}" >&2',
        M=str(manifest),
    )
    assert done.stderr == "exit=0\n", done.stderr


def test_plan_json_onto_a_full_disk_is_an_error(tmp_path: Path) -> None:
    """`plan --format json >/dev/full`: the report is not cut silently: one line, exit 1."""
    manifest = _manifest(tmp_path, LARGE)
    done = _shell('"$PY" -m seedance_batch plan "$M" --format json >/dev/full', M=str(manifest))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("seedance-batch: error: <stdout>: cannot write")
    assert len(done.stderr.splitlines()) == 1
