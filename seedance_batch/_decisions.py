"""Review decisions as code: ``<stem>.review.yaml`` beside the manifest (contract, section 10).

One entry per image, keyed by its SHA-256 (so a rename or a move keeps it), in plan order, with
the job id, the path, the decision (``approved``, ``rejected`` or ``favourite``, which also
counts as approved), an optional note and who decided::

    # Review decisions of "spring" (seedance-batch review), one entry per image by SHA-256.
    version: 1
    campaign: spring
    decisions:
      5e8f...c3:
        job_id: 0a1b2c3d4e5f6a7b
        path: hero/serum_1x1-0a1b2c3d/1.png
        decision: approved
        by: Ada Lovelace
        note: "warmer than the others, keep"

Every decision rewrites the file at once, atomically, under an OS lock (``flock`` on the
file's folder, so no lock file is left beside it): two browser tabs, or two review apps, never
lose each other's decisions. Entries of images the campaign no longer has (pruned, edited away)
are kept after the others, untouched, and ignored. The file is read strictly: a broken one is
one line naming the file, line and column (exit 2, as a broken manifest is).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from seedance_batch._errors import Diagnostic, ManifestError, OutputError
from seedance_batch._files import atomic_write
from seedance_batch._yaml import Loaded, format_path, load_yaml

__all__ = [
    "APPROVING",
    "DECISIONS",
    "REVIEW_SUFFIX",
    "Decision",
    "Entry",
    "Located",
    "ReviewFile",
    "ReviewFileError",
    "default_review_path",
    "read_review",
    "render_review",
    "who_decides",
]

Decision = Literal["approved", "rejected", "favourite"]
DECISIONS: Final[tuple[Decision, ...]] = get_args(Decision)
#: The decisions that approve an image.
APPROVING: Final = frozenset({"approved", "favourite"})
REVIEW_SUFFIX: Final = ".review.yaml"
VERSION: Final = 1
_FIELDS: Final = ("job_id", "path", "decision", "by", "note")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9 ._/@()+-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONFLICT = re.compile(rb"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


class ReviewFileError(ManifestError):
    """A review file cannot be read: one diagnostic naming its file, line and column."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One image's decision, as the review file holds it."""

    sha256: str
    job_id: str | None
    path: str | None
    decision: Decision
    by: str | None = None
    note: str | None = None

    @property
    def approved(self) -> bool:
        """Approved or favourite."""
        return self.decision in APPROVING


@dataclass(frozen=True, slots=True)
class Located:
    """Where an image of the campaign is: its job id and path, for its entry."""

    job_id: str
    path: str


def default_review_path(manifest_path: str | os.PathLike[str]) -> Path:
    """``<stem>.review.yaml`` beside the manifest (``spring.yaml`` -> ``spring.review.yaml``)."""
    path = Path(manifest_path)
    return path.with_name(path.stem + REVIEW_SUFFIX)


def who_decides(folder: Path | None = None) -> str:
    """git's ``user.name`` (as seen from ``folder``), else the login name, else ``unknown``."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "config", "user.name"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        name = done.stdout.strip()
        if done.returncode == 0 and name:
            return name
    with contextlib.suppress(Exception):  # getpass raises OSError or KeyError without a user
        return getpass.getuser()
    return "unknown"


# --------------------------------------------------------------------------------------------
# Reading


def _fail(file: Path, line: int, col: int, where: str, message: str) -> ReviewFileError:
    return ReviewFileError([Diagnostic(str(file), line, col, where, message)])


def read_review(path: Path) -> dict[str, Entry]:
    """Every entry of the review file at ``path``, in file order; empty when there is none.

    Raises :class:`ReviewFileError` (one line, file:line:col) for a file that is not a review
    file, and :class:`OutputError` when it cannot be read.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise OutputError.from_os_error(path, exc, "cannot read the review file") from exc
    conflict = _CONFLICT.search(data)
    if conflict is not None:
        line = data.count(b"\n", 0, conflict.start()) + 1
        raise _fail(path, line, 1, "", "git conflict markers: resolve the merge first")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, 0, 0, "", "not UTF-8 text") from None
    canonical = _read_canonical(text)
    if canonical is not None:
        return canonical
    loaded = load_yaml(text, str(path))
    if loaded.errors:
        raise ReviewFileError(loaded.errors[:1])
    return _entries(path, loaded)


def _read_canonical(text: str) -> dict[str, Entry] | None:
    """The entries of a file exactly as :func:`render_review` writes it (read fast, line by
    line); None for any other text, which the strict YAML reader then reads or refuses."""
    lines = text.split("\n")
    if len(lines) < 5 or lines[1] != f"version: {VERSION}" or not lines[2].startswith("campaign: "):
        return None
    try:
        campaign = _unscalar(lines[2][len("campaign: ") :])
        fields: dict[str, dict[str, str]] = {}
        current: dict[str, str] = {}
        for line in lines[4:-1]:
            if line.startswith("    "):
                name, _, value = line[4:].partition(": ")
                current[name] = _unscalar(value)
            else:
                current = fields.setdefault(line[2:-1].strip('"'), {})
        entries = {sha: _entry(sha, f) for sha, f in fields.items()}
    except (KeyError, ValueError):
        return None
    if not all(_SHA256.fullmatch(sha) for sha in entries):
        return None
    return entries if render_review(campaign, entries.values()) == text else None


def _entry(sha256: str, fields: Mapping[str, str]) -> Entry:
    decision = fields["decision"]
    if decision not in DECISIONS:
        raise ValueError(decision)
    job_id, path, by, note = (fields.get(n) for n in ("job_id", "path", "by", "note"))
    return Entry(sha256, job_id, path, decision, by, note)


