"""Limits and hostile inputs: each refused with one line at its place, exit 2, fast and small."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from seedance_batch import ManifestError, load_manifest

Write = Callable[..., Path]
HEAD = "version: 1\nname: t\n"
ONE_LINE = re.compile(r"^[^\n]+:\d+:\d+: [^\n]+$|^[^\n:]+: [^\n]+$")


def validate(path: Path | str) -> subprocess.CompletedProcess[str]:
    """``python -m seedance_batch validate PATH`` as a real process (stdin closed)."""
    return subprocess.run(
        [sys.executable, "-m", "seedance_batch", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )


def refused(path: Path | str) -> str:
    """Validate ``path`` through the command line: exit 2 and exactly one line; return it."""
    done = validate(path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert ONE_LINE.match(lines[0]), lines[0]
    return lines[0]


def problems(path: Path | str) -> list[str]:
    """The library's diagnostics for ``path`` (it must be refused)."""
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return [str(d) for d in caught.value.diagnostics]


def axes_manifest(axes: int, values: int, name: str = "big") -> str:
    """A job whose matrix has ``axes`` axes of ``values`` values: values**axes jobs."""
    lines = [f"version: 1\nname: {name}\njobs:\n  - name: one\n    prompt: hi"]
    prompt = " ".join(f"{{a{i}}}" for i in range(axes))
    lines.append(f'  - name: grid\n    prompt: "{prompt}"\n    matrix:')
    for i in range(axes):
        lines.append(f"      a{i}: [{', '.join(f'v{j}' for j in range(values))}]")
    return "\n".join(lines) + "\n"


