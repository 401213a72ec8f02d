"""The campaign's top-level fields: nonce and idempotency keys, spent, output, the campaign
check, task_missing, and who holds the run lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _support.lockfiles import (
    MANIFEST_SHA,
    charged,
    finished,
    make_record,
    read_line,
    spawn,
    stop,
)

from seedance_batch._errors import LockfileError, LockfileMismatchError
from seedance_batch.lockfile import (
    JobRecord,
    Lockfile,
    Spent,
    journal_path,
    lock_holder,
    read_lockfile,
    render_lockfile,
    schema_path,
)

VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text("utf-8")))


def open_lockfile(path: Path, name: str = "spring", *, adopt: bool = False) -> Lockfile:
    """Open ``path`` for a manifest called ``name``."""
    return Lockfile.open(path, manifest_name=name, manifest_sha256=MANIFEST_SHA, adopt=adopt)


def old_lockfile(path: Path, records: list[JobRecord]) -> None:
    """Write a lockfile as the tool wrote it before nonce, output and spent existed."""
    doc = json.loads(render_lockfile("spring", MANIFEST_SHA, records))
    for key in ("nonce", "output", "spent"):
        doc.pop(key, None)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# -- nonce and idempotency keys ------------------------------------------------------------------


def test_nonce_is_made_at_creation_and_kept(tmp_path: Path) -> None:
    """A new lockfile gets a random 16-hex nonce, written at once and kept by every reopen."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        nonce = lockfile.nonce
        assert re.fullmatch(r"[0-9a-f]{16}", nonce)
        assert json.loads(path.read_bytes())["nonce"] == nonce
    with open_lockfile(path) as lockfile:
        assert lockfile.nonce == nonce
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.nonce == nonce


def test_two_lockfiles_made_separately_get_different_nonces(tmp_path: Path) -> None:
    """Two checkouts each making their own lockfile never share idempotency keys."""
    record = make_record(0, state="submitting", attempts=1)
    keys = []
    for folder in ("one", "two"):
        with open_lockfile(tmp_path / folder / "spring.lock.json") as lockfile:
            keys.append(lockfile.idempotency_key(record))
    assert keys[0] != keys[1]


def test_idempotency_key_is_nonce_job_id_attempt(tmp_path: Path) -> None:
    """The key of a create is ``<nonce>-<job id>-<attempt>``; JobRecord has no key of its own."""
    with open_lockfile(tmp_path / "spring.lock.json") as lockfile:
        record = make_record(0, state="submitting", attempts=3)
        assert lockfile.idempotency_key(record) == f"{lockfile.nonce}-{record.id}-3"
    assert not hasattr(record, "idempotency_key")


def test_a_create_another_lockfile_sent_keeps_its_key(tmp_path: Path) -> None:
    """A record with a nonce of its own (a shard's create, folded in by merge) is keyed with
    it, and keeps it through the lockfile and its journal; one without takes the lockfile's."""
    path = tmp_path / "spring.lock.json"
    foreign = "0123456789abcdef"
    record = make_record(0, state="submitting", attempts=2).replace(nonce=foreign)
    with open_lockfile(path) as lockfile:
        assert lockfile.idempotency_key(record) == f"{foreign}-{record.id}-2"
        lockfile.put(record)
        plain = record.replace(nonce=None)
        assert lockfile.idempotency_key(plain) == f"{lockfile.nonce}-{record.id}-2"
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.jobs[record.id].nonce == foreign
    assert json.loads(path.read_bytes())["jobs"][record.id]["nonce"] == foreign


def test_an_old_lockfile_without_a_nonce_gets_one_on_open(tmp_path: Path) -> None:
    """A lockfile written before nonces reads with none, and gets one (saved) when opened."""
    path = tmp_path / "spring.lock.json"
    old_lockfile(path, [make_record(0)])
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.nonce is None
    with open_lockfile(path) as lockfile:
        nonce = lockfile.nonce
    assert re.fullmatch(r"[0-9a-f]{16}", nonce)
    assert json.loads(path.read_bytes())["nonce"] == nonce


