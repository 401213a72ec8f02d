"""Named values: a matrix axis as a mapping of names to values; names in paths, labels and
include/exclude, values in prompts and requests, and names never in the job's id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seedance_batch import ManifestError, load_manifest, plan

Write = Callable[..., Path]
LONG = "a white Carrara marble slab with soft grey veins, lit from the left by a large softbox"
HEAD = "version: 1\nname: t\njobs:\n  - name: hero\n    prompt: 'A jar on {surface}'\n"


def _named(names: tuple[str, str] = ("marble", "oak")) -> str:
    return (
        HEAD
        + "    matrix:\n      surface:\n"
        + f"        {names[0]}: {LONG}\n        {names[1]}: a light oak table\n"
        + "      size: {square: '1:1', tall: '4:5'}\n"
    )


def test_names_go_to_paths_and_labels_values_to_prompts(write_manifest: Write) -> None:
    """The variant and the folder carry the names; the prompt and the body the values."""
    jobs = plan(load_manifest(write_manifest(_named()))).jobs
    first = jobs[0]
    assert dict(first.variant) == {"surface": "marble", "size": "square"}
    assert first.request == {"prompt": f"A jar on {LONG}", "size": "1:1"}
    assert first.output == f"hero/marble_square-{first.id[:8]}"
    assert [dict(j.variant) for j in jobs[1:]] == [
        {"surface": "marble", "size": "tall"},
        {"surface": "oak", "size": "square"},
        {"surface": "oak", "size": "tall"},
    ]


def test_names_never_change_ids(write_manifest: Write) -> None:
    """Renaming a value, or writing the axis as a list of the same values, keeps every id."""
    named = plan(load_manifest(write_manifest(_named()))).jobs
    renamed = plan(load_manifest(write_manifest(_named(("carrara", "wood"))))).jobs
    listed = plan(
        load_manifest(
            write_manifest(
                HEAD
                + f"    matrix:\n      surface: ['{LONG}', a light oak table]\n"
                + "      size: ['1:1', '4:5']\n"
            )
        )
    ).jobs
    assert [j.id for j in named] == [j.id for j in renamed] == [j.id for j in listed]


def test_include_and_exclude_match_names(write_manifest: Write) -> None:
    """``exclude`` drops by name; ``include`` takes a name and sends its value."""
    text = _named() + "    exclude: [{surface: oak}]\n    include: [{surface: oak, size: tall}]\n"
    jobs = plan(load_manifest(write_manifest(text))).jobs
    assert [dict(j.variant) for j in jobs] == [
        {"surface": "marble", "size": "square"},
        {"surface": "marble", "size": "tall"},
        {"surface": "oak", "size": "tall"},
    ]
    assert jobs[-1].request == {"prompt": "A jar on a light oak table", "size": "4:5"}


def test_an_unknown_name_in_include_suggests_the_near_one(write_manifest: Write) -> None:
    """A name the axis does not have is an error at the entry, with a "did you mean"."""
    path = write_manifest(_named() + "    include: [{surface: marbel}]\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    (error,) = caught.value.diagnostics
    assert (error.line, error.path) == (11, "jobs[0].include[0].surface")
    assert "'marbel' is not a name of axis 'surface'; did you mean 'marble'?" in error.message


def test_a_named_size_is_checked_at_its_value(write_manifest: Write) -> None:
    """The API's rules apply to the value, reported where the value is written."""
    text = HEAD + "    resolution: 4k\n    matrix:\n      surface: {oak: wood}\n"
    text += "      size: {odd: '7:5'}\n"
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(write_manifest(text)))
    (error,) = caught.value.diagnostics
    assert (error.line, error.col, error.path) == (9, 19, "jobs[0].matrix.size.odd")
    assert "'7:5' is not a 4k preset" in error.message
