"""YAML with positions: every value and key remembers its line and column.

Like dvc's ``utils/strictyaml``: the document is composed into nodes, turned into plain Python
values, and a map from each value's path to its position lets schema errors point at the file.
Anchors, aliases and merge keys (``<<``) work as YAML defines them; duplicate keys are errors.
Limits hold while composing, before anything is built: a document expanding (aliases counted
as what they expand to) past :data:`MAX_NODES` nodes, nested deeper than :data:`MAX_DEPTH`, or
holding an alias to a node that contains it, is one error at the alias or node that crosses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from seedance_batch._errors import Diagnostic

__all__ = ["MAX_DEPTH", "MAX_NODES", "Loaded", "Path", "Pos", "format_path", "load_yaml"]

Path = tuple[str | int, ...]

#: Nodes a document may expand to, aliases counted by their expanded size (contract section 2).
MAX_NODES = 10_000_000
#: Levels of nesting, aliases expanded (a manifest needs about six).
MAX_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    #: Problems that leave no document to check (syntax, limits).
    errors: list[Diagnostic] = field(default_factory=list)
    #: Problems with values (lone surrogates, numbers that are not finite), reported together
    #: with the schema's.
    problems: list[Diagnostic] = field(default_factory=list)

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


class _LimitError(Exception):
    def __init__(self, mark: Any, path: Path, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.path = path
        self.message = message


class _Loader(yaml.SafeLoader):
    """The safe loader, counting while it composes: expanded nodes, nesting, alias cycles."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._expanded = 0
        self._depth = 0
        self._path: list[str | int] = []
        #: id(node) -> (nodes it expands to, its height), once the node is composed
        self._measures: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        part = _path_part(parent, index)
        if part is not None:
            self._path.append(part)
        try:
            if self.check_event(yaml.AliasEvent):
                self._count_alias(self.peek_event())  # type: ignore[no-untyped-call]
                return super().compose_node(parent, index)
            return self._compose_counted(parent, index)
        finally:
            if part is not None:
                self._path.pop()

    def _fail(self, mark: Any, message: str) -> _LimitError:
        return _LimitError(mark, tuple(self._path), message)

    def _count_alias(self, event: Any) -> None:
        anchor = getattr(event, "anchor", None)
        target = self.anchors.get(anchor) if anchor is not None else None
        if target is None:
            return  # the composer says "found undefined alias"
        measure = self._measures.get(id(target))
        if measure is None:
            raise self._fail(
                event.start_mark, f"alias *{anchor} refers to a node that contains it (a cycle)"
            )
        size, height = measure
        self._expanded += size
        if self._expanded > MAX_NODES:
            raise self._fail(
                event.start_mark,
                f"the document expands past {MAX_NODES:,} nodes at alias *{anchor} "
                f"({size:,} nodes each time it is used)",
            )
        if self._depth + height > MAX_DEPTH:
            raise self._fail(
                event.start_mark, f"nested deeper than {MAX_DEPTH} levels (alias *{anchor})"
            )

    def _compose_counted(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if self._depth >= MAX_DEPTH:
            raise self._fail(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        self._expanded += 1
        if self._expanded > MAX_NODES:
            raise self._fail(event.start_mark, f"the document expands past {MAX_NODES:,} nodes")
        start = self._expanded
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        self._measures[id(node)] = (self._expanded - start + 1, 1 + self._child_height(node))
        return node

    def _child_height(self, node: yaml.Node) -> int:
        measures = self._measures
        if isinstance(node, yaml.SequenceNode):
            return max((measures[id(child)][1] for child in node.value), default=0)
        if isinstance(node, yaml.MappingNode):
            return max(
                (measures[id(n)][1] for pair in node.value for n in pair),
                default=0,
            )
        return 0


def _path_part(parent: yaml.Node | None, index: object) -> str | int | None:
    if isinstance(parent, yaml.SequenceNode) and isinstance(index, int):
        return index
    if isinstance(parent, yaml.MappingNode) and isinstance(index, yaml.ScalarNode):
        return str(index.value)
    return None


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader, loaded: Loaded) -> None:
        self.file = file
        self.loader = loader
        self.loaded = loaded

    def error(self, pos: Pos, path: Path, message: str) -> None:
        self.loaded.errors.append(
            Diagnostic(self.file, pos.line, pos.col, format_path(path), message)
        )

    def problem(self, node: yaml.Node, path: Path, message: str) -> None:
        pos = _pos(node.start_mark)
        self.loaded.problems.append(
            Diagnostic(self.file, pos.line, pos.col, format_path(path), message)
        )

    def build(self, node: yaml.Node, path: Path) -> object:
        self.loaded.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: Path) -> object:
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str) and _SURROGATE.search(value):
            code = ord(_SURROGATE.findall(value)[0])
            self.problem(node, path, f"holds a lone surrogate \\u{code:04x}, which is no text")
        elif isinstance(value, float) and not math.isfinite(value):
            self.problem(node, path, f"{node.value} is not a finite number")
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, object]:
        own = {id(key_node) for key_node, _ in node.value}
        self.loader.flatten_mapping(node)  # applies merge keys (<<) as YAML defines them
        result: dict[str, object] = {}
        explicit: set[str] = set()
        for key_node, value_node in node.value:
            key = (
                self._scalar(key_node, path)
                if isinstance(key_node, yaml.ScalarNode)
                else self.loader.construct_object(key_node, deep=True)
            )
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
    fast = _load_with_libyaml(text, file)
    if fast is not None:
        return fast
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            loaded.errors.append(
                Diagnostic(file, 1, 1, "", "the file is empty; a manifest is a mapping")
            )
            return loaded
        loaded.data = _Builder(file, loader, loaded).build(node, ())
    except _LimitError as exc:
        line, col = exc.mark.line + 1, exc.mark.column + 1
        where = format_path(exc.path[:8]) + ("..." if len(exc.path) > 8 else "")
        loaded.errors.append(Diagnostic(file, line, col, where, exc.message))
    except yaml.MarkedYAMLError as exc:
        if exc.context == "while scanning a quoted scalar" and exc.context_mark is not None:
            opened = exc.context_mark  # point at the quote that never closes, not at the end
            message = (
                "invalid YAML: this quote is never closed (a quoted string ends with its quote)"
            )
            line, col = opened.line + 1, opened.column + 1
            loaded.errors.append(Diagnostic(file, line, col, "", message))
            return loaded
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