# -- spent ------------------------------------------------------------------------------------


def test_spent_adds_every_rise_and_prune_never_lowers_it(tmp_path: Path) -> None:
    """put adds rises of credits_charged and possible_double_charges; falls and remove do not
    lower spent, which survives the fold into the file."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        assert lockfile.spent == Spent(0, 0)
        record = make_record(0, state="failed", attempts=1, credits_charged=4)
        lockfile.put(record)
        lockfile.put(record.replace(credits_charged=10, possible_double_charges=1))
        lockfile.put(record.replace(credits_charged=2))  # a fall: never taken back
        assert lockfile.spent == Spent(10, 1)
        lockfile.put(finished(make_record(1)))  # 4 more
        lockfile.remove([record.id, make_record(1).id])
        assert lockfile.spent == Spent(14, 1)
        assert lockfile.snapshot().spent == Spent(14, 1)
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.spent == Spent(14, 1) and not snapshot.jobs
    assert json.loads(path.read_bytes())["spent"] == {"credits": 14, "possible_double_charges": 1}
    with open_lockfile(path) as lockfile:
        assert lockfile.spent == Spent(14, 1)


def test_an_old_lockfile_starts_spent_from_the_sum_over_its_records(tmp_path: Path) -> None:
    """Without a ``spent`` field, spent is what the records say they cost."""
    path = tmp_path / "spring.lock.json"
    old_lockfile(path, [charged(make_record(0)), finished(make_record(1)), make_record(2)])
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.spent == Spent(8, 1)
    with open_lockfile(path) as lockfile:
        assert lockfile.spent == Spent(8, 1)
    assert json.loads(path.read_bytes())["spent"] == {"credits": 8, "possible_double_charges": 1}


def _kill9(proc: Any) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_spent_after_a_kill_9_is_what_it_is_without_the_crash(tmp_path: Path) -> None:
    """A run killed with -9 after 30 charged puts leaves the same spent as one that closed,
    and folding the journal twice (a crash between the save and the cut) counts it once."""
    crashed, clean = tmp_path / "crashed.lock.json", tmp_path / "clean.lock.json"
    child = spawn("charge", crashed, "30")
    try:
        for index in range(30):
            assert read_line(child) == f"put {index}"
        _kill9(child)
    finally:
        stop(child)
    child = spawn("charge", clean, "30")
    for index in range(30):
        assert read_line(child) == f"put {index}"
    stop(child)
    expected = Spent(120, 30)
    assert read_lockfile(clean).spent == expected  # type: ignore[union-attr]
    assert read_lockfile(crashed).spent == expected  # type: ignore[union-attr]
    leftover = journal_path(crashed).read_bytes()
    with open_lockfile(crashed) as lockfile:  # folds the journal into the file, cuts it
        assert lockfile.spent == expected
    journal_path(crashed).write_bytes(leftover)  # as if the cut never happened
    assert read_lockfile(crashed).spent == expected  # type: ignore[union-attr]
    with open_lockfile(crashed) as lockfile:
        assert lockfile.spent == expected


# -- the file's top level -------------------------------------------------------------------------


def test_top_level_shape_and_order_follow_the_contract(tmp_path: Path) -> None:
    """``{"version", "manifest", "nonce", "output", "spent", "jobs"}``, in that order, valid."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(finished(make_record(0)))
        lockfile.set_output(tmp_path / "outputs" / "spring")
    doc = json.loads(path.read_bytes())
    assert list(doc) == ["version", "manifest", "nonce", "output", "spent", "jobs"]
    assert doc["output"] == "outputs/spring"
    VALIDATOR.validate(doc)


