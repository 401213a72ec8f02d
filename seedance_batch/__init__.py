"""seedance-batch: YAML manifests to reproducible image campaigns on the Seedance 2.1 API.

The data flows one way, and each step is a call::

    manifest = load_manifest("manifests/demo.yaml")   # ManifestError: every problem, with lines
    planned = plan(manifest)                          # jobs, ids, credits (no network)
    summary = run(manifest, RunOptions(base_url=...)) # submit, poll, download, resumable
    report = status(manifest)                         # what the lockfile says

``__all__`` is what a script uses: these steps, ``diff_plans``, ``prune``, ``write_gallery``,
the options and summary of a run, its events, and the errors a script catches (the whole tree
is in :mod:`seedance_batch.errors`). The simulator of the API is :mod:`seedance_batch.simulator`.

Names resolve on first use (PEP 562), so ``import seedance_batch`` loads neither the HTTP client
nor the lockfile: ``seedance-batch validate`` costs little more than YAML and JSON Schema.
"""

from __future__ import annotations

from seedance_batch import _startup  # noqa: F401  (first of all: Ctrl-C while starting is 130)

# isort: split

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what mypy and editors see; at run time __getattr__ imports on first use
    from seedance_batch._budget import Budget as Budget
    from seedance_batch._diff import PlanDiff as PlanDiff
    from seedance_batch._diff import diff_plans as diff_plans
    from seedance_batch._errors import ApiError as ApiError
    from seedance_batch._errors import ApiProtocolError as ApiProtocolError
    from seedance_batch._errors import AuthenticationError as AuthenticationError
    from seedance_batch._errors import BudgetExceededError as BudgetExceededError
    from seedance_batch._errors import ConfigurationError as ConfigurationError
    from seedance_batch._errors import CreditsExhaustedError as CreditsExhaustedError
    from seedance_batch._errors import Diagnostic as Diagnostic
    from seedance_batch._errors import DownloadError as DownloadError
    from seedance_batch._errors import LockfileError as LockfileError
    from seedance_batch._errors import LockHeldError as LockHeldError
    from seedance_batch._errors import ManifestError as ManifestError
    from seedance_batch._errors import NetworkError as NetworkError
    from seedance_batch._errors import RequestRejectedError as RequestRejectedError
    from seedance_batch._errors import SeedanceBatchError as SeedanceBatchError
    from seedance_batch._errors import TaskNotFoundError as TaskNotFoundError
    from seedance_batch._errors import TransientApiError as TransientApiError
    from seedance_batch._events import Event as Event
    from seedance_batch._events import ImageSaved as ImageSaved
    from seedance_batch._events import JobFinished as JobFinished
    from seedance_batch._events import JobSubmitted as JobSubmitted
    from seedance_batch._events import Notice as Notice
    from seedance_batch._events import RunStarted as RunStarted
    from seedance_batch._gallery import render_gallery as render_gallery
    from seedance_batch._gallery import write_gallery as write_gallery
    from seedance_batch._job_spec import JobSpec as JobSpec
    from seedance_batch._manifest import Execution as Execution
    from seedance_batch._manifest import Manifest as Manifest
    from seedance_batch._manifest import load_manifest as load_manifest
    from seedance_batch._planner import Job as Job
    from seedance_batch._planner import Plan as Plan
    from seedance_batch._planner import Totals as Totals
    from seedance_batch._planner import plan as plan
    from seedance_batch._prune import PruneResult as PruneResult
    from seedance_batch._prune import prune as prune
    from seedance_batch._run import run as run
    from seedance_batch._run import run_async as run_async
    from seedance_batch._run_values import RunOptions as RunOptions
    from seedance_batch._run_values import RunSummary as RunSummary
    from seedance_batch._status import JobStatus as JobStatus
    from seedance_batch._status import Status as Status
    from seedance_batch._status import status as status
    from seedance_batch.client import ClientStats as ClientStats
    from seedance_batch.client import CreateOutcome as CreateOutcome
    from seedance_batch.client import Download as Download
    from seedance_batch.client import RetryEvent as RetryEvent
    from seedance_batch.client import RetryPolicy as RetryPolicy
    from seedance_batch.client import SeedanceClient as SeedanceClient
    from seedance_batch.client import Task as Task
    from seedance_batch.lockfile import ImageRecord as ImageRecord
    from seedance_batch.lockfile import JobRecord as JobRecord
    from seedance_batch.lockfile import Lockfile as Lockfile
    from seedance_batch.lockfile import LockfileSnapshot as LockfileSnapshot
    from seedance_batch.lockfile import default_lockfile_path as default_lockfile_path
    from seedance_batch.lockfile import read_lockfile as read_lockfile

    __version__: str

