"""Every bad manifest gets one line per problem, at the exact line and column, in file order."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from seedance_batch import ManifestError, load_manifest, plan

HEAD = "version: 1\nname: t\n"

# (id, manifest text, [(line, col, path, words in the message)]) -- the first problem listed
# first; every problem must be reported.
CASES: list[tuple[str, str, list[tuple[int, int, str, str]]]] = [
    ("empty-file", "", [(1, 1, "", "the file is empty")]),
    ("only-comments", "# nothing here\n", [(1, 1, "", "the file is empty")]),
    ("list-at-top", "- a\n- b\n", [(1, 1, "", "a manifest is a mapping")]),
    ("scalar-at-top", "hello\n", [(1, 1, "", "a manifest is a mapping")]),
    (
        "broken-yaml",
        HEAD + "jobs: [\n",
        [(4, 1, "", "invalid YAML")],
    ),
    (
        "tab-indent",
        HEAD + "jobs:\n\t- name: a\n",
        [(4, 1, "", "tab character")],
    ),
    (
        "unclosed-quote",
        HEAD + 'jobs:\n  - name: a\n    prompt: "open\n',
        [(5, 13, "", "this quote is never closed")],
    ),
    ("missing-version", "name: t\njobs: [{name: a, prompt: p}]\n", [(1, 1, "", "'version'")]),
    ("missing-jobs", HEAD, [(1, 1, "", "missing required field 'jobs'")]),
    (
        "wrong-version",
        "version: 2\nname: t\njobs: [{name: a, prompt: p}]\n",
        [(1, 10, "version", "unsupported version 2")],
    ),
    (
        "bad-name",
        "version: 1\nname: Big Name\njobs: [{name: a, prompt: p}]\n",
        [(2, 7, "name", "is not a valid name")],
    ),
    ("empty-jobs", HEAD + "jobs: []\n", [(3, 7, "jobs", "must not be empty")]),
    ("jobs-mapping", HEAD + "jobs: {a: 1}\n", [(3, 7, "jobs", "expected a list")]),
    (
        "unknown-top-key",
        HEAD + "colour: red\njobs: [{name: a, prompt: p}]\n",
        [(3, 1, "colour", "unknown field 'colour'")],
    ),
    (
        "unknown-job-key-suggests",
        HEAD + "jobs:\n  - name: a\n    promt: p\n",
        [(5, 5, "jobs[0].promt", "did you mean 'prompt'")],
    ),
    (
        "job-missing-name",
        HEAD + "jobs:\n  - prompt: p\n",
        [(4, 5, "jobs[0]", "missing required field 'name'")],
    ),
    (
        "job-missing-prompt",
        HEAD + "jobs:\n  - name: a\n",
        [(4, 5, "jobs[0]", "'prompt' (or 'prompts')")],
    ),
    (
        "prompt-and-prompts",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    prompts: {x: q}\n",
        [(6, 5, "jobs[0].prompts", "either 'prompt' or 'prompts'")],
    ),
    (
        "n-three",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    n: 3\n",
        [(6, 8, "jobs[0].n", "3 is not one of 1, 2, 4")],
    ),
    (
        "n-string",
        HEAD + 'jobs:\n  - name: a\n    prompt: p\n    n: "2"\n',
        [(6, 8, "jobs[0].n", "expected an integer, got the string '2'")],
    ),
    (
        "n-float",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    n: 2.0\n",
        [(6, 8, "jobs[0].n", "expected an integer")],
    ),
    (
        "n-bool",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    n: true\n",
        [(6, 8, "jobs[0].n", "got the boolean true")],
    ),
    (
        "bare-ratio-is-a-number",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    size: 1:1\n",
        [(6, 11, "jobs[0].size", "quote ratios")],
    ),
    (
        "bad-resolution",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    resolution: 8k\n",
        [(6, 17, "jobs[0].resolution", "use 1k or 4k")],
    ),
    (
        "repeat-zero",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    repeat: 0\n",
        [(6, 13, "jobs[0].repeat", "must be at least 1")],
    ),
    (
        "duplicate-job-name",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n  - name: a\n    prompt: q\n",
        [(6, 11, "jobs[1].name", "already used by jobs[0]")],
    ),
    (
        "duplicate-yaml-key",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    prompt: q\n",
        [(6, 5, "jobs[0].prompt", "duplicate key 'prompt'")],
    ),
    (
        "placeholder-without-value",
        HEAD + "jobs:\n  - name: a\n    prompt: 'a {thing}'\n",
        [(5, 13, "jobs[0].prompt", "placeholder {thing} has no value")],
    ),
    (
        "unused-axis",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    matrix:\n      colour: [red]\n",
        [(7, 7, "jobs[0].matrix.colour", "not named by any prompt")],
    ),
    (
        "unused-manifest-var",
        HEAD + "vars: {brand: X}\njobs:\n  - name: a\n    prompt: p\n",
        [(3, 8, "vars.brand", "not named by any prompt")],
    ),
    (
        "unused-job-var",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    vars: {x: 1}\n",
        [(6, 12, "jobs[0].vars.x", "not named by any prompt of the job")],
    ),
    (
        "bad-placeholder-syntax",
        HEAD + "jobs:\n  - name: a\n    prompt: 'a {brace'\n",
        [(5, 13, "jobs[0].prompt", "bad placeholder syntax")],
    ),
    (
        "attribute-placeholder",
        HEAD + "jobs:\n  - name: a\n    prompt: 'x {a.b}'\n",
        [(5, 13, "jobs[0].prompt", "not a plain name")],
    ),
    (
        "exclude-unknown-key",
        HEAD
        + "jobs:\n  - name: a\n    prompt: '{c}'\n    matrix: {c: [r]}\n"
        + "    exclude:\n      - {colour: r}\n",
        [(8, 10, "jobs[0].exclude[0].colour", "not an axis")],
    ),
    (
        "include-unknown-key",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    include:\n      - {colour: r}\n",
        [(7, 10, "jobs[0].include[0].colour", "neither an axis")],
    ),
    (
        "include-unknown-variant",
        HEAD + "jobs:\n  - name: a\n    prompts: {x: p}\n    include:\n      - {prompt: y}\n",
        [(7, 18, "jobs[0].include[0].prompt", "'y' is not a prompt variant")],
    ),
    (
        "size-pixels-at-4k",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    resolution: 4k\n    size: 1024x1024\n",
        [(7, 11, "jobs[0].size", "pixel size '1024x1024' is not allowed at 4k")],
    ),
    (
        "size-not-a-preset-at-4k-in-axis",
        HEAD
        + "jobs:\n  - name: a\n    prompt: p\n    resolution: 4k\n"
        + '    matrix:\n      size: ["1:1", "7:5"]\n',
        [(8, 21, "jobs[0].matrix.size[1]", "'7:5' is not a 4k preset")],
    ),
    (
        "size-garbage",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    size: huge\n",
        [(6, 11, "jobs[0].size", "'huge' is not a size")],
    ),
    (
        "output-dir-escapes",
        HEAD + "output: {dir: ../../etc}\njobs:\n  - name: a\n    prompt: p\n",
        [(3, 15, "output.dir", "leaves the manifest's folder")],
    ),
    (
        "execution-zero",
        HEAD + "execution: {concurrency: 0, poll_interval: -1}\njobs: [{name: a, prompt: p}]\n",
        [
            (3, 26, "execution.concurrency", "must be at least 1"),
            (3, 44, "execution.poll_interval", "must be greater than 0"),
        ],
    ),
    (
        "several-errors-in-file-order",
        HEAD
        + "jobs:\n  - name: a\n    prompt: p\n    n: 5\n  - name: B\n    prompt: q\n"
        + "    repeat: x\n",
        [
            (6, 8, "jobs[0].n", "5 is not one of"),
            (7, 11, "jobs[1].name", "not a valid name"),
            (9, 13, "jobs[1].repeat", "expected an integer"),
        ],
    ),
    (
        "matrix-axis-empty",
        HEAD + "jobs:\n  - name: a\n    prompt: '{c}'\n    matrix:\n      c: []\n",
        [(7, 10, "jobs[0].matrix.c", "must not be empty")],
    ),
    (
        "matrix-axis-named-prompt",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    matrix:\n      prompt: [x]\n",
        [(7, 7, "jobs[0].matrix.prompt", "cannot be a matrix axis")],
    ),
    (
        "key-not-a-string",
        HEAD + "jobs:\n  - name: a\n    prompt: p\n    1: x\n",
        [(6, 5, "jobs[0]", "must be a string")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_manifest_reports_exact_positions(
    write_manifest: Callable[[str], Path], text: str, expected: list[tuple[int, int, str, str]]
) -> None:
    """A bad manifest raises ManifestError with each problem at its exact line, column, path."""
    path = write_manifest(text)
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path))
    errors = [d for d in caught.value.diagnostics if d.severity == "error"]
    assert len(errors) == len(expected), [str(d) for d in errors]
    for diagnostic, (line, col, where, words) in zip(errors, expected, strict=True):
        assert (diagnostic.line, diagnostic.col, diagnostic.path) == (line, col, where), str(
            diagnostic
        )
        assert words in diagnostic.message
        assert diagnostic.file == str(path)


def test_there_are_at_least_thirty_bad_manifests() -> None:
    """The table of bad manifests keeps at least thirty cases, each with a distinct id."""
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_diagnostic_line_format(write_manifest: Callable[[str], Path]) -> None:
    """A diagnostic prints as FILE:LINE:COL: PATH: message."""
    path = write_manifest(HEAD + "jobs:\n  - name: a\n    prompt: p\n    n: 3\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value) == f"{path}:6:8: jobs[0].n: 3 is not one of 1, 2, 4"


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    """A manifest that cannot be read is a ManifestError naming the file."""
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "nope.yaml")
    assert "nope.yaml: cannot read: No such file or directory" in str(caught.value)


def test_not_utf8_points_at_the_byte(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported at their line and column."""
    path = tmp_path / "m.yaml"
    path.write_bytes(b"version: 1\nname: \xff\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.col) == (2, 7)


@pytest.mark.parametrize("case", ["broken-yaml", "n-three", "empty-file", "tab-indent"])
def test_cli_prints_one_line_per_error_and_exits_2(
    write_manifest: Callable[[str], Path], case: str
) -> None:
    """`validate` on a bad manifest prints only diagnostic lines to stderr, exit 2, no traceback."""
    text, expected = next(c[1:] for c in CASES if c[0] == case)
    path = write_manifest(text)
    done = subprocess.run(
        [sys.executable, "-m", "seedance_batch", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == len(expected)
    line, col, _where, words = expected[0]
    assert lines[0].startswith(f"{path}:{line}:{col}: ")
    assert words in lines[0]
    assert "Traceback" not in done.stderr
