"""The manifest's JSON Schema: valid 2020-12, described, shared definitions, the rules' values,
and shipped as package files (the top-level schemas/ is a link to them, for editors)."""

from __future__ import annotations

import itertools
import json
import re
import stat
import string
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

import seedance_batch
from seedance_batch import _rules
from seedance_batch._errors import ManifestError
from seedance_batch._manifest import load_manifest, manifest_schema
from seedance_batch._schemas import SCHEMA_NAMES, load_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_SCHEMAS = Path(seedance_batch.__file__).parent / "schemas"
SCHEMA_PATH = ROOT / "schemas" / "manifest.schema.json"
#: The job fields that defaults and jobs both take, each defined once in ``$defs``.
JOB_FIELDS = ("description", "prompt", "prompts", "model", "provider", "size", "resolution")
JOB_FIELDS += ("n", "repeat", "vars")
REQUEST_AXES = ("model", "provider", "size", "resolution", "n")


def _resolve(schema: dict[str, Any], sub: Any) -> Any:
    """``sub`` with a local ``$ref`` followed (its own keys win, as annotations do)."""
    while isinstance(sub, dict) and "$ref" in sub:
        target: Any = schema
        for part in sub["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        sub = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
    return sub


def _properties(root: dict[str, Any], schema: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    schema = _resolve(root, schema)
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield f"{where}.{name}", _resolve(root, sub)
            yield from _properties(root, sub, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from _properties(root, schema[key], f"{where}[{key}]")


def _job(schema: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = schema["properties"]["jobs"]["items"]
    return job


def test_schema_is_valid_2020_12() -> None:
    """The schema file is itself valid JSON Schema 2020-12."""
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_is_described() -> None:
    """Every property carries a description (its own or its definition's), for editors' hover."""
    schema = manifest_schema()
    found = list(_properties(schema, schema))
    assert len(found) > 40
    undocumented = [p for p, sub in found if "description" not in sub]
    assert undocumented == []
    assert all("description" in sub for sub in schema["$defs"].values())


def test_defaults_and_jobs_share_the_field_definitions() -> None:
    """Each job field is defined once in $defs; defaults, jobs, matrix, include and exclude
    refer to it and hold no definition of their own."""
    schema = manifest_schema()
    defaults = schema["properties"]["defaults"]["properties"]
    job = _job(schema)["properties"]
    assert set(defaults) == set(JOB_FIELDS)
    for field in JOB_FIELDS:
        ref = {"$ref": f"#/$defs/{field}"}
        assert defaults[field] == ref == job[field], field
    for field in REQUEST_AXES:
        ref = {"$ref": f"#/$defs/{field}"}
        assert job["matrix"]["properties"][field]["items"] == ref, field
        assert job["include"]["items"]["properties"][field] == ref, field
        assert job["exclude"]["items"]["properties"][field] == ref, field
    # An enum or a pattern outside $defs would be a second definition (output.dir is no field).
    outside = {k: v for k, v in schema.items() if k != "$defs"}
    text = json.dumps(outside)
    assert '"enum"' not in text
    assert re.findall(r'"pattern": "([^"]*)"', text) == [r"^[^\\u0000-\\u001f\\u007f]*$"]


def test_n_values_are_the_rules() -> None:
    """The schema's n enum (and its examples) are the rules module's N_VALUES."""
    n = manifest_schema()["$defs"]["n"]
    assert tuple(n["enum"]) == _rules.N_VALUES
    assert tuple(n["examples"]) == _rules.N_VALUES


def test_resolutions_are_the_rules() -> None:
    """The resolution pattern accepts exactly the rules' resolutions, in either case."""
    resolution = manifest_schema()["$defs"]["resolution"]
    pattern = re.compile(resolution["pattern"])
    alphabet = string.ascii_letters + string.digits + ":x "
    accepted = {
        "".join(chars)
        for size in range(4)
        for chars in itertools.product(alphabet, repeat=size)
        if pattern.search("".join(chars))
    }
    expected = {v for r in _rules.RESOLUTIONS for v in (r, r.upper())}
    assert accepted == expected
    assert tuple(resolution["examples"]) == _rules.RESOLUTIONS
    for name, credits in _rules.CREDITS_PER_IMAGE.items():
        assert f"{name} (" in resolution["description"]
        assert f"{credits} credits an image" in resolution["description"]


def test_size_presets_are_the_rules() -> None:
    """The size's description lists the rules' fifteen 4K presets and common 1K presets."""
    size = manifest_schema()["$defs"]["size"]["description"]
    presets_4k = re.search(r"At 4k: one of the \w+ presets ([0-9: ]+)\.", size)
    assert presets_4k is not None
    assert tuple(presets_4k.group(1).split()) == _rules.PRESETS_4K
    common_1k = re.search(r"\(([0-9:, ]+) are the common presets\)", size)
    assert common_1k is not None
    assert tuple(common_1k.group(1).split(", ")) == tuple(_rules.COMMON_1K_SIZES)
    assert "fifteen" in size and len(_rules.PRESETS_4K) == 15


def test_models_are_the_rules() -> None:
    """The model's examples are the rules' known models, and it names the default."""
    model = manifest_schema()["$defs"]["model"]
    assert tuple(model["examples"]) == _rules.KNOWN_MODELS
    assert f"defaults to {_rules.DEFAULT_MODEL}" in model["description"]


def test_loader_reads_the_package_file_and_schemas_links_to_it() -> None:
    """The loader reads the package's own file; top-level schemas/ is a link to that folder,
    so the editors' copy cannot drift."""
    for name in SCHEMA_NAMES:
        inside = PACKAGE_SCHEMAS / f"{name}.schema.json"
        assert inside.is_file() and not inside.is_symlink()
        assert schema_text(name) == inside.read_text("utf-8")
        assert load_schema(name) == json.loads(inside.read_text("utf-8"))
    assert (ROOT / "schemas").is_symlink()
    assert (ROOT / "schemas").resolve() == PACKAGE_SCHEMAS.resolve()
    assert manifest_schema() == json.loads(SCHEMA_PATH.read_text())
    assert sorted(p.name for p in PACKAGE_SCHEMAS.iterdir()) == sorted(
        f"{n}.schema.json" for n in SCHEMA_NAMES
    )


def test_unknown_schema_name_is_refused() -> None:
    """Only the shipped schemas have names."""
    with pytest.raises(ValueError, match="no schema named"):
        schema_text("plan")  # type: ignore[arg-type]


def test_the_wheel_carries_the_schemas_as_files(tmp_path: Path) -> None:
    """A built wheel holds both schemas as regular files, byte for byte the package's."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("seedance_batch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in SCHEMA_NAMES:
            info = archive.getinfo(f"seedance_batch/schemas/{name}.schema.json")
            mode = info.external_attr >> 16
            assert not stat.S_ISLNK(mode)
            assert archive.read(info) == (PACKAGE_SCHEMAS / f"{name}.schema.json").read_bytes()


def test_shipped_manifests_validate_against_the_schema_alone() -> None:
    """Every manifest in manifests/ passes the plain schema, as an editor would check it."""
    validator = Draft202012Validator(manifest_schema())
    paths = sorted((ROOT / "manifests").glob("*.yaml"))
    assert paths
    for path in paths:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/manifest.schema.json"
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], path


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("name", 'name: "abc\\n"\njobs:\n  - {name: a, prompt: hi}\n'),
        ("jobs[0].name", 'name: abc\njobs:\n  - {name: "a\\n", prompt: hi}\n'),
        ("jobs[0].resolution", 'name: abc\njobs:\n  - {name: a, prompt: p, resolution: "4k\\n"}\n'),
        ("jobs[0].vars", 'name: abc\njobs:\n  - {name: a, prompt: hi, vars: {"x\\n": 1}}\n'),
    ],
)
def test_patterns_end_at_the_end_of_the_text(tmp_path: Path, where: str, text: str) -> None:
    """A pattern's ``$`` ends the text, as JSON Schema (ECMA-262) means it: a value with a
    trailing newline is refused, where Python's ``$`` alone would let it through."""
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\n" + text, encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert [d.path for d in caught.value.diagnostics] == [where]
