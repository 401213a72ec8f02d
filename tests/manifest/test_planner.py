"""The planner: order, ids, the request mapping, credits, duplicates, warnings and subsets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from seedance_batch import load_manifest, plan
from seedance_batch._layout import image_relpath, job_dir, slug_room, variant_slug
from seedance_batch._planner import canonical_json, job_id

ROOT = Path(__file__).resolve().parents[2]
Write = Callable[..., Path]

CONTRACT_EXAMPLE = """
version: 1
name: spring-skincare
defaults:
  model: gpt-image-2-all
  resolution: 1k
  size: "1:1"
  n: 1
vars:
  brand: Lumen
jobs:
  - name: hero
    prompt: "A {product} bottle by {brand} on a warm beige pedestal, {light}"
    matrix:
      product: [serum, night cream]
      light: [studio light, golden hour]
      size: ["1:1", "4:5", "16:9"]
    exclude:
      - {product: night cream, size: "16:9"}
    include:
      - {product: toner, light: studio light, size: "9:16"}
    n: 2
  - name: watch-macro
    prompts:
      front: "A luxury watch macro photo, crisp metal details, dramatic reflections"
      side: "A luxury watch seen from the side, brushed steel, dark studio"
    resolution: 4k
    matrix:
      size: ["1:1", "21:9"]
    repeat: 2
"""


def test_contract_example_expands_in_the_contracts_order(write_manifest: Write) -> None:
    """Product order last-axis-fastest, exclude drops, include appends, repeats follow."""
    result = plan(load_manifest(write_manifest(CONTRACT_EXAMPLE)))
    hero = [j for j in result.jobs if j.job == "hero"]
    assert [tuple(j.variant.values()) for j in hero] == [
        ("serum", "studio light", "1:1"),
        ("serum", "studio light", "4:5"),
        ("serum", "studio light", "16:9"),
        ("serum", "golden hour", "1:1"),
        ("serum", "golden hour", "4:5"),
        ("serum", "golden hour", "16:9"),
        ("night cream", "studio light", "1:1"),
        ("night cream", "studio light", "4:5"),
        ("night cream", "golden hour", "1:1"),
        ("night cream", "golden hour", "4:5"),
        ("toner", "studio light", "9:16"),
    ]
    watch = [(j.variant["prompt"], j.variant["size"], j.repeat) for j in result.jobs[11:]]
    assert watch == [
        ("front", "1:1", 0), ("front", "1:1", 1), ("front", "21:9", 0), ("front", "21:9", 1),
        ("side", "1:1", 0), ("side", "1:1", 1), ("side", "21:9", 0), ("side", "21:9", 1),
    ]  # fmt: skip
    assert result.totals.jobs == 19
    assert result.totals.credits == 11 * 2 * 2 + 8 * 4


def test_request_mapping_at_1k_sends_size_and_set_fields_only(write_manifest: Write) -> None:
    """At 1K the body has size; resolution only when set; unset fields are not sent."""
    text = """
    version: 1
    name: t
    jobs:
      - {name: a, prompt: plain}
      - {name: b, prompt: sized, size: "16:9"}
      - {name: c, prompt: explicit, size: "4:5", resolution: 1K, n: 2, model: gpt-image-1.5-all}
      - {name: d, prompt: provider, provider: seedance}
    """
    jobs = plan(load_manifest(write_manifest(text))).jobs
    assert [dict(j.request) for j in jobs] == [
        {"prompt": "plain"},
        {"prompt": "sized", "size": "16:9"},
        {
            "prompt": "explicit",
            "model": "gpt-image-1.5-all",
            "n": 2,
            "resolution": "1k",
            "size": "4:5",
        },
        {"prompt": "provider", "provider": "seedance"},
    ]


def test_request_mapping_at_4k_sends_preset_never_size(write_manifest: Write) -> None:
    """At 4K the body has resolution 4k and imageSizePreset (none without a size), never size."""
    text = """
    version: 1
    name: t
    jobs:
      - {name: a, prompt: big, resolution: 4K, size: "21:9"}
      - {name: b, prompt: bare, resolution: 4k}
    """
    jobs = plan(load_manifest(write_manifest(text))).jobs
    assert dict(jobs[0].request) == {"prompt": "big", "resolution": "4k", "imageSizePreset": "21:9"}
    assert dict(jobs[1].request) == {"prompt": "bare", "resolution": "4k"}
    assert [j.credits for j in jobs] == [4, 4]


def test_defaults_are_sent_and_a_jobs_field_replaces_the_default_whole(
    write_manifest: Write,
) -> None:
    """Fields in defaults are sent; a job's own vars replace the defaults' vars entirely."""
    text = """
    version: 1
    name: t
    defaults: {model: gpt-image-2-all, n: 2, vars: {a: x, b: y}}
    jobs:
      - {name: one, prompt: "{a} {b}"}
      - {name: two, prompt: "{c}", vars: {c: z}, n: 1}
    """
    one, two = plan(load_manifest(write_manifest(text))).jobs
    assert dict(one.request) == {"prompt": "x y", "model": "gpt-image-2-all", "n": 2}
    assert dict(two.request) == {"prompt": "z", "model": "gpt-image-2-all", "n": 1}


def test_variables_resolve_combination_then_job_then_manifest(write_manifest: Write) -> None:
    """A placeholder takes the combination's value, else the job's vars, else the manifest's."""
    text = """
    version: 1
    name: t
    vars: {a: manifest, b: manifest, c: manifest}
    jobs:
      - name: j
        prompt: "{a}/{b}/{c} {{literal}}"
        vars: {a: job, b: job}
        matrix: {a: [axis]}
    """
    (job,) = plan(load_manifest(write_manifest(text))).jobs
    assert job.request["prompt"] == "axis/job/manifest {literal}"