def test_set_output_is_recorded_relative_with_slashes(tmp_path: Path) -> None:
    """set_output stores the folder relative to the lockfile's folder, as a journal line,
    visible in snapshot() and in read_lockfile() while the run still holds the lock."""
    path = tmp_path / "campaign" / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        assert lockfile.output is None
        lockfile.set_output(tmp_path / "renders" / "spring")
        assert lockfile.output == "../renders/spring"
        assert lockfile.snapshot().output == "../renders/spring"
        assert b'"output"' in journal_path(path).read_bytes()
        snapshot = read_lockfile(path)
        assert snapshot is not None and snapshot.output == "../renders/spring"
        lockfile.set_output(Path(os.path.relpath(path.parent / "out", Path.cwd())))
        assert lockfile.output == "out"
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.output == "out"


def test_task_missing_is_written_only_when_set(tmp_path: Path) -> None:
    """JobRecord.task_missing defaults to 0 and is left out of the JSON; set, it round-trips."""
    path = tmp_path / "spring.lock.json"
    missing = make_record(1, state="submitted", task_id="t1", attempts=1, task_missing=1)
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(0))
        lockfile.put(missing)
    doc = json.loads(path.read_bytes())
    assert "task_missing" not in doc["jobs"][make_record(0).id]
    assert doc["jobs"][missing.id]["task_missing"] == 1
    VALIDATOR.validate(doc)
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.jobs[missing.id] == missing
    assert snapshot.jobs[make_record(0).id].task_missing == 0


# -- the campaign check ---------------------------------------------------------------------------


def test_a_lockfile_of_another_campaign_is_refused_unless_adopted(tmp_path: Path) -> None:
    """Opened for a manifest of another name: LockfileMismatchError naming both names, the
    path and ``--adopt``; with adopt=True the lockfile takes the new name and keeps its jobs."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(finished(make_record(0)))
        nonce = lockfile.nonce
    before = path.read_bytes()
    with pytest.raises(LockfileMismatchError) as caught:
        open_lockfile(path, "autumn")
    message = str(caught.value)
    assert "'spring'" in message and "'autumn'" in message and str(path) in message
    assert "--adopt" in message and "\n" not in message
    assert isinstance(caught.value, LockfileError)
    assert path.read_bytes() == before
    with open_lockfile(path, "autumn", adopt=True) as lockfile:
        assert lockfile.manifest_name == "autumn" and lockfile.nonce == nonce
        assert make_record(0).id in lockfile.jobs
    assert json.loads(path.read_bytes())["manifest"]["name"] == "autumn"


def test_read_lockfile_checks_the_campaign_when_given_a_name(tmp_path: Path) -> None:
    """read_lockfile(path, manifest_name=...) refuses another campaign's lockfile the same way."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path):
        pass
    assert read_lockfile(path, manifest_name="spring") is not None
    assert read_lockfile(path) is not None
    with pytest.raises(LockfileMismatchError, match=r"'spring'.*'autumn'.*--adopt"):
        read_lockfile(path, manifest_name="autumn")


# -- who holds the lock ---------------------------------------------------------------------------


def test_lock_holder_names_a_live_holder_and_nobody_after_kill_9(tmp_path: Path) -> None:
    """lock_holder says which process holds the run lock (a real second process), and None
    once that process is killed, when it is released, or when there is no journal."""
    path = tmp_path / "spring.lock.json"
    assert lock_holder(path) is None
    child = spawn("hold", path)
    try:
        pid = int(read_line(child).split()[1])
        holder = lock_holder(path)
        assert holder is not None
        assert holder.pid == pid and holder.host == socket.gethostname()
        assert "lockfile_child.py hold" in holder.command and holder.since.endswith("Z")
        _kill9(child)
        assert lock_holder(path) is None
    finally:
        stop(child)
    with open_lockfile(path):  # this process: a separate descriptor sees the flock held
        holder = lock_holder(path)
        assert holder is not None and holder.pid == os.getpid()
    assert lock_holder(path) is None
    with open_lockfile(path):  # lock_holder released its probe: we can still reopen after
        pass


def test_lock_holder_of_an_old_journal_header_left_by_a_crash_is_none(tmp_path: Path) -> None:
    """A journal whose header names a process that died holds nothing: None."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path):
        pass
    shutil.copy(journal_path(path), tmp_path / "copy")
    assert lock_holder(path) is None
