"""The lockfile package's public names, pinned: its __all__ and where each one comes from."""

from __future__ import annotations

import seedance_batch.lockfile

PUBLIC = [
    "HEADER_SIZE", "LOCKFILE_VERSION", "STATES", "STATE_RANK", "Folded", "Holder", "ImageRecord",
    "JobRecord", "JobState", "Lockfile", "LockfileSnapshot", "LockfileStates", "PlannedJob",
    "Spent", "State", "TakeRecord", "default_lockfile_path", "fold_records", "journal_path",
    "lock_holder", "read_lockfile",
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


def test_records_are_frozen_dataclasses_not_tuples() -> None:
    """Every record is a frozen dataclass read by field name: none is a tuple that could be
    unpacked by position, and none can be changed in place."""
    import dataclasses

    import pytest

    from seedance_batch.lockfile import Holder, ImageRecord, JobRecord, JobState, Spent, TakeRecord

    values = [
        Holder(pid=1, host="h", since="2025-11-25T16:18:00Z", command="c"),
        ImageRecord(url="u", path="p", sha256="0" * 64, bytes=1),
        JobRecord(id="0" * 16, job="j", variant={}, repeat=0, request={"prompt": "p"}),
        JobState(state="new"),
        Spent(credits=1, possible_double_charges=0),
        TakeRecord(1, None, "new", 0, None, None),
    ]
    for value in values:
        assert dataclasses.is_dataclass(value) and not isinstance(value, tuple)
        with pytest.raises(TypeError):
            iter(value)  # type: ignore[call-overload]
        field = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)
