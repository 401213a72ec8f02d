"""The JSON Schemas the package ships, read one way: as package resources.

The files live in ``seedance_batch/schemas/`` (so a wheel carries them as plain files); the
repository's top-level ``schemas/`` is a symlink to that folder, for editors and for the
manifests' ``# yaml-language-server: $schema=../schemas/manifest.schema.json`` lines.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "SCHEMA_NAMES",
    "SchemaName",
    "ecma_pattern",
    "load_schema",
    "pattern_keyword",
    "schema_resource",
    "schema_text",
]

SchemaName = Literal["manifest", "lockfile"]
SCHEMA_NAMES: tuple[SchemaName, ...] = ("manifest", "lockfile")


def schema_resource(name: SchemaName) -> Traversable:
    """The package resource ``seedance_batch/schemas/<name>.schema.json``."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"no schema named {name!r}: one of {', '.join(SCHEMA_NAMES)}")
    return resources.files("seedance_batch") / "schemas" / f"{name}.schema.json"


def schema_text(name: SchemaName) -> str:
    """The schema's text, as shipped (what ``seedance-batch schema NAME`` prints)."""
    return schema_resource(name).read_text(encoding="utf-8")


@functools.cache
def load_schema(name: SchemaName) -> dict[str, Any]:
    """The schema as a mapping, parsed once (shared: callers must not change it)."""
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema


@functools.cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """A schema's ``pattern`` as JSON Schema means it (ECMA-262): a final ``$`` ends the text.

    Python's ``$`` also matches before a final newline, so jsonschema alone lets ``"abc\\n"``
    through ``^[a-z]+$`` (a job name, a folder, with a newline). Only a final unescaped ``$``
    is rewritten: the schemas use no other.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def pattern_keyword(
    validator: Any, pattern: str, instance: object, schema: object
) -> Iterator[Any]:
    """jsonschema's ``pattern`` keyword with :func:`ecma_pattern`'s anchors."""
    if isinstance(instance, str) and ecma_pattern(pattern).search(instance) is None:
        from jsonschema.exceptions import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")
