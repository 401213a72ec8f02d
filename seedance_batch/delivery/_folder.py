"""A folder as an export's destination: files written whole, never outside the folder (no
name and no symbolic link in it leads out)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from seedance_batch._errors import DeliveryError, OutputError
from seedance_batch._files import atomic_write
from seedance_batch.delivery._target import name_parts

__all__ = ["FolderTarget"]

_CHUNK = 1 << 20
#: A link at a file's own name is not followed (a link among its folders is refused).
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class FolderTarget:
    """Delivered files under the folder ``dest`` (made when missing)."""

    def __init__(self, dest: str | Path) -> None:
        self._described = str(dest)
        self.root = Path(dest)
        self._inside: set[str] = set()  # folders found to stay inside the root

    def describe(self) -> str:
        """The folder as the user named it."""
        return self._described

    def _path(self, name: str) -> str:
        """The file's path; refused when ``name`` or a link among its folders leads out."""
        parts = name_parts(self._described, name)
        folder = "/".join(parts[:-1])
        if folder and folder not in self._inside:  # each folder once: 1,000 files, a few checks
            real_root = os.path.realpath(self.root)
            real = os.path.realpath(os.path.join(real_root, *parts[:-1]))
            if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
                raise DeliveryError(
                    f"{self._described}: {name!r} leads outside the destination (a symbolic link)"
                )
            self._inside.add(folder)
        return os.path.join(self.root, *parts)

    def sha256_of(self, name: str) -> str | None:
        """The SHA-256 of the file at ``name``, read in pieces; None when there is none."""
        path = self._path(name)
        digest = hashlib.sha256()
        try:
            with open(os.open(path, os.O_RDONLY | _NOFOLLOW), "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeliveryError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        return digest.hexdigest()

    def read(self, name: str) -> bytes | None:
        """The bytes at ``name``, or None."""
        path = self._path(name)
        try:
            with open(os.open(path, os.O_RDONLY | _NOFOLLOW), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DeliveryError(f"{path}: cannot read: {exc.strerror or exc}") from exc

    def write(self, name: str, data: bytes, sha256: str) -> None:
        """Write ``data`` at ``name`` atomically, making its folders."""
        path = Path(self._path(name))
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
        path = Path(self._path(name))
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
