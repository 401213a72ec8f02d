"""Shared fragments: ``extends`` brings defaults, vars, execution, budget, output and delivery
from other YAML files (a brand kit), merged key by key under the manifest's own, each value
remembering the file and line it came from.

A fragment's paths are relative to the file naming it, and may leave the manifest's folder (a
kit is shared by many manifests). It may extend others; later fragments of a list win over
earlier ones, the extending file over all. A cycle is an error at the entry that closes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from seedance_batch._errors import Diagnostic
from seedance_batch._problems import (
    MANIFEST_ONLY,
    Problems,
    describe,
    fragment_validator,
    schema_errors,
)
from seedance_batch._sources import SourceError, read_source_bytes, read_source_text
from seedance_batch._yaml import Path, format_path, load_yaml

__all__ = ["MERGED", "Merged", "merge_fragments"]

#: The sections a fragment gives, merged key by key.
MERGED = ("defaults", "vars", "execution", "budget", "output", "delivery")


@dataclass
class Merged:
    """The sections the fragments and the manifest give together, and for each key of each
    section the file (its problems) that set it."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: dict[Path, Problems] = field(default_factory=dict)

    def set(self, data: Mapping[str, Any], out: Problems) -> None:
        """Lay ``data``'s sections over what is here, key by key."""
        for section in MERGED:
            values = data.get(section)
            if not isinstance(values, dict):
                continue
            merged = self.sections.setdefault(section, {})
            for key, value in values.items():
                merged[key] = value
                self.owners[(section, key)] = out


def merge_fragments(data: dict[str, Any], out: Problems, folder: FsPath) -> Merged:
    """The fragments ``data`` extends (its file's folder is ``folder``), merged under ``data``'s
    own sections; their problems go to ``out``'s list, in their files."""
    merged = Merged()
    _extend(data, out, folder, [os.path.realpath(out.file)], merged)
    merged.set(data, out)
    return merged


def _extend(
    data: dict[str, Any], out: Problems, folder: FsPath, chain: list[str], merged: Merged
) -> None:
    entries = data.get("extends")
    if not (
        isinstance(entries, str)
        or (isinstance(entries, list) and all(isinstance(e, str) for e in entries))
    ):
        return  # none, or not paths (the schema says so)
    names: list[tuple[Path, str]] = (
        [(("extends",), entries)]
        if isinstance(entries, str)
        else [(("extends", i), name) for i, name in enumerate(entries)]
    )
    for where, name in names:
        path = FsPath(os.path.normpath(folder / name))
        real = os.path.realpath(path)
        pos = out.loaded.value_pos(where)
        via = f"{out.file}:{pos.line}:{pos.col}: {format_path(where)}"
        if out.via:
            via = f"{via}, {out.via}"
        if real in chain:
            loop = " -> ".join(FsPath(p).name for p in (*chain[chain.index(real) :], real))
            out.at_value(where, f"extends {name!r} again: a cycle ({loop})")
            continue
        fragment = _load(str(path), out, via)
        if fragment is None:
            continue
        data_of, problems = fragment
        _extend(data_of, problems, path.parent, [*chain, real], merged)
        merged.set(data_of, problems)


def _load(file: str, out: Problems, via: str) -> tuple[dict[str, Any], Problems] | None:
    """A fragment's mapping and its problems (in its own file), or None if it is no mapping."""
    try:
        text = read_source_text(read_source_bytes(file, "a fragment is a YAML file"))
    except SourceError as exc:
        message = f"{exc.message} (brought in by {via})"
        out.items.append(Diagnostic(file, exc.line, exc.col, "", message))
        return None
    loaded = load_yaml(text, file)
    problems = out.child(file, loaded, via)
    if loaded.errors:
        return None
    data = loaded.data
    if not isinstance(data, dict):
        problems.at_value(
            (), f"a fragment is a mapping (defaults, vars, ...), got {describe(data)}"
        )
        return None
    for key in MANIFEST_ONLY:
        if key in data:
            problems.at_key(
                (key,),
                f"a fragment holds no {key!r}: only {', '.join(MERGED)} and extends "
                "(the manifest that extends it has the rest)",
            )
    problems.take(loaded.problems)
    own = {k: v for k, v in data.items() if k not in MANIFEST_ONLY}
    schema_errors(fragment_validator(), own, problems, skip={d.path for d in loaded.problems})
    # Kept even when wrong: what it extends is checked too, and nothing is built from it then.
    return own, problems
