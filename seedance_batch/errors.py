"""Every error seedance-batch raises on purpose, under one root: :class:`SeedanceBatchError`.

The few a script usually catches are also in the top-level package; the whole tree, and the
:class:`Diagnostic` a :class:`ManifestError` carries, are here::

    from seedance_batch.errors import ApiError, Diagnostic, LockfileMismatchError
"""

from __future__ import annotations

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
    LockfileMismatchError,
    LockfileWriteError,
    LockHeldError,
    ManifestError,
    NetworkError,
    OutputError,
    RequestRejectedError,
    SeedanceBatchError,
    SelectionError,
    TaskNotFoundError,
    TransientApiError,
    UnreachableError,
)

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
    "LockfileMismatchError",
    "LockfileWriteError",
    "ManifestError",
    "NetworkError",
    "OutputError",
    "RequestRejectedError",
    "SeedanceBatchError",
    "SelectionError",
    "TaskNotFoundError",
    "TransientApiError",
    "UnreachableError",
]
