"""Properties of the expansion: determinism, counts, independence from formatting, credits."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedance_batch import load_manifest, plan
from seedance_batch._rules import CREDITS_PER_IMAGE

WORDS = st.text(alphabet="abcdefghij klm", min_size=1, max_size=8).map(str.strip).filter(bool)
SIZES_1K = ["1:1", "4:5", "16:9", "9:16"]
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """Random valid manifests with free axes, field axes, excludes, includes and repeats."""
    jobs = []
    for index in range(draw(st.integers(1, 3))):
        axis_names = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True))
        matrix: dict[str, list[Any]] = {
            name: draw(st.lists(WORDS, min_size=1, max_size=3, unique=True)) for name in axis_names
        }
        if draw(st.booleans()):
            matrix["size"] = draw(st.lists(st.sampled_from(SIZES_1K), min_size=1, unique=True))
        if draw(st.booleans()):
            matrix["n"] = draw(st.lists(st.sampled_from([1, 2, 4]), min_size=1, unique=True))
        prompt = f"job {index} " + " ".join(f"{{{name}}}" for name in axis_names)
        job: dict[str, Any] = {"name": f"job-{index}", "prompt": prompt}
        if matrix:
            job["matrix"] = matrix
        if matrix and draw(st.booleans()):
            axis = draw(st.sampled_from(sorted(matrix)))
            job["exclude"] = [{axis: draw(st.sampled_from(matrix[axis]))}]
        if axis_names and draw(st.booleans()):
            job["include"] = [{name: f"extra {name}" for name in axis_names}]
        job["repeat"] = draw(st.integers(1, 3))
        job["resolution"] = draw(st.sampled_from(["1k", "4k"]))
        jobs.append(job)
    return {"version": 1, "name": "prop", "defaults": {"model": "gpt-image-2-all"}, "jobs": jobs}


def _write(tmp_path: Path, data: dict[str, Any], name: str, **style: Any) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, **style))
    return path


def _shuffled(value: Any, rng: random.Random, keep_order: bool = False) -> Any:
    """The same document with mapping keys reordered (never the order of matrix axes)."""
    if isinstance(value, dict):
        items = [(k, _shuffled(v, rng, keep_order=(k == "matrix"))) for k, v in value.items()]
        if not keep_order:
            rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@SETTINGS
@given(data=manifests())
def test_expansion_is_deterministic(tmp_path: Path, data: dict[str, Any]) -> None:
    """Planning the same manifest twice gives the same jobs in the same order."""
    path = _write(tmp_path, data, "m.yaml")
    first = plan(load_manifest(path))
    second = plan(load_manifest(path))
    assert first.jobs == second.jobs


@SETTINGS
@given(data=manifests())
def test_job_count_is_product_minus_excluded_plus_included(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    """Jobs = (product - excluded + included) x repeat, for manifests without duplicates."""
    expected = 0
    for job in data["jobs"]:
        matrix = job.get("matrix", {})
        combos = [
            dict(zip(matrix, pick, strict=True)) for pick in itertools.product(*matrix.values())
        ]
        excluded = [
            c
            for c in combos
            if any(all(c[k] == v for k, v in e.items()) for e in job.get("exclude", []))
        ]
        expected += (len(combos) - len(excluded) + len(job.get("include", []))) * job["repeat"]
    result = plan(load_manifest(_write(tmp_path, data, "m.yaml")))
    assert not result.warnings  # prompts carry the job index and values: no duplicates
    assert result.totals.jobs == len(result.jobs) == expected


@SETTINGS
@given(data=manifests(), seed=st.integers(0, 2**16))
def test_ids_ignore_key_order_and_yaml_style(
    tmp_path: Path, data: dict[str, Any], seed: int
) -> None:
    """Reordered mapping keys and flow or block YAML give the same ids in the same order."""
    block = plan(load_manifest(_write(tmp_path, data, "block.yaml")))
    shuffled = _shuffled(data, random.Random(seed))
    flow = plan(load_manifest(_write(tmp_path, shuffled, "flow.yaml", default_flow_style=True)))
    quoted = plan(load_manifest(_write(tmp_path, shuffled, "quoted.yaml", default_style='"')))
    assert [j.id for j in block.jobs] == [j.id for j in flow.jobs] == [j.id for j in quoted.jobs]


@SETTINGS
@given(data=manifests())
def test_credits_add_up(tmp_path: Path, data: dict[str, Any]) -> None:
    """Each job costs n x price of its resolution; totals and breakdowns sum the jobs."""
    result = plan(load_manifest(_write(tmp_path, data, "m.yaml")))
    for job in result.jobs:
        assert job.credits == job.images * CREDITS_PER_IMAGE[job.resolution]
        assert job.images == job.request.get("n", 1)
    totals = result.totals
    assert totals.credits == sum(j.credits for j in result.jobs)
    assert totals.credits == sum(totals.by_model.values()) == sum(totals.by_resolution.values())
    assert totals.images == sum(j.images for j in result.jobs)
    assert totals.credits_to_spend == totals.credits
