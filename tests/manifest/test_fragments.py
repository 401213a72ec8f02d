"""Shared fragments: ``extends`` merges a brand kit's sections key by key under the manifest's,
and every problem in a fragment points into its file, naming the line that brought it in."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedance_batch import ManifestError, load_manifest, plan

MANIFEST = """version: 1
name: t
extends: {extends}
defaults: {{n: 1}}
jobs:
  - name: hero
    prompt: "A jar by {{brand}}"
"""


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def _errors(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path))
    return [str(d) for d in caught.value.diagnostics]


def test_the_manifest_wins_key_by_key_and_later_fragments_win(tmp_path: Path) -> None:
    """A three-level chain and a list: per key, the manifest over later over earlier fragments,
    a fragment over what it extends; a fragment's defaults are sent."""
    _write(
        tmp_path,
        {
            "kit/base.yaml": "defaults: {model: gpt-image-1.5-all, size: '1:1'}\n"
            "vars: {brand: Base}\nexecution: {concurrency: 2, max_attempts: 5}\n",
            "kit/lumen.yaml": "extends: base.yaml\ndefaults: {resolution: 1k, n: 2}\n"
            "vars: {brand: Lumen}\nbudget: {max_credits: 100}\n",
            "kit/spring.yaml": "execution: {concurrency: 6}\noutput: {dir: out/spring}\n",
            "camp/m.yaml": MANIFEST.format(extends="[../kit/lumen.yaml, ../kit/spring.yaml]"),
        },
    )
    manifest = load_manifest(tmp_path / "camp/m.yaml")
    (job,) = plan(manifest).jobs
    assert job.request == {
        "model": "gpt-image-1.5-all",
        "n": 1,
        "prompt": "A jar by Lumen",
        "resolution": "1k",
        "size": "1:1",
    }
    assert (manifest.execution.concurrency, manifest.execution.max_attempts) == (6, 5)
    assert manifest.max_credits == 100
    assert manifest.output_dir == tmp_path / "camp/out/spring"


def test_problems_point_into_the_fragment_in_one_pass(tmp_path: Path) -> None:
    """A fragment's schema errors, its forbidden keys and the manifest's own problems are
    reported together, each at its file's line and column with the line that brought it in."""
    _write(
        tmp_path,
        {
            "kit.yaml": "name: kit\ndefaults: {n: 3}\n",
            "m.yaml": MANIFEST.format(extends="kit.yaml").replace("{brand}", "{brnd}"),
        },
    )
    via = f"(brought in by {tmp_path / 'm.yaml'}:3:10: extends)"
    kit = tmp_path / "kit.yaml"
    assert _errors(tmp_path / "m.yaml") == [
        f"{kit}:1:1: name: a fragment holds no 'name': only defaults, vars, execution, budget, "
        f"output, delivery and extends (the manifest that extends it has the rest) {via}",
        f"{kit}:2:15: defaults.n: 3 is not one of 1, 2, 4 {via}",
    ]


def test_a_fragment_value_the_planner_refuses_points_into_the_fragment(tmp_path: Path) -> None:
    """A size a fragment sets and the resolution refuses is reported in the fragment."""
    _write(
        tmp_path,
        {
            "kit.yaml": "defaults: {resolution: 4k, size: 1024x1024}\nvars: {brand: Lumen}\n",
            "m.yaml": MANIFEST.format(extends="kit.yaml"),
        },
    )
    (error,) = _errors(tmp_path / "m.yaml")
    assert error.startswith(f"{tmp_path / 'kit.yaml'}:1:34: defaults.size: pixel size")
    assert error.endswith(f"(brought in by {tmp_path / 'm.yaml'}:3:10: extends)")


def test_a_cycle_is_an_error_at_the_entry_that_closes_it(tmp_path: Path) -> None:
    """a -> b -> a: one error at b's extends entry, naming the loop."""
    _write(
        tmp_path,
        {
            "a.yaml": "extends: b.yaml\nvars: {brand: A}\n",
            "b.yaml": "vars: {other: 1}\nextends: [a.yaml]\n",
            "m.yaml": MANIFEST.format(extends="a.yaml"),
        },
    )
    (error,) = _errors(tmp_path / "m.yaml")
    assert error.startswith(
        f"{tmp_path / 'b.yaml'}:2:11: extends[0]: extends 'a.yaml' again: a cycle "
        "(a.yaml -> b.yaml -> a.yaml)"
    )


def test_a_missing_fragment_is_one_line(tmp_path: Path) -> None:
    """A fragment that cannot be read names its path and the manifest line."""
    _write(tmp_path, {"m.yaml": MANIFEST.format(extends="nope.yaml")})
    (error,) = _errors(tmp_path / "m.yaml")
    assert error.startswith(f"{tmp_path / 'nope.yaml'}: cannot read: No such file")


def test_a_fragments_unused_vars_are_no_error(tmp_path: Path) -> None:
    """A kit's vars serve many manifests: one that no prompt here names is fine; the manifest's
    own unused var is still an error."""
    _write(
        tmp_path,
        {
            "kit.yaml": "vars: {brand: Lumen, tagline: glow}\n",
            "m.yaml": MANIFEST.format(extends="kit.yaml"),
        },
    )
    assert len(plan(load_manifest(tmp_path / "m.yaml")).jobs) == 1
    text = MANIFEST.format(extends="kit.yaml") + "vars: {mine: 1}\n"
    (tmp_path / "m.yaml").write_text(text, encoding="utf-8")
    (error,) = _errors(tmp_path / "m.yaml")
    assert "vars.mine: variable 'mine' is not named by any prompt" in error
