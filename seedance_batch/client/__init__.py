"""The async client of the Seedance 2.1 image API, and the values it answers with.

:class:`SeedanceClient` creates tasks, polls them and downloads their images into an
:class:`ImageSink` the caller passes (the client writes no file); it retries as a
:class:`RetryPolicy` says and announces each retry with a :class:`RetryEvent`.
"""

from __future__ import annotations

from seedance_batch.client._answers import Task
from seedance_batch.client._client import ClientStats, CreateOutcome, SeedanceClient
from seedance_batch.client._download import Download, ImageSink
from seedance_batch.client._retry import RetryEvent, RetryPolicy

__all__ = [
    "ClientStats",
    "CreateOutcome",
    "Download",
    "ImageSink",
    "RetryEvent",
    "RetryPolicy",
    "SeedanceClient",
    "Task",
]
