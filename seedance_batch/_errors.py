"""The one exception tree of seedance-batch.

Every error the library raises on purpose derives from :class:`SeedanceBatchError`. Lower-layer
errors (yaml, httpx, OSError) are translated where they enter the library, with ``raise ... from``.
The command line maps each class to an exit code in one place (``cli._errors``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ApiError",
    "ApiProtocolError",
    "AuthenticationError",
    "BudgetExceededError",
    "ConfigurationError",
    "CreditsExhaustedError",
    "DeliveryError",
    "DeliveryRefusedError",
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

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in an input file, pointing at a line and column (both 1-based)."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        where = f"{self.path}: " if self.path else ""
        position = f":{self.line}:{self.col}" if self.line > 0 else ""  # line 0: the whole file
        return f"{self.file}{position}: {where}{prefix}{self.message}"


class SeedanceBatchError(Exception):
    """Base of every error seedance-batch raises on purpose."""


class ManifestError(SeedanceBatchError):
    """A manifest is not valid. Carries every problem found, in file order."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ConfigurationError(SeedanceBatchError):
    """Bad flags or environment: a missing API key, an insecure base URL, a bad path."""


class SelectionError(ConfigurationError):
    """``--only`` or ``--limit`` chose nothing the plan has (exit 2, listing the job names)."""


class OutputError(SeedanceBatchError):
    """A file or folder could not be written or read: a full disk, a read-only folder, a file
    where a folder must be. ``path`` names it; the message says the reason. Exit 1: the input
    was fine, the lockfile stays valid, and a rerun after the fix resumes."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    @classmethod
    def from_os_error(cls, path: object, exc: OSError, doing: str = "") -> OutputError:
        """The error for ``exc`` met while ``doing`` something (``"cannot write"``) to ``path``."""
        reason = exc.strerror or str(exc) or type(exc).__name__
        return cls(str(path), f"{doing}: {reason}" if doing else reason)


class LockfileError(SeedanceBatchError):
    """A lockfile cannot be read or does not match its schema (bad input, exit 2)."""


class LockfileMismatchError(LockfileError):
    """The lockfile belongs to another campaign (another manifest ``name``); ``--adopt`` takes
    it over on purpose."""


class LockfileWriteError(LockfileError, OutputError):
    """The lockfile or its journal could not be written mid-run (exit 1, not 2: creates may have
    been sent). What the run knows is printed so that nothing paid for is lost."""

    def __init__(self, path: str, reason: str) -> None:
        OutputError.__init__(self, path, reason)


class LockHeldError(LockfileError):
    """Another process holds the lockfile's run lock."""

    def __init__(self, path: str, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path}: another run holds this lockfile ({holder})")


class BudgetExceededError(SeedanceBatchError):
    """What a run would spend is over the budget; nothing was sent."""

    def __init__(self, would_spend: int, max_credits: int, *, spent: int = 0) -> None:
        self.would_spend = would_spend
        self.max_credits = max_credits
        self.spent = spent
        already = f"{spent} credits already spent, " if spent else ""
        super().__init__(
            f"budget exceeded: {already}this run would spend up to {would_spend} credits, "
            f"max_credits is {max_credits}"
        )


class ApiError(SeedanceBatchError):
    """The API answered with an error. ``status`` is the HTTP status, or None."""

    #: True on an error that ends a create after an attempt that may have reached the server
    #: (a timeout or reset after sending, a 2xx answer without a task id): a task may exist,
    #: and be charged, though no id came back.
    task_may_exist: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        self.api_message = message
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)


class AuthenticationError(ApiError):
    """401 or 403: the API refused the key. The run stops."""


class CreditsExhaustedError(ApiError):
    """402: the account has no credits left. No new task is submitted."""


class RequestRejectedError(ApiError):
    """400 or 422: the API rejected the request itself; retrying it unchanged cannot help."""


class TransientApiError(ApiError):
    """429 or 5xx still answered after every retry."""


class ApiProtocolError(ApiError):
    """The API answered something that cannot be understood (not JSON, no task id, ...)."""


class TaskNotFoundError(ApiError):
    """404 on a task, after a few retries: the API does not know the id (expired or unknown)."""


class NetworkError(SeedanceBatchError):
    """The connection failed (refused, reset, timed out) after every retry."""

    #: As :attr:`ApiError.task_may_exist`: a create ends so, but one of its attempts may have
    #: reached the server.
    task_may_exist: bool = False


class UnreachableError(NetworkError):
    """The API's host cannot be resolved or connected to: the run says so once and stops
    (exit 1). Nothing was sent by the attempts that raised it."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"cannot reach the API at {host}: {reason}")


class DownloadError(SeedanceBatchError):
    """An image could not be downloaded and verified.

    ``status`` is the HTTP status of the last answer, when there was one: 403, 404 and 410
    mean the URL is gone (the job fails); None means the connection or the bytes were at fault.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class DeliveryError(SeedanceBatchError):
    """An export or a verify could not read or write its destination (a folder or an S3
    prefix): one line naming the destination and the reason (exit 1). What was delivered before
    the failure stays listed, so a rerun resumes."""


class DeliveryRefusedError(DeliveryError):
    """The destination refused the credentials or the access (S3's 403, a missing bucket's
    owner), so nothing more is sent (exit 3). The message never holds a credential."""
