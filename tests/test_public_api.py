"""The public API: a narrow, lazy top level, pinned; the error tree with one root; the version."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

import seedance_batch
import seedance_batch.errors
from seedance_batch import SeedanceBatchError

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = [
    "BudgetExceededError", "ConfigurationError", "Event", "ImageSaved", "JobFinished",
    "JobSubmitted", "LockHeldError", "LockfileError", "Manifest", "ManifestError", "Notice",
    "Plan", "RunOptions", "RunStarted", "RunSummary", "SeedanceBatchError", "diff_plans",
    "load_manifest", "plan", "prune", "run", "run_async", "status", "write_gallery",
]  # fmt: skip

ERRORS = [
    "ApiError", "ApiProtocolError", "AuthenticationError", "BudgetExceededError",
    "ConfigurationError", "CreditsExhaustedError", "DeliveryError", "DeliveryRefusedError",
    "Diagnostic", "DownloadError", "LockHeldError", "LockfileError", "LockfileMismatchError",
    "LockfileWriteError",
    "ManifestError", "NetworkError", "OutputError", "RequestRejectedError", "SeedanceBatchError",
    "SelectionError", "TaskNotFoundError", "TransientApiError", "UnreachableError",
]  # fmt: skip

#: Names of the 0.1 top level outside __all__ that still resolve (errors warn).
FORMER_ERRORS = [
    "ApiError", "ApiProtocolError", "AuthenticationError", "CreditsExhaustedError", "Diagnostic",
    "DownloadError", "NetworkError", "RequestRejectedError", "TaskNotFoundError",
    "TransientApiError",
]  # fmt: skip
FORMER_QUIET = [
    "Budget", "ClientStats", "CreateOutcome", "Download", "Execution", "ImageRecord", "Job",
    "JobRecord", "JobSpec", "JobStatus", "Lockfile", "LockfileSnapshot", "PlanDiff",
    "PruneResult", "RetryEvent", "RetryPolicy", "SeedanceClient", "Status", "Task", "Totals",
    "default_lockfile_path", "read_lockfile", "render_gallery",
]  # fmt: skip

HEAVY = ("httpx", "aiohttp", "jsonschema", "yaml", "tqdm")


def _modules_after(code: str) -> set[str]:
    """sys.modules after running ``code`` in a fresh interpreter, at the repository's root."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The packages of ``heavy`` that ``modules`` holds (a package or any of its modules)."""
    return sorted({m.partition(".")[0] for m in modules} & set(heavy))


def test_all_is_pinned() -> None:
    """__all__ lists exactly these names, sorted, at most 25: adding one is a decision."""
    assert seedance_batch.__all__ == PUBLIC
    assert sorted(PUBLIC) == PUBLIC
    assert len(PUBLIC) <= 25


def test_every_public_name_resolves_to_its_definition() -> None:
    """Each name of __all__ resolves, and is the very object its defining module holds."""
    for name in seedance_batch.__all__:
        home = importlib.import_module(seedance_batch._PUBLIC[name])
        assert getattr(seedance_batch, name) is getattr(home, name), name


def test_star_import_gives_exactly_all() -> None:
    """`from seedance_batch import *` binds the names of __all__ and nothing else."""
    space: dict[str, object] = {}
    exec("from seedance_batch import *", space)
    assert sorted(set(space) - {"__builtins__"}) == PUBLIC


def test_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not have raises AttributeError, as a plain module does."""
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = seedance_batch.nope  # type: ignore[attr-defined]


def test_errors_module_holds_the_whole_tree() -> None:
    """seedance_batch.errors exports every error of the package and the Diagnostic, pinned."""
    assert seedance_batch.errors.__all__ == ERRORS
    private = importlib.import_module("seedance_batch._errors")
    assert sorted(private.__all__) == ERRORS


def test_every_error_derives_from_one_root() -> None:
    """Every exception of seedance_batch.errors and of __all__ is a SeedanceBatchError."""
    exported = [getattr(seedance_batch.errors, n) for n in ERRORS]
    exported += [getattr(seedance_batch, n) for n in PUBLIC]
    errors = [e for e in exported if inspect.isclass(e) and issubclass(e, BaseException)]
    assert len(errors) >= 20
    assert all(issubclass(error, SeedanceBatchError) for error in errors)


def test_former_error_names_warn_towards_the_errors_module() -> None:
    """An error of 0.1's top level outside __all__ still resolves, with a DeprecationWarning."""
    for name in FORMER_ERRORS:
        with pytest.warns(DeprecationWarning, match="import it from seedance_batch.errors"):
            value = getattr(seedance_batch, name)
        assert value is getattr(seedance_batch.errors, name)


def test_former_names_still_resolve_quietly() -> None:
    """The rest of 0.1's top level resolves without a warning until it has a public home."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in FORMER_QUIET:
            value = getattr(seedance_batch, name)
            assert getattr(importlib.import_module(value.__module__), name) is value, name
    assert not set(FORMER_QUIET) & set(PUBLIC)


def test_version_comes_from_the_package_metadata() -> None:
    """__version__ is the installed distribution's, which pyproject.toml writes once."""
    assert seedance_batch.__version__ == metadata.version("seedance-batch")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert pyproject.count(seedance_batch.__version__) == 1


def test_version_without_metadata_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a bare checkout (no distribution installed), __version__ says it is unknown."""

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    monkeypatch.delitem(vars(seedance_batch), "__version__", raising=False)
    assert seedance_batch.__version__ == "0+unknown"
    monkeypatch.delitem(vars(seedance_batch), "__version__")


def test_import_loads_nothing_heavy() -> None:
    """`import seedance_batch` imports none of httpx, aiohttp, jsonschema, yaml, tqdm."""
    assert _heavy(_modules_after("import seedance_batch")) == []


def test_loading_a_manifest_loads_no_client() -> None:
    """load_manifest and plan bring YAML and JSON Schema, never the HTTP client or tqdm."""
    loaded = _modules_after(
        "from seedance_batch import load_manifest, plan\nplan(load_manifest('manifests/demo.yaml'))"
    )
    assert _heavy(loaded) == ["jsonschema", "yaml"]
    assert "asyncio" not in loaded


def test_validate_command_loads_no_client() -> None:
    """`seedance-batch validate manifests/demo.yaml` imports neither httpx nor aiohttp, nor
    asyncio, tqdm, the simulator's server, the client, the lockfile or the metadata."""
    loaded = _modules_after(
        "from seedance_batch.cli import main\nassert main(['validate', 'manifests/demo.yaml']) == 0"
    )
    assert _heavy(loaded, (*HEAVY, "asyncio")) == ["jsonschema", "yaml"]
    ours = {m for m in loaded if m.startswith("seedance_batch.")}
    # only the named command's module is imported: no other command, nothing of the simulator
    assert not {m for m in ours if m.startswith("seedance_batch.simulator")}
    commands = {m for m in ours if m.startswith("seedance_batch.cli.") and "._" not in m}
    assert commands == {"seedance_batch.cli.validate"}
    assert not ours & {"seedance_batch.client", "seedance_batch.lockfile"}
    assert "importlib.metadata" not in loaded  # --version reads it only when asked
