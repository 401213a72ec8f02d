"""A folder as an export's destination: files written whole, never outside the folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from seedance_batch._errors import DeliveryError, OutputError
from seedance_batch._files import atomic_write

__all__ = ["FolderTarget"]

_CHUNK = 1 << 20


class FolderTarget:
    """Delivered files under the folder ``dest`` (made when missing)."""

    def __init__(self, dest: str | Path) -> None:
        self._described = str(dest)
        self.root = Path(dest)

    def describe(self) -> str:
        """The folder as the user named it."""
        return self._described

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if (
            not name
            or name.startswith("/")
            or "\\" in name
            or any(p in ("", ".", "..") for p in parts)
        ):
            raise DeliveryError(f"{self._described}: {name!r} is no name inside the destination")
        return self.root.joinpath(*parts)

    def sha256_of(self, name: str) -> str | None:
        """The SHA-256 of the file at ``name``, read in pieces; None when there is none."""
        digest = hashlib.sha256()
        try:
            with self._path(name).open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeliveryError(f"{self._path(name)}: cannot read: {exc.strerror or exc}") from exc
        return digest.hexdigest()

    def read(self, name: str) -> bytes | None:
        """The bytes at ``name``, or None."""
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeliveryError(f"{self._path(name)}: cannot read: {exc.strerror or exc}") from exc

    def write(self, name: str, data: bytes, sha256: str) -> None:
        """Write ``data`` at ``name`` atomically, making its folders."""
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, durable=False, what="cannot write the delivered file")
        except OutputError as exc:
            raise DeliveryError(str(exc)) from exc
        except OSError as exc:
            raise DeliveryError(
                f"{path.parent}: cannot make the folder: {exc.strerror or exc}"
            ) from exc

    def delete(self, name: str) -> None:
        """Remove the file at ``name`` (and folders it leaves empty, up to the root)."""
        path = self._path(name)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise DeliveryError(f"{path}: cannot remove: {exc.strerror or exc}") from exc
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
