"""The lockfile package's public names, pinned: its __all__ and where each one comes from."""

from __future__ import annotations

import seedance_batch.lockfile

PUBLIC = [
    "HEADER_SIZE", "LOCKFILE_VERSION", "STATES", "Holder", "ImageRecord", "JobRecord",
    "JobState", "Lockfile", "LockfileSnapshot", "LockfileStates", "PlannedJob", "Spent", "State",
    "default_lockfile_path", "journal_path", "lock_holder", "read_lockfile",
    "read_lockfile_states", "render_lockfile", "schema_path",
]  # fmt: skip


def test_lockfile_all_is_pinned() -> None:
    """seedance_batch.lockfile.__all__ lists exactly these names: adding one is a decision."""
    assert seedance_batch.lockfile.__all__ == PUBLIC


def test_every_lockfile_name_resolves() -> None:
    """Each name of the lockfile's __all__ is bound in the package, and star-import binds just
    those."""
    space: dict[str, object] = {}
    exec("from seedance_batch.lockfile import *", space)
    assert sorted(set(space) - {"__builtins__"}) == sorted(PUBLIC)
    for name in PUBLIC:
        assert space[name] is getattr(seedance_batch.lockfile, name)


def test_the_states_are_the_shared_vocabulary() -> None:
    """The lockfile's State and STATES are seedance_batch._states' own, not a copy."""
    from seedance_batch import _states

    assert seedance_batch.lockfile.STATES is _states.STATES
    assert seedance_batch.lockfile.State is _states.State
