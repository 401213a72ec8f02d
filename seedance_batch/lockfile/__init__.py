"""The lockfile: a campaign's resumable state (contract, section 5).

``spring.lock.json`` sits beside ``spring.yaml``: ``{"version": 1, "manifest": {"name", "sha256"},
"nonce", "output", "spent": {"credits", "possible_double_charges"}, "jobs": {ID: {...}}}``
(a rerolled job's entry ends with ``"takes"``, its earlier takes),
pretty-printed with a fixed key order, planned jobs in plan order, then the orphans. It is
committed with the manifest and validated against ``schemas/lockfile.schema.json``. ``nonce`` is
random, made when the lockfile is created and kept: it makes the Idempotency-Keys of this
campaign its own. ``spent`` only grows (every rise of a record's charges adds to it; a prune
never lowers it).

The modules, one idea each: ``_records`` (the frozen values), ``_check`` (the fast check beside
the schema), ``_render`` (the pretty writer), ``_strict_json`` (duplicate keys and conflict
markers refused), ``_journal`` (append-only changes and their fold), ``_runlock`` (the OS lock
and its holder), ``_read`` (snapshots read without the lock), ``_store`` (the
:class:`Lockfile` a run writes through) and ``_merge`` (two lockfiles' records of a job as one,
for ``merge``). POSIX only (``flock``, ``pread``/``pwrite``), like the
rest of the tool's file handling.
"""

from __future__ import annotations

from seedance_batch._states import STATES, State
from seedance_batch.lockfile._check import LOCKFILE_VERSION, schema_path
from seedance_batch.lockfile._journal import HEADER_SIZE, journal_path
from seedance_batch.lockfile._merge import STATE_RANK, Folded, fold_records
from seedance_batch.lockfile._read import (
    LockfileSnapshot,
    LockfileStates,
    default_lockfile_path,
    read_lockfile,
    read_lockfile_states,
)
from seedance_batch.lockfile._records import (
    Holder,
    ImageRecord,
    JobRecord,
    JobState,
    PlannedJob,
    Spent,
    TakeRecord,
)
from seedance_batch.lockfile._render import render_lockfile
from seedance_batch.lockfile._runlock import lock_holder
from seedance_batch.lockfile._store import Lockfile

__all__ = [
    "HEADER_SIZE",
    "LOCKFILE_VERSION",
    "STATES",
    "STATE_RANK",
    "Folded",
    "Holder",
    "ImageRecord",
    "JobRecord",
    "JobState",
    "Lockfile",
    "LockfileSnapshot",
    "LockfileStates",
    "PlannedJob",
    "Spent",
    "State",
    "TakeRecord",
    "default_lockfile_path",
    "fold_records",
    "journal_path",
    "lock_holder",
    "read_lockfile",
    "read_lockfile_states",
    "render_lockfile",
    "schema_path",
]
