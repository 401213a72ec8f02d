"""The manifest's JSON Schema: valid 2020-12, described, and the one the loader uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from seedance_batch._manifest import manifest_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "manifest.schema.json"


def _properties(schema: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield f"{where}.{name}", sub
            yield from _properties(sub, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from _properties(schema[key], f"{where}[{key}]")


def test_schema_is_valid_2020_12() -> None:
    """The schema file is itself valid JSON Schema 2020-12."""
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_is_described() -> None:
    """Every property carries a description, so an editor can explain it on hover."""
    undocumented = [p for p, sub in _properties(manifest_schema()) if "description" not in sub]
    assert undocumented == []


def test_loader_uses_the_file_in_schemas() -> None:
    """The package's schema is the file in schemas/ (a link to the package folder)."""
    assert manifest_schema() == json.loads(SCHEMA_PATH.read_text())


def test_shipped_manifests_validate_against_the_schema_alone() -> None:
    """Every manifest in manifests/ passes the plain schema, as an editor would check it."""
    validator = Draft202012Validator(manifest_schema())
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], path