def test_id_is_sha256_of_canonical_request_and_repeat(write_manifest: Write) -> None:
    """The id is the first 16 hex of SHA-256 over canonical {"request", "repeat"} JSON."""
    text = 'version: 1\nname: t\njobs:\n  - {name: a, prompt: "café ☕", repeat: 2}\n'
    jobs = plan(load_manifest(write_manifest(text))).jobs
    for job in jobs:
        canonical = json.dumps(
            {"request": {"prompt": "café ☕"}, "repeat": job.repeat},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert "café ☕" in canonical
        assert job.id == hashlib.sha256(canonical.encode()).hexdigest()[:16]
        assert job.id == job_id(job.request, job.repeat)
        assert job.body == canonical_json(job.request)
    assert jobs[0].id != jobs[1].id


def test_duplicate_request_is_planned_once_with_a_warning(write_manifest: Write) -> None:
    """The same request and repeat twice is planned once; the warning names both places."""
    text = """
    version: 1
    name: t
    jobs:
      - {name: first, prompt: same, size: "1:1"}
      - {name: second, prompt: same, size: "1:1"}
    """
    result = plan(load_manifest(write_manifest(text)))
    assert [j.job for j in result.jobs] == ["first"]
    (warning,) = result.warnings
    assert warning.severity == "warning"
    assert (warning.line, warning.path) == (5, "jobs[1]")
    assert "job 'first'" in warning.message
    assert "planned once" in warning.message


def test_warnings_for_unknown_model_and_uncommon_ratio(write_manifest: Write) -> None:
    """An unknown model and an uncommon 1K ratio are warnings at their values, not errors."""
    text = """
    version: 1
    name: t
    jobs:
      - name: a
        prompt: p
        model: gpt-image-9
        size: "5:4"
    """
    manifest = load_manifest(write_manifest(text))
    result = plan(manifest)
    warnings = sorted((*manifest.warnings, *result.warnings))
    assert [(w.line, w.col, w.path) for w in warnings] == [
        (6, 12, "jobs[0].model"),
        (7, 11, "jobs[0].size"),
    ]
    assert "unknown model 'gpt-image-9'" in warnings[0].message
    assert "not a common 1k preset" in warnings[1].message
    assert str(warnings[0]).split(": ", 2)[2].startswith("warning: ")
    assert len(result.jobs) == 1


def test_output_folder_follows_the_variant_slug_and_id(write_manifest: Write) -> None:
    """Each job's folder is <job>/<slug of values in axis order>-<id8>, under 180 characters."""
    long_value = "an extremely long value " * 12
    text = f"""
    version: 1
    name: t
    jobs:
      - name: hero
        prompt: "{{product}} {{light}}"
        matrix:
          product: [Night Cream!]
          light: ["{long_value}"]
          size: ["16:9"]
    """
    (job,) = plan(load_manifest(write_manifest(text))).jobs
    assert job.output.startswith("hero/night-cream_an-extremely-long-value")
    assert job.output.endswith(f"_16x9-{job.id[:8]}")  # the long value was cut, not the size
    assert len(image_relpath(job.output, 4, "webp", take=99)) < 180
    slug = variant_slug(job.variant.values(), slug_room("hero"))
    assert job.output == job_dir("hero", slug, job.id)


def test_select_only_and_limit(write_manifest: Write) -> None:
    """--only matches job names by shell pattern or id prefix; --limit keeps the first N."""
    result = plan(load_manifest(ROOT / "manifests" / "spring-launch.yaml"))
    lifestyle = result.select(["life*"])
    assert {j.job for j in lifestyle.jobs} == {"lifestyle"}
    first = result.jobs[3]
    assert result.select([first.id[:10]]).jobs == (first,)
    assert result.select(limit=2).jobs == result.jobs[:2]
    assert result.select(["hero"], limit=3).totals.jobs == 3


@dataclass(frozen=True)
class _Record:
    state: str


@dataclass(frozen=True)
class _Spent:
    credits: int = 0


@dataclass(frozen=True)
class _Lockfile:
    jobs: Mapping[str, _Record]
    spent: _Spent = _Spent()


def test_states_from_a_lockfile_drive_spend_retry_and_orphans() -> None:
    """credits_to_spend counts new and submitting; to_retry counts failed; unknown ids orphan."""
    result = plan(load_manifest(ROOT / "manifests" / "demo.yaml"))
    ids = [j.id for j in result.jobs]
    states = {ids[0]: "succeeded", ids[1]: "failed", ids[2]: "submitting", ids[3]: "submitted"}
    recorded = {i: _Record(s) for i, s in states.items()} | {"0" * 16: _Record("succeeded")}
    with_lock = plan(result.manifest, _Lockfile(recorded))
    totals = with_lock.totals
    credits = {j.id: j.credits for j in result.jobs}
    assert totals.credits_to_retry == credits[ids[1]]
    assert (
        totals.credits_to_spend
        == sum(credits.values()) - sum(credits[i] for i in ids[:2]) - credits[ids[3]]
    )
    assert totals.by_state == {
        "new": len(ids) - 4,
        "submitting": 1,
        "submitted": 1,
        "succeeded": 1,
        "failed": 1,
    }
    assert with_lock.orphans == ("0" * 16,)
    assert with_lock.select(limit=1).jobs[0].id == ids[2]
    assert with_lock.select(limit=1, retry_failed=True).jobs[0].id == ids[1]


def test_budget_is_checked_against_what_the_run_would_spend() -> None:
    """A plan over max_credits is not within budget; --max-credits overrides the manifest."""
    result = plan(load_manifest(ROOT / "manifests" / "demo.yaml"))
    assert result.budget.within
    tight = result.with_budget(result.totals.credits - 1)
    assert not tight.budget.within
    assert tight.budget.max_credits == result.totals.credits - 1


@pytest.mark.parametrize("name", ["demo.yaml", "spring-launch.yaml", "watch-4k-heroes.yaml"])
def test_shipped_manifests_are_valid_and_point_at_the_schema(name: str) -> None:
    """Every shipped manifest validates with no warnings and names the schema for editors."""
    path = ROOT / "manifests" / name
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../schemas/manifest.schema.json"
    )
    manifest = load_manifest(path)
    result = plan(manifest)
    assert not manifest.warnings and not result.warnings
    assert result.totals.jobs > 0


def test_demo_is_small() -> None:
    """The demo stays about 8 jobs and under 30 credits."""
    totals = plan(load_manifest(ROOT / "manifests" / "demo.yaml")).totals
    assert 6 <= totals.jobs <= 10
    assert totals.credits < 30
