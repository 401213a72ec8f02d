"""The layers run one way (manifest -> plan -> run -> outputs), read from every module's imports.

Each module of ``seedance_batch/`` is parsed with ``ast`` (nothing is imported), and every
``import`` in it, at the top, in a function or under ``TYPE_CHECKING``, is checked against the
table below. A new module must be given a layer here; an import against the flow fails.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "seedance_batch"

#: The layers as they are, lowest first: a module may import its own layer and those before it.
LAYERS: dict[str, tuple[str, ...]] = {
    # vocabulary every layer shares: errors, events, files, paths, redaction, start-up
    "base": (
        "_background",
        "_clock",
        "_errors",
        "_events",
        "_files",
        "_gc",
        "_key",
        "_labels",
        "_layout",
        "_redact",
        "_schemas",
        "_serve",
        "_startup",
        "_states",
    ),
    "manifest": (
        "_yaml",
        "_rules",
        "_sources",
        "_job_spec",
        "_problems",
        "_rows",
        "_jobs",
        "_fragments",
        "_delivery_spec",
        "_manifest",
        "_revision",
        # the review file: an input beside the manifest (decisions as code), read by the plan
        # and the run to choose rerolls; it imports only the base and the YAML reader
        "_decisions",
    ),
    "plan": ("_shards", "_planner", "_budget", "_diff"),
    "run": (
        "client",
        "lockfile",
        "_run_files",
        "_run_values",
        "_run_state",
        "_poll_schedule",
        "_job_runner",
        "_executor",
        "_rerolls",  # which jobs get a new take: the review file over the lockfile's records
    ),
    "outputs": (
        "_results",
        "_gallery",
        "_outputs",
        "_status",
        "_prune",
        "_merge",
        "reports",
        "_thumbs",
        "_thumbs_child",  # the run's thumbnails, made by a child process as images land
        "_approvals",
        "_gallery_page",
    ),
    "review": ("review",),  # the review app: serves the outputs and the decisions
    "delivery": ("delivery",),  # export and verify: what was approved, to a folder or S3
    # the package's __init__, the public error tree, and run(): the run, then its outputs
    "api": ("", "errors", "_run"),
    "cli": ("cli", "__main__"),
}
#: Beside the flow: a stand-in for the API that shares nothing with the client.
SIMULATOR = "simulator"

MANIFEST_SIDE = (
    "_yaml",
    "_sources",
    "_job_spec",
    "_problems",
    "_rows",
    "_jobs",
    "_fragments",
    "_manifest",
    "_rules",
    "_planner",
    "_shards",
    "_budget",
)
RUN_SIDE = (
    "client",
    "_executor",
    "_job_runner",
    "_poll_schedule",
    "_run_state",
    "_run_values",
    "lockfile",
    "_run_files",
    "_gallery",
    "_gallery_page",
    "_approvals",
    "_results",
    "_outputs",
    "_run",
)
CLIENT = ("client", "_redact")

#: Imports against the flow that the code makes today, each to be removed (none: the outputs
#: stage writes results.jsonl and the gallery after the run, not the executor).
KNOWN_AGAINST_THE_FLOW: set[tuple[str, str]] = set()


def _name(path: Path) -> str:
    """The module's name relative to the package: ``client._client``, ``cli.run``, ``""``
    (root)."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _top(module: str) -> str:
    """The entry of the tables a module falls under: ``cli.run`` is ``cli``."""
    return module.partition(".")[0]


def _imports(module: str) -> Iterator[str]:
    """Every module of the package that ``module`` imports, relative to the package."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "seedance_batch" + (f".{package}" if package else "")
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            targets = [source]
            for alias in node.names:  # `from seedance_batch import _rules` imports a module
                if f"{source}.{alias.name}".removeprefix("seedance_batch.") in MODULES:
                    targets = [f"{source}.{alias.name}"]
        else:
            continue
        for target in targets:
            if target == "seedance_batch" or target.startswith("seedance_batch."):
                yield target.removeprefix("seedance_batch").removeprefix(".")


def _layer(module: str) -> str:
    """The layer of the table that holds ``module``, or the simulator."""
    for layer, members in LAYERS.items():
        if module in members or (_top(module) in members and module):
            return layer
    assert _top(module) == SIMULATOR, module
    return SIMULATOR


RANK = {layer: rank for rank, layer in enumerate(LAYERS)}


@functools.cache
def _edges() -> frozenset[tuple[str, str]]:
    """(importer, imported) for every import of the package's modules in one another."""
    return frozenset((m, target) for m in MODULES for target in _imports(m))


