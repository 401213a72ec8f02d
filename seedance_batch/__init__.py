"""seedance-batch: YAML manifests to reproducible image campaigns on the Seedance 2.1 API.

The data flows one way, and each step is a call::

    manifest = load_manifest("manifests/demo.yaml")   # ManifestError: every problem, with lines
    planned = plan(manifest)                          # jobs, ids, credits (no network)
    summary = run(manifest, RunOptions(base_url=...)) # submit, poll, download, resumable
    report = status(manifest)                         # what the lockfile says

The simulator of the API lives in :mod:`seedance_batch.simulator`.
"""

from seedance_batch import _startup  # noqa: F401  (first: Ctrl-C while the CLI starts is 130)
from seedance_batch._client import (
    ClientStats,
    CreateOutcome,
    Download,
    RetryEvent,
    RetryPolicy,
    SeedanceClient,
    Task,
)
from seedance_batch._diff import PlanDiff, diff_plans
from seedance_batch._errors import (
    ApiError,
    ApiProtocolError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditsExhaustedError,
    Diagnostic,
    DownloadError,
    LockfileError,
    LockHeldError,
    ManifestError,
    NetworkError,
    RequestRejectedError,
    SeedanceBatchError,
    TaskNotFoundError,
    TransientApiError,
)
from seedance_batch._events import Event, ImageSaved, JobFinished, JobSubmitted, Notice, RunStarted
from seedance_batch._executor import RunOptions, RunSummary, run, run_async
from seedance_batch._gallery import render_gallery, write_gallery
from seedance_batch._lockfile import (
    ImageRecord,
    JobRecord,
    Lockfile,
    LockfileSnapshot,
    default_lockfile_path,
    read_lockfile,
)
from seedance_batch._manifest import Execution, JobSpec, Manifest, load_manifest
from seedance_batch._planner import Budget, Job, Plan, Totals, plan
from seedance_batch._prune import PruneResult, prune
from seedance_batch._status import JobStatus, Status, status

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "ApiProtocolError",
    "AuthenticationError",
    "Budget",
    "BudgetExceededError",
    "ClientStats",
    "ConfigurationError",
    "CreateOutcome",
    "CreditsExhaustedError",
    "Diagnostic",
    "Download",
    "DownloadError",
    "Event",
    "Execution",
    "ImageRecord",
    "ImageSaved",
    "Job",
    "JobFinished",
    "JobRecord",
    "JobSpec",
    "JobStatus",
    "JobSubmitted",
    "LockHeldError",
    "Lockfile",
    "LockfileError",
    "LockfileSnapshot",
    "Manifest",
    "ManifestError",
    "NetworkError",
    "Notice",
    "Plan",
    "PlanDiff",
    "PruneResult",
    "RequestRejectedError",
    "RetryEvent",
    "RetryPolicy",
    "RunOptions",
    "RunStarted",
    "RunSummary",
    "SeedanceBatchError",
    "SeedanceClient",
    "Status",
    "Task",
    "TaskNotFoundError",
    "Totals",
    "TransientApiError",
    "__version__",
    "default_lockfile_path",
    "diff_plans",
    "load_manifest",
    "plan",
    "prune",
    "read_lockfile",
    "render_gallery",
    "run",
    "run_async",
    "status",
    "write_gallery",
]
