"""Where an export delivers: a destination that holds named files, a folder or an S3 prefix."""

from __future__ import annotations

import importlib
from typing import Protocol

from seedance_batch._errors import DeliveryError

__all__ = ["Target", "name_parts", "open_target"]


class Target(Protocol):
    """A destination of delivered files, addressed by relative ``/``-separated names that the
    caller has already checked to stay inside it.

    Every method raises :class:`~seedance_batch.errors.DeliveryError` (or
    :class:`~seedance_batch.errors.DeliveryRefusedError` for refused credentials) with one line
    naming the destination, never a lower-layer exception.
    """

    def describe(self) -> str:
        """The destination as the user wrote it (``exports/web``, ``s3://bucket/prefix``)."""
        ...

    def sha256_of(self, name: str) -> str | None:
        """The SHA-256 (hex) of the file at ``name``, or None when there is none."""
        ...

    def read(self, name: str) -> bytes | None:
        """The bytes at ``name``, or None when there is none."""
        ...

    def write(self, name: str, data: bytes, sha256: str) -> None:
        """Put ``data`` (whose SHA-256 is ``sha256``) at ``name``, whole or not at all."""
        ...

    def delete(self, name: str) -> None:
        """Remove the file at ``name``; a missing one is no error."""
        ...


def name_parts(described: str, name: str) -> list[str]:
    """The ``/``-separated parts of ``name``, refused in one line naming the destination when
    ``name`` is empty, absolute, holds a backslash or an empty, ``.`` or ``..`` part."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise DeliveryError(f"{described}: {name!r} is no name inside the destination")
    return parts


def open_target(dest: str, *, endpoint_url: str | None = None) -> Target:
    """The destination ``dest`` names: an ``s3://bucket/prefix`` URL, else a folder."""
    if dest.startswith("s3://"):
        s3 = importlib.import_module("seedance_batch.delivery._s3")  # boto3 only when asked
        target: Target = s3.S3Target(dest, endpoint_url=endpoint_url)
        return target
    from seedance_batch.delivery._folder import FolderTarget

    return FolderTarget(dest)