__all__ = [
    "BudgetExceededError",
    "ConfigurationError",
    "Event",
    "ImageSaved",
    "JobFinished",
    "JobSubmitted",
    "LockHeldError",
    "LockfileError",
    "Manifest",
    "ManifestError",
    "Notice",
    "Plan",
    "RunOptions",
    "RunStarted",
    "RunSummary",
    "SeedanceBatchError",
    "diff_plans",
    "load_manifest",
    "plan",
    "prune",
    "run",
    "run_async",
    "status",
    "write_gallery",
]

#: Where each public name is defined: imported from there on first use.
_PUBLIC: dict[str, str] = {
    "BudgetExceededError": "seedance_batch._errors",
    "ConfigurationError": "seedance_batch._errors",
    "Event": "seedance_batch._events",
    "ImageSaved": "seedance_batch._events",
    "JobFinished": "seedance_batch._events",
    "JobSubmitted": "seedance_batch._events",
    "LockHeldError": "seedance_batch._errors",
    "LockfileError": "seedance_batch._errors",
    "Manifest": "seedance_batch._manifest",
    "ManifestError": "seedance_batch._errors",
    "Notice": "seedance_batch._events",
    "Plan": "seedance_batch._planner",
    "RunOptions": "seedance_batch._run_values",
    "RunStarted": "seedance_batch._events",
    "RunSummary": "seedance_batch._run_values",
    "SeedanceBatchError": "seedance_batch._errors",
    "diff_plans": "seedance_batch._diff",
    "load_manifest": "seedance_batch._manifest",
    "plan": "seedance_batch._planner",
    "prune": "seedance_batch._prune",
    "run": "seedance_batch._run",
    "run_async": "seedance_batch._run",
    "status": "seedance_batch._status",
    "write_gallery": "seedance_batch._gallery",
}

#: Names of the 0.1 top level that are no longer in ``__all__``: they still resolve, unlisted.
#: Errors warn towards :mod:`seedance_batch.errors`; the client's and the lockfile's names will
#: warn towards their own subpackages once those exist (issue 12, point 1).
_FORMER: dict[str, tuple[str, str | None]] = {
    **{
        name: ("seedance_batch._errors", "seedance_batch.errors")
        for name in (
            "ApiError",
            "ApiProtocolError",
            "AuthenticationError",
            "CreditsExhaustedError",
            "Diagnostic",
            "DownloadError",
            "NetworkError",
            "RequestRejectedError",
            "TaskNotFoundError",
            "TransientApiError",
        )
    },
    **{
        name: ("seedance_batch.client", None)
        for name in (
            "ClientStats",
            "CreateOutcome",
            "Download",
            "RetryEvent",
            "RetryPolicy",
            "SeedanceClient",
            "Task",
        )
    },
    **{
        name: ("seedance_batch.lockfile", None)
        for name in (
            "ImageRecord",
            "JobRecord",
            "Lockfile",
            "LockfileSnapshot",
            "default_lockfile_path",
            "read_lockfile",
        )
    },
    "Budget": ("seedance_batch._budget", None),
    "Execution": ("seedance_batch._manifest", None),
    "Job": ("seedance_batch._planner", None),
    "JobSpec": ("seedance_batch._job_spec", None),
    "JobStatus": ("seedance_batch._status", None),
    "PlanDiff": ("seedance_batch._diff", None),
    "PruneResult": ("seedance_batch._prune", None),
    "Status": ("seedance_batch._status", None),
    "Totals": ("seedance_batch._planner", None),
    "render_gallery": ("seedance_batch._gallery", None),
}

#: What ``__version__`` says when the package is not installed (run from a bare checkout).
UNKNOWN_VERSION = "0+unknown"


def _version() -> str:
    """The installed distribution's version: written once, in ``pyproject.toml``."""
    from importlib import metadata

    try:
        return metadata.version("seedance-batch")
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, then keep the name here (PEP 562)."""
    if name == "__version__":
        value: Any = _version()
    elif name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _FORMER:
        module, home = _FORMER[name]
        if home is not None:
            import warnings

            warnings.warn(
                f"seedance_batch.{name} is not in the top-level API any more; "
                f"import it from {home}",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(home), name)  # warns on each use
        value = getattr(importlib.import_module(module), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