def test_every_module_has_a_layer() -> None:
    """Each module of seedance_batch/ falls under one entry of the table: a new one is placed."""
    placed = {m for m in MODULES if _top(m) == SIMULATOR}
    for members in LAYERS.values():
        placed |= {m for m in MODULES if m in members or (m and _top(m) in members)}
    assert placed == set(MODULES), sorted(set(MODULES) - placed)
    everyone = [m for members in LAYERS.values() for m in members]
    assert len(everyone) == len(set(everyone))
    assert set(everyone) - {""} <= {_top(m) for m in MODULES}  # no stale entry


def test_the_parser_of_imports_sees_them() -> None:
    """The import reader finds the known edges (absolute, from-package and relative forms)."""
    edges = _edges()
    assert ("_manifest", "_rules") in edges  # from seedance_batch import _rules
    assert ("_planner", "_manifest") in edges  # from seedance_batch._manifest import ...
    assert ("cli.validate", "cli._common") in edges
    assert ("simulator._server", "simulator._api") in edges
    assert ("cli.run", "_run") in edges  # inside a function


def test_imports_run_one_way() -> None:
    """No module imports a later layer (manifest -> plan -> run -> outputs -> api -> cli)."""
    against = {
        (module, target)
        for module, target in _edges()
        if SIMULATOR not in (_layer(module), _layer(target))
        and RANK[_layer(target)] > RANK[_layer(module)]
    }
    assert against - KNOWN_AGAINST_THE_FLOW == set()


def test_known_imports_against_the_flow_are_still_there() -> None:
    """Each known exception still exists: once the code is fixed, it leaves the table."""
    assert _edges() >= KNOWN_AGAINST_THE_FLOW


def test_the_manifest_side_imports_nothing_of_the_run_side() -> None:
    """The manifest's modules, the planner and the budget import no run module and no CLI."""
    for module in MANIFEST_SIDE:
        for target in _imports(module):
            assert _top(target) not in (*RUN_SIDE, "cli"), (module, target)


def test_no_library_module_imports_the_cli() -> None:
    """Only the CLI itself (and ``python -m``) imports seedance_batch.cli."""
    for module, target in _edges():
        if _top(target) == "cli":
            assert _layer(module) == "cli", (module, target)


def test_the_simulator_imports_nothing_of_the_client() -> None:
    """The simulator imports no client module (nor _redact): it checks the client, it is not
    built from it; and it imports nothing of the run, the outputs or the CLI either."""
    for module, target in _edges():
        if _layer(module) != SIMULATOR:
            continue
        assert _top(target) not in CLIENT, (module, target)
        assert _layer(target) in ("base", SIMULATOR), (module, target)


def test_the_client_imports_only_the_base_and_the_rules() -> None:
    """The client package imports itself, the shared base (not its file writing: downloads go
    to a sink the caller passes) and the rules of status words: nothing of the run."""
    for module, target in _edges():
        if _top(module) != "client":
            continue
        assert _top(target) == "client" or target == "_rules" or _layer(target) == "base"
        assert target not in ("_files", "_run_files"), (module, target)


def test_only_the_cli_imports_the_simulator() -> None:
    """No library module starts a simulator: only `seedance-batch simulate` does."""
    for module, target in _edges():
        if _layer(target) == SIMULATOR and _layer(module) != SIMULATOR:
            assert _layer(module) == "cli", (module, target)


#: A module a newcomer reads in one sitting: at most this many lines (issue 12).
LONGEST_MODULE = 600


def test_every_module_is_short_and_opens_with_its_idea() -> None:
    """Each module of seedance_batch/ has at most 600 lines and opens with a docstring whose
    first line says its one idea."""
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= LONGEST_MODULE, (module, text.count("\n"))
        docstring = ast.get_docstring(ast.parse(text))
        assert docstring, f"{module or '__init__'} has no docstring"
        assert docstring.splitlines()[0].strip(), module