#: Text libyaml and the pure loader may read differently (libyaml takes a tab as a space where
#: the pure one refuses it, counts a byte-order mark in no column...): read by the pure loader.
_PURE_ONLY = frozenset("\t\r\x85\u2028\u2029\ufeff")
#: From this version on libyaml itself refuses nesting past 1,000 levels, so that its composer
#: (recursive C) cannot overflow the stack; an older libyaml is not used.
_NESTING_BOUNDED = (0, 2, 6)


def _libyaml_loader() -> type[yaml.SafeLoader] | None:
    loader = getattr(yaml, "CSafeLoader", None)
    version = getattr(getattr(yaml, "_yaml", None), "get_version", None)
    if loader is None or version is None or version() < _NESTING_BOUNDED:
        return None
    return loader  # type: ignore[no-any-return]


_LIBYAML = _libyaml_loader()


def _load_with_libyaml(text: str, file: str) -> Loaded | None:
    """The document as :func:`load_yaml` reads it, composed by libyaml (C, about 20 times the
    pure loader's speed; the positions are libyaml's, the same), or None where the pure loader
    must read it: any error (it says it in its own words), a limit crossed, text that the two
    may read differently. The values are built the same way, by the same constructor."""
    if _LIBYAML is None or not _PURE_ONLY.isdisjoint(text):
        return None
    loader = _LIBYAML(text)
    try:
        node = loader.get_single_node()
        if node is None or not _within_limits(node, {}, set(), 1):
            return None
        loaded = Loaded(data=None)
        loaded.data = _Builder(file, loader, loaded).build(node, ())
    except (yaml.YAMLError, UnicodeError):
        return None
    finally:
        loader.dispose()
    return loaded


def _within_limits(
    node: yaml.Node, measures: dict[int, tuple[int, int]], open_: set[int], level: int
) -> bool:
    """Whether ``node`` and what it holds, aliases expanded, stay within :data:`MAX_NODES`
    and :data:`MAX_DEPTH` (``level`` is its own) and refer to nothing that contains them;
    ``measures`` holds each checked node's expanded size and height (a node shared by
    aliases is measured once)."""
    if level > MAX_DEPTH or id(node) in open_:
        return False
    measure = measures.get(id(node))
    if measure is None:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        open_.add(id(node))
        for child in children:
            if not _within_limits(child, measures, open_, level + 1):
                return False
        open_.discard(id(node))
        size = 1 + sum(measures[id(child)][0] for child in children)
        height = 1 + max((measures[id(child)][1] for child in children), default=0)
        measure = measures[id(node)] = (size, height)
    return level - 1 + measure[1] <= MAX_DEPTH and measure[0] <= MAX_NODES
