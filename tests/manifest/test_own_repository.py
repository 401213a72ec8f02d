"""init, schema and validate --strict for one's own repository, and every problem of a file
in one pass with hints that fit the mistake."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from seedance_batch._schemas import schema_text
from seedance_batch.cli import main

Write = Callable[..., Path]
Capture = pytest.CaptureFixture[str]
HEAD = "version: 1\nname: t\n"


def test_init_writes_a_starter_that_validates(tmp_path: Path, capsys: Capture) -> None:
    """init writes the manifest with its schema line, the schema, the .gitignore lines, and
    says the next step; the starter passes validate --strict."""
    (tmp_path / ".gitignore").write_text("node_modules/\n*.lock.json.journal", encoding="utf-8")
    assert main(["init", str(tmp_path / "camp")]) == 0
    out = capsys.readouterr().out
    manifest = tmp_path / "camp/campaign.yaml"
    assert manifest.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=manifest.schema.json"
    )
    assert (tmp_path / "camp/manifest.schema.json").read_text() == schema_text("manifest")
    assert (tmp_path / "camp/.gitignore").read_text().splitlines() == [
        "# seedance-batch",
        "*.lock.json.journal",
        "outputs/",
        ".thumbs/",
    ]
    assert f"next: edit {manifest}, then `seedance-batch validate {manifest}`" in out
    assert main(["validate", "--strict", str(manifest)]) == 0
    assert capsys.readouterr().out.startswith("ok camp: 4 jobs")
    assert main(["init", str(tmp_path)]) == 0  # an existing .gitignore gains what it lacks
    assert (tmp_path / ".gitignore").read_text().splitlines() == [
        "node_modules/",
        "*.lock.json.journal",
        "# seedance-batch",
        "outputs/",
        ".thumbs/",
    ]


def test_init_never_overwrites_a_file(tmp_path: Path, capsys: Capture) -> None:
    """With a campaign.yaml already there, init exits 2 naming it and writes nothing."""
    (tmp_path / "campaign.yaml").write_text("mine\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 2
    assert str(tmp_path / "campaign.yaml") in capsys.readouterr().err
    assert (tmp_path / "campaign.yaml").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["campaign.yaml"]


@pytest.mark.parametrize("name", ["manifest", "lockfile"])
def test_schema_prints_either_schema_with_an_id(name: str, capsys: Capture) -> None:
    """schema NAME prints the shipped schema, which has an $id."""
    assert main(["schema", name]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(schema_text(name))  # type: ignore[arg-type]
    assert printed["$id"].endswith(f"/{name}.schema.json")


def test_strict_makes_warnings_errors(write_manifest: Write, capsys: Capture) -> None:
    """An unknown model passes validate with a warning, and fails validate --strict (exit 2)."""
    path = write_manifest(HEAD + "jobs:\n  - {name: a, prompt: p, model: gpt-image-2-al}\n")
    assert main(["validate", str(path)]) == 0
    assert "warning: unknown model 'gpt-image-2-al'; did you mean" in capsys.readouterr().err
    assert main(["validate", "--strict", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "(an error with --strict)" in captured.err and "warning:" not in captured.err


def test_strict_checks_the_campaign_budget(write_manifest: Write, capsys: Capture) -> None:
    """A plan over budget.max_credits is exit 3 under --strict, as plan does; 0 without it."""
    path = write_manifest(
        HEAD + "budget: {max_credits: 2}\njobs:\n  - {name: a, prompt: p, n: 2}\n"
    )
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()
    assert main(["validate", "--strict", str(path)]) == 3
    assert "budget exceeded: 0 credits spent and 4 to spend, max_credits is 2" in (
        capsys.readouterr().err
    )


def test_every_problem_of_a_file_in_one_pass(write_manifest: Write, capsys: Capture) -> None:
    """The schema's, the placeholders', the include/exclude keys' and the API rules' problems
    of one file come in one run of validate, in file order, with their hints (the size rule
    too for a job that has another problem, and so is not expanded)."""
    path = write_manifest(
        'version: "1"\nname: t\nvars: {brand: Lumen}\njobs:\n'
        "  - name: a\n    prompt: 'A jar by {brnd}'\n    n: 3\n"  # 6: placeholder, 7: schema
        "  - name: b\n    prompt: '{colour}'\n    resolution: 4k\n    size: 1024x1024\n"
        "    matrix: {colour: [red]}\n    exclude: [{color: red}]\n"  # 11: rules, 13: key
        "  - name: c\n    prompt: p\n    description: yes\n",  # 16: a YAML boolean
    )
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"{path}:1:10", "version"],
        [f"{path}:3:8", "vars.brand"],  # no prompt names it: {brnd} misspells it
        [f"{path}:6:13", "jobs[0].prompt"],
        [f"{path}:7:8", "jobs[0].n"],
        [f"{path}:11:11", "jobs[1].size"],
        [f"{path}:13:16", "jobs[1].exclude[0].color"],
        [f"{path}:16:18", "jobs[2].description"],
    ]
    assert "expected the integer 1, got the string '1'" in lines[0]
    assert "placeholder {brnd} has no value" in lines[2] and "did you mean 'brand'?" in lines[2]
    assert "pixel size '1024x1024' is not allowed at 4k" in lines[4]
    assert "'color' is not an axis of this job's matrix; did you mean 'colour'?" in lines[5]
    assert "YAML reads yes, no, on, off, true and false as booleans" in lines[6]


def test_the_ratio_hint_only_where_a_ratio_was_meant(
    write_manifest: Write, capsys: Capture
) -> None:
    """A number for a size gets the quote-ratios hint; a number for a description does not."""
    path = write_manifest(HEAD + "jobs:\n  - {name: a, prompt: p, size: 1:1, description: 12}\n")
    assert main(["validate", str(path)]) == 2
    size, description = capsys.readouterr().err.splitlines()  # in file order
    assert "jobs[0].size" in size and "quote ratios" in size
    assert "jobs[0].description" in description and "quote ratios" not in description
