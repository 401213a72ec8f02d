"""YAML with positions: every value and key remembers its line and column.

Like dvc's ``utils/strictyaml``: the document is composed into nodes, turned into plain Python
values, and a map from each value's path to its position lets schema errors point at the file.
Anchors, aliases and merge keys (``<<``) work as YAML defines them; duplicate keys are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from seedance_batch._errors import Diagnostic

__all__ = ["Loaded", "Path", "Pos", "format_path", "load_yaml"]

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column."""

    line: int
    col: int


@dataclass
class Loaded:
    """A YAML document as plain values, with the position of every value and key."""

    data: object
    values: dict[Path, Pos] = field(default_factory=dict)
    keys: dict[Path, Pos] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)

    def value_pos(self, path: Path) -> Pos:
        """Where the value at ``path`` starts, or its nearest known ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Pos(1, 1))

    def key_pos(self, path: Path) -> Pos:
        """Where the key of the value at ``path`` starts (the value itself at the top)."""
        return self.keys.get(path) or self.value_pos(path)


def format_path(path: Path) -> str:
    """``("jobs", 0, "n")`` -> ``jobs[0].n``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _pos(mark: yaml.Mark) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader, loaded: Loaded) -> None:
        self.file = file
        self.loader = loader
        self.loaded = loaded

    def error(self, pos: Pos, path: Path, message: str) -> None:
        self.loaded.errors.append(
            Diagnostic(self.file, pos.line, pos.col, format_path(path), message)
        )

    def build(self, node: yaml.Node, path: Path) -> object:
        self.loaded.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, object]:
        own = {id(key_node) for key_node, _ in node.value}
        self.loader.flatten_mapping(node)  # applies merge keys (<<) as YAML defines them
        result: dict[str, object] = {}
        explicit: set[str] = set()
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            key_pos = _pos(key_node.start_mark)
            if not isinstance(key, str):
                self.error(key_pos, path, f"key {key!r} must be a string (quote it)")
                continue
            child = (*path, key)
            if id(key_node) in own:
                if key in explicit:
                    self.error(key_pos, child, f"duplicate key {key!r}")
                    continue
                explicit.add(key)
            self.loaded.keys[child] = key_pos
            result[key] = self.build(value_node, child)
        return result


def load_yaml(text: str, file: str) -> Loaded:
    """Parse one YAML document; syntax errors become diagnostics, never exceptions."""
    loaded = Loaded(data=None)
    if "\t" in text:
        for number, row in enumerate(text.splitlines(), start=1):
            indent = row[: len(row) - len(row.lstrip())]
            if "\t" in indent:
                loaded.errors.append(
                    Diagnostic(
                        file,
                        number,
                        indent.index("\t") + 1,
                        "",
                        "tab character in indentation; YAML indents with spaces",
                    )
                )
        if loaded.errors:
            return loaded
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            loaded.errors.append(
                Diagnostic(file, 1, 1, "", "the file is empty; a manifest is a mapping")
            )
            return loaded
        loaded.data = _Builder(file, loader, loaded).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        loaded.errors.append(Diagnostic(file, line, col, "", f"invalid YAML: {problem}{context}"))
    except yaml.YAMLError as exc:
        loaded.errors.append(Diagnostic(file, 1, 1, "", f"invalid YAML: {exc}"))
    finally:
        loader.dispose()
    return loaded
