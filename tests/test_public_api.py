"""The public API: a curated __init__, pinned, and an error tree with one root."""

from __future__ import annotations

import inspect

import seedance_batch
from seedance_batch import SeedanceBatchError

PUBLIC = {
    "ApiError", "ApiProtocolError", "AuthenticationError", "Budget", "BudgetExceededError",
    "ClientStats", "ConfigurationError", "CreateOutcome", "CreditsExhaustedError", "Diagnostic",
    "Download", "DownloadError", "Event", "Execution", "ImageRecord", "ImageSaved", "Job",
    "JobFinished", "JobRecord", "JobSpec", "JobStatus", "JobSubmitted", "LockHeldError",
    "Lockfile", "LockfileError", "LockfileSnapshot", "Manifest", "ManifestError", "NetworkError",
    "Notice", "Plan", "PlanDiff", "PruneResult", "RequestRejectedError", "RetryEvent",
    "RetryPolicy", "RunOptions", "RunStarted", "RunSummary", "SeedanceBatchError",
    "SeedanceClient", "Status", "Task", "TaskNotFoundError", "Totals", "TransientApiError",
    "__version__", "default_lockfile_path", "diff_plans", "load_manifest", "plan", "prune",
    "read_lockfile", "render_gallery", "run", "run_async", "status", "write_gallery",
}  # fmt: skip


def test_all_is_pinned() -> None:
    """__all__ lists exactly the public names; adding or removing one is a decision."""
    assert set(seedance_batch.__all__) == PUBLIC
    assert sorted(seedance_batch.__all__) == seedance_batch.__all__


def test_every_public_name_exists() -> None:
    """Every name in __all__ is importable from the package."""
    for name in seedance_batch.__all__:
        assert hasattr(seedance_batch, name), name


def test_every_error_derives_from_one_root() -> None:
    """Every exception the package exports is a SeedanceBatchError."""
    errors = [
        obj
        for obj in vars(seedance_batch).values()
        if inspect.isclass(obj) and issubclass(obj, BaseException)
    ]
    assert len(errors) >= 14
    assert all(issubclass(error, SeedanceBatchError) for error in errors)
