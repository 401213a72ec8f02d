"""seedance-batch: YAML manifests to reproducible image campaigns on the Seedance 2.1 API."""

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
    TransientApiError,
)
from seedance_batch._manifest import Execution, JobSpec, Manifest, load_manifest
from seedance_batch._planner import Budget, Job, Plan, Totals, plan

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "ApiProtocolError",
    "AuthenticationError",
    "Budget",
    "BudgetExceededError",
    "ConfigurationError",
    "CreditsExhaustedError",
    "Diagnostic",
    "DownloadError",
    "Execution",
    "Job",
    "JobSpec",
    "LockHeldError",
    "LockfileError",
    "Manifest",
    "ManifestError",
    "NetworkError",
    "Plan",
    "RequestRejectedError",
    "SeedanceBatchError",
    "Totals",
    "TransientApiError",
    "__version__",
    "load_manifest",
    "plan",
]