def alias_bomb() -> str:
    """Nine levels of ten aliases: 10^9 nodes once expanded, 100 lines of text."""
    lines = [HEAD.rstrip("\n"), "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    lines.append("jobs: [{name: a, prompt: hi}]")
    return "\n".join(lines) + "\n"


def _child_peak_mb(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``args`` in a fresh child (via a wrapper, so RUSAGE_CHILDREN is its own)."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "e = time.perf_counter() - t\n"
        "m = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(p.stderr)\n"
        "print(e, m, p.returncode)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], capture_output=True, text=True, timeout=60
    )
    elapsed, peak, _code = done.stdout.split()
    return float(elapsed), float(peak), done


def test_more_than_a_million_jobs_is_refused_at_the_job_that_crosses(write_manifest: Write) -> None:
    """1 + 1000x1000 jobs: the second job crosses 1,000,000 and is named; 1,000,000 pass."""
    path = write_manifest(axes_manifest(2, 1000))
    (line,) = problems(path)
    assert line.startswith(f"{path}:6:5: jobs[1]: ") and "1,000,001 jobs" in line
    assert "more than 1,000,000" in line
    exact = write_manifest(axes_manifest(2, 1000).replace("  - name: one\n    prompt: hi\n", ""))
    assert load_manifest(exact).jobs[0].name == "grid"


def test_a_hundred_million_jobs_are_refused_fast_and_small(write_manifest: Write) -> None:
    """10^8 jobs are counted from the axis sizes: refused within 2 s and 300 MB, one line."""
    path = write_manifest(axes_manifest(8, 10))
    started = time.perf_counter()
    (line,) = problems(path)
    assert time.perf_counter() - started < 2.0
    assert "100,000,001 jobs" in line
    elapsed, peak, done = _child_peak_mb(
        [sys.executable, "-m", "seedance_batch", "validate", str(path)]
    )
    assert "jobs[1]" in done.stderr and peak < 300, (elapsed, peak)
    assert refused(path).startswith(f"{path}:6:5: jobs[1]: ")


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses(write_manifest: Write) -> None:
    """A billion-laughs document is refused at the alias passing 10^7 nodes, fast and small."""
    path = write_manifest(alias_bomb())
    started = time.perf_counter()
    (line,) = problems(path)
    assert time.perf_counter() - started < 2.0
    assert line.startswith(f"{path}:9:45: x6[7]: the document expands past 10,000,000 nodes")
    assert "alias *a5" in line
    elapsed, peak, done = _child_peak_mb(
        [sys.executable, "-m", "seedance_batch", "validate", str(path)]
    )
    assert "alias *a5" in done.stderr and peak < 300, (elapsed, peak)
    assert refused(path) == line


def test_aliases_within_the_limits_still_work(write_manifest: Write) -> None:
    """Anchors, aliases and merge keys of an ordinary manifest load as YAML defines them."""
    path = write_manifest(
        HEAD
        + "defaults: &d {model: gpt-image-2-all, size: '1:1'}\n"
        + "jobs:\n  - {name: a, prompt: hi, <<: *d}\n  - {name: b, prompt: ho, n: 2}\n"
    )
    assert load_manifest(path).jobs[0].fields["model"] == "gpt-image-2-all"


@pytest.mark.parametrize(
    ("placeholder", "words"),
    [
        ("{x!r}", "placeholder {x!r} has a conversion or a format spec"),
        ("{x:>10}", "placeholder {x:>10} has a conversion or a format spec"),
        ("{x!s:^3}", "placeholder {x!s:^3} has a conversion or a format spec"),
        ("{x.real}", "placeholder {x.real} is not a plain name"),
        ("{x[0]}", "placeholder {x[0]} is not a plain name"),
    ],
)
def test_only_plain_placeholders(write_manifest: Write, placeholder: str, words: str) -> None:
    """Conversions, format specs, attributes and indexes are refused, naming the placeholder."""
    path = write_manifest(
        HEAD + f'jobs:\n  - name: a\n    prompt: "A {placeholder} {{x}}"\n    matrix: {{x: [1]}}\n'
    )
    line = refused(path)
    assert line.startswith(f"{path}:5:13: jobs[0].prompt: {words}")


def _hostile(write_manifest: Write, case: str) -> Path:
    job = "jobs: [{name: a, prompt: hi}]\n"
    texts = {
        "surrogate": HEAD + 'jobs:\n  - name: a\n    prompt: "lone \\ud800 half"\n',
        "self-alias": HEAD + "x: &a [*a]\n" + job,
        "deep": HEAD + "x: " + "[" * 1000 + "]" * 1000 + "\n" + job,
        "nan": HEAD + "execution: {requests_per_second: .nan}\n" + job,
        "inf": HEAD + "execution: {poll_interval: .inf}\n" + job,
        "negative-inf": HEAD + "execution: {poll_max: -.inf}\n" + job,
        "control-in-path": HEAD + 'output: {dir: "out\\0put"}\n' + job,
        "newline-in-path": HEAD + 'output: {dir: "out\\nput"}\n' + job,
    }
    return write_manifest(texts[case])


@pytest.mark.parametrize(
    ("case", "where", "words"),
    [
        ("surrogate", ":5:13: jobs[0].prompt: ", "lone surrogate \\ud800"),
        ("self-alias", ":3:8: x[0]: ", "alias *a refers to a node that contains it"),
        ("deep", ":3:", "nested deeper than 100 levels"),
        ("nan", ":3:34: execution.requests_per_second: ", ".nan is not a finite number"),
        ("inf", ":3:28: execution.poll_interval: ", ".inf is not a finite number"),
        ("negative-inf", ":3:23: execution.poll_max: ", "-.inf is not a finite number"),
        ("control-in-path", ":3:15: output.dir: ", "holds a control character"),
        ("newline-in-path", ":3:15: output.dir: ", "holds a control character"),
    ],
)
def test_inputs_that_crashed_get_one_line(
    write_manifest: Write, case: str, where: str, words: str
) -> None:
    """Each hostile value is one line at its place (library and command line), exit 2."""
    path = _hostile(write_manifest, case)
    lines = problems(path)
    assert len(lines) == 1 and lines[0].startswith(f"{path}{where}") and words in lines[0]
    assert refused(path) == lines[0]


def test_a_manifest_over_10_mb_is_refused_before_reading(tmp_path: Path) -> None:
    """A manifest past 10 MB: one line with its size, no position, exit 2."""
    path = tmp_path / "huge.yaml"
    path.write_text(HEAD + "# " + "x" * (10 * 1024 * 1024) + "\njobs: [{name: a, prompt: hi}]\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: ") and "more than a manifest may hold (10 MB)" in line
    assert refused(path) == line


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_no_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """A FIFO (no writer), /dev/zero and a folder are refused at once, never read or waited on."""
    path: Path
    if kind == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    else:
        path = tmp_path
    started = time.perf_counter()
    (line,) = problems(path)
    assert time.perf_counter() - started < 1.0
    assert line.startswith(f"{path}: cannot read: ")
    assert refused(path) == line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2**20  # KB: nothing was slurped
