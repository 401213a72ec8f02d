"""A manifest as it was at a git revision (``HEAD~1:manifests/x.yaml``), for ``diff OLD``.

The revision's manifest is read with git from the repository that holds the new manifest,
together with the data files beside it at that revision (YAML, JSON, JSON Lines and CSV: the
fragments it extends and the rows it reads), into a temporary folder, and loaded from there;
its problems and its ``file`` name the revision, never the temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from seedance_batch._errors import ConfigurationError, ManifestError
from seedance_batch._manifest import Manifest, load_manifest

__all__ = ["is_revision", "manifest_at_revision"]

#: What a manifest may bring in from beside it: fragments (``extends``) and rows files.
_DATA_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl", ".csv")
_BYTE_SUFFIXES = tuple(suffix.encode() for suffix in _DATA_SUFFIXES)
#: Seconds a git command may take before the diff gives up on it.
_GIT_TIMEOUT = 60


def is_revision(text: str) -> bool:
    """``REV:PATH`` that names no file: a git revision and a path in it."""
    revision, colon, path = text.partition(":")
    return bool(colon and revision and path) and not os.path.exists(text)


def _git(args: list[str], cwd: Path, spec: str) -> bytes:
    git = shutil.which("git")
    if git is None:
        raise ConfigurationError(f"{spec}: a git revision, but git is not installed")
    try:
        done = subprocess.run(
            [git, *args], cwd=cwd, capture_output=True, check=False, timeout=_GIT_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigurationError(f"{spec}: git failed: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
        raise ConfigurationError(f"{spec}: {lines[0].removeprefix('fatal: ')}")
    return done.stdout


def _in_repository(path: str, root: Path) -> str:
    """``path`` relative to the repository's root: as written (git's rule), or from the
    current folder when it starts with ``./`` or ``../``."""
    if not path.startswith(("./", "../")):
        return path
    return Path(os.path.relpath(Path.cwd() / path, root)).as_posix()


@contextlib.contextmanager
def manifest_at_revision(spec: str, repository: Path) -> Iterator[Manifest]:
    """The manifest ``REV:PATH`` names, read from the git repository that holds the folder
    ``repository``; valid inside the ``with`` block only (its files are temporary).

    Raises :class:`ConfigurationError` (one line, exit 2) when git, the repository, the
    revision or the path is missing, and :class:`ManifestError` when the manifest is invalid.
    """
    revision, _, path = spec.partition(":")
    folder = repository if repository.is_dir() else repository.parent
    root = Path(_git(["rev-parse", "--show-toplevel"], folder, spec).decode().strip())
    relative = _in_repository(path, root)
    _git(["cat-file", "-e", f"{revision}:{relative}"], root, spec)
    listed = _git(["ls-tree", "-r", "-z", "--name-only", revision], root, spec).split(b"\0")
    data = sorted({os.fsdecode(n) for n in listed if n.lower().endswith(_BYTE_SUFFIXES)})
    archive_args = ["--literal-pathspecs", "archive", "--format=tar", revision, "--", relative]
    archive = _git([*archive_args, *data], root, spec)
    with tempfile.TemporaryDirectory(prefix="seedance-batch-revision-") as temporary:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(temporary, filter="data")
            else:  # pragma: no cover - Python before 3.10.12 / 3.11.4: git's own tar
                tar.extractall(temporary)
        here = Path(temporary) / relative
        try:
            manifest = load_manifest(here)
        except ManifestError as exc:
            raise ManifestError(
                dataclasses.replace(d, file=_named(d.file, temporary, revision))
                for d in exc.diagnostics
            ) from None
        yield dataclasses.replace(manifest, file=spec)


def _named(file: str, temporary: str, revision: str) -> str:
    """A file of the temporary folder as ``REV:PATH``."""
    prefix = temporary + os.sep
    if not file.startswith(prefix):
        return file
    return f"{revision}:{Path(file[len(prefix) :]).as_posix()}"
