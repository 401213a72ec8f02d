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

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "ApiProtocolError",
    "AuthenticationError",
    "BudgetExceededError",
    "ConfigurationError",
    "CreditsExhaustedError",
    "Diagnostic",
    "DownloadError",
    "LockHeldError",
    "LockfileError",
    "ManifestError",
    "NetworkError",
    "RequestRejectedError",
    "SeedanceBatchError",
    "TransientApiError",
    "__version__",
]