def _unscalar(text: str) -> str:
    if text.startswith('"'):
        value = json.loads(text)
        if not isinstance(value, str):
            raise ValueError(text)
        return value
    return text


def _entries(path: Path, loaded: Loaded) -> dict[str, Entry]:
    def fail(at: tuple[str | int, ...], message: str, key: bool = False) -> ReviewFileError:
        pos = loaded.key_pos(at) if key else loaded.value_pos(at)
        return _fail(path, pos.line, pos.col, format_path(at), message)

    doc = loaded.data
    if not isinstance(doc, dict):
        raise fail((), "a review file is a mapping with version, campaign and decisions")
    for name in doc:
        if name not in ("version", "campaign", "decisions"):
            raise fail((name,), f"unknown field {name!r}", key=True)
    if doc.get("version") != VERSION:
        raise fail(("version",), f"version must be {VERSION}")
    decisions = doc.get("decisions") or {}
    if not isinstance(decisions, dict):
        raise fail(("decisions",), "decisions must be a mapping of SHA-256 -> entry")
    entries: dict[str, Entry] = {}
    for sha, fields in decisions.items():
        at = ("decisions", sha)
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise fail(at, "each key is an image's SHA-256 (64 lowercase hex digits)", key=True)
        if not isinstance(fields, dict):
            raise fail(at, "an entry is a mapping with decision, job_id, path, by, note")
        for name, value in fields.items():
            if name not in _FIELDS:
                raise fail((*at, name), f"unknown field {name!r}", key=True)
            if value is not None and not isinstance(value, str):
                raise fail((*at, name), f"{name} must be text")
        decision = fields.get("decision")
        if decision not in DECISIONS:
            raise fail((*at, "decision"), "decision must be approved, rejected or favourite")
        entries[sha] = _entry(sha, fields)
    return entries


# --------------------------------------------------------------------------------------------
# Writing


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when it reads back as itself, else double-quoted."""
    if _PLAIN.fullmatch(text) and text == text.rstrip() and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _key(sha256: str) -> str:
    """A hash as a mapping key: quoted when YAML would read it as a number (all digits, 0b...)."""
    return f'"{sha256}"' if sha256.isdigit() or sha256.startswith("0b") else sha256


def render_review(campaign: str, entries: Iterable[Entry]) -> str:
    """The review file's text for ``entries``, in the order given."""
    lines = [
        f"# Review decisions of {json.dumps(campaign, ensure_ascii=False)} (seedance-batch "
        "review), one entry per image by SHA-256.",
        f"version: {VERSION}",
        f"campaign: {_scalar(campaign)}",
    ]
    body = []
    for entry in entries:
        body.append(f"  {_key(entry.sha256)}:")
        for name in _FIELDS:
            value = getattr(entry, name)
            if value is not None:
                body.append(f"    {name}: {_scalar(value)}")
    lines.append("decisions:" if body else "decisions: {}")
    return "\n".join([*lines, *body]) + "\n"


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An OS lock (``flock``) on ``folder`` itself for as long as the block lasts: it leaves no
    file behind, and a process that dies releases it."""
    from filelock import lock_descriptor, unlock_descriptor

    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise OutputError.from_os_error(
            folder, exc, "cannot lock the review file's folder"
        ) from exc
    try:
        lock_descriptor(fd, blocking=True)
        try:
            yield
        finally:
            unlock_descriptor(fd)
    finally:
        os.close(fd)


class ReviewFile:
    """A campaign's review file, read again only when it changed on disk, and rewritten whole
    on every decision under the lock (safe from several threads and processes at once)."""

    def __init__(self, path: Path, campaign: str, by: str) -> None:
        self.path = Path(path)
        self.campaign = campaign
        self.by = by
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int] | None, dict[str, Entry]] = (None, {})

    def _mark(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def entries(self) -> dict[str, Entry]:
        """The entries on disk now (a copy)."""
        with self._lock:
            return dict(self._read())

    def _read(self) -> dict[str, Entry]:
        mark = self._mark()
        if mark is None or mark != self._cache[0]:
            self._cache = (mark, read_review(self.path))
        return self._cache[1]

    def decide(
        self,
        images: Mapping[str, Located],
        sha256: str,
        decision: Decision | None,
        note: str | None = None,
    ) -> Entry | None:
        """Record ``decision`` for the image ``sha256`` (None: undecided again, its entry goes)
        with ``note``, and rewrite the file at once; the new entry, or None.

        ``images`` maps each hash of the campaign to where it is, in plan order: entries follow
        that order with their job id and path brought up to date; entries of other hashes
        (pruned images) follow, as read. KeyError for a hash ``images`` does not have.
        """
        located = images[sha256]
        with self._lock, _folder_lock(self.path.parent):
            entries = dict(self._read())
            entry = None
            if decision is None:
                entries.pop(sha256, None)
            else:
                entry = Entry(sha256, located.job_id, located.path, decision, self.by, note or None)
                entries[sha256] = entry
            ordered = {e.sha256: e for e in _ordered(images, entries)}
            text = render_review(self.campaign, ordered.values())
            atomic_write(self.path, text.encode("utf-8"), what="the review file")
            self._cache = (self._mark(), ordered)
        return entry


def _ordered(images: Mapping[str, Located], entries: Mapping[str, Entry]) -> Iterator[Entry]:
    for sha256, located in images.items():
        entry = entries.get(sha256)
        if entry is not None:
            yield Entry(sha256, located.job_id, located.path, entry.decision, entry.by, entry.note)
    for sha256, entry in entries.items():
        if sha256 not in images:
            yield entry
