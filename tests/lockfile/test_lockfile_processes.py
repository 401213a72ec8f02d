"""The run lock and crash safety, with real processes and real ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import jsonschema
import pytest
from _support.lockfiles import MANIFEST_SHA, make_record, read_line, spawn, stop

from seedance_batch._errors import LockfileError, LockHeldError
from seedance_batch.lockfile import Lockfile, journal_path, read_lockfile, schema_path


def open_lockfile(path: Path) -> Lockfile:
    """Open ``path`` for the test manifest."""
    return Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA)


def kill9(proc: object) -> None:
    """``kill -9`` a child and reap it."""
    pid = proc.pid  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)
    proc.wait()  # type: ignore[attr-defined]


def test_second_open_from_another_process_is_refused_at_once(tmp_path: Path) -> None:
    """While a child process holds the lockfile, open() fails at once with LockHeldError
    naming the child's pid, host and command; the child's run is unaffected."""
    path = tmp_path / "spring.lock.json"
    child = spawn("hold", path)
    try:
        pid = int(read_line(child).split()[1])
        started = time.monotonic()
        with pytest.raises(LockHeldError) as caught:
            open_lockfile(path)
        assert time.monotonic() - started < 1.0
        error = caught.value
        assert isinstance(error, LockfileError)  # the CLI maps LockHeldError to exit 4
        assert error.path == str(path)
        assert f"pid {pid} on {socket.gethostname()}" in error.holder
        assert "lockfile_child.py hold" in error.holder and " since 20" in error.holder
        assert str(path) in str(error) and f"pid {pid}" in str(error)
    finally:
        stop(child)
    assert child.returncode == 0
    with open_lockfile(path):  # released by the child's close
        pass


def test_a_child_is_refused_while_this_process_holds(tmp_path: Path) -> None:
    """A child process trying to open a lockfile this process holds is told our pid."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path):
        child = spawn("try", path)
        line = read_line(child)
        stop(child)
        assert child.returncode == 4
        assert line.startswith("held ") and f"pid {os.getpid()} on" in line
    child = spawn("try", path)
    assert read_line(child) == "ok"
    stop(child)


def test_same_process_second_open_is_refused(tmp_path: Path) -> None:
    """Two opens in one process exclude each other too (each has its own OS lock)."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path), pytest.raises(LockHeldError, match=f"pid {os.getpid()}"):
        open_lockfile(path)


def test_holder_killed_with_kill_9_does_not_block(tmp_path: Path) -> None:
    """A holder killed with SIGKILL leaves its stale header behind, which blocks nothing: the
    next open succeeds at once and names itself."""
    path = tmp_path / "spring.lock.json"
    child = spawn("hold", path)
    pid = int(read_line(child).split()[1])
    kill9(child)
    stop(child)
    header = json.loads(journal_path(path).read_bytes().split(b"\n", 1)[0])
    assert header["holder"]["pid"] == pid  # stale information left on disk
    started = time.monotonic()
    with open_lockfile(path):
        assert time.monotonic() - started < 1.0
        header = json.loads(journal_path(path).read_bytes().split(b"\n", 1)[0])
        assert header["holder"]["pid"] == os.getpid()


def test_kill_9_mid_stream_keeps_every_put(tmp_path: Path) -> None:
    """A child that puts records and is killed with SIGKILL mid-stream leaves a loadable
    state holding every record whose put had returned before the kill."""
    path = tmp_path / "spring.lock.json"
    child = spawn("stream", path, "100000")
    acknowledged = -1
    try:
        while acknowledged < 300:
            acknowledged = int(read_line(child).split()[1])
    finally:
        kill9(child)
        stop(child)
    snapshot = read_lockfile(path)
    assert snapshot is not None
    for index in range(acknowledged + 1):
        record = snapshot.jobs[make_record(index).id]
        assert record.state == "submitting" and record.attempts == 1
    with open_lockfile(path) as lockfile:  # the next run folds it and starts at once
        assert len(lockfile.jobs) >= acknowledged + 1
    validator = jsonschema.Draft202012Validator(json.loads(schema_path().read_text("utf-8")))
    validator.validate(json.loads(path.read_text("utf-8")))


def test_kill_9_during_rewrites_leaves_a_valid_lockfile(tmp_path: Path) -> None:
    """Killing a child that rewrites the lockfile again and again, at several instants, always
    leaves a whole, valid lockfile (the previous state or the next one)."""
    path = tmp_path / "spring.lock.json"
    validator = jsonschema.Draft202012Validator(json.loads(schema_path().read_text("utf-8")))
    for delay in (0.0, 0.013, 0.031, 0.057):
        child = spawn("compact-loop", path)
        try:
            read_line(child)  # one full rewrite done
            time.sleep(delay)
        finally:
            kill9(child)
            stop(child)
        doc = json.loads(path.read_text("utf-8"))
        validator.validate(doc)
        assert len(doc["jobs"]) == 200
        snapshot = read_lockfile(path)
        assert snapshot is not None and len(snapshot.jobs) == 200
    with open_lockfile(path) as lockfile:
        assert len(lockfile.jobs) == 200
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_read_lockfile_works_while_a_run_holds_it(tmp_path: Path) -> None:
    """read_lockfile takes no lock: it reads while another process holds the run lock and
    writes, sees the changes put so far, and writes nothing."""
    path = tmp_path / "spring.lock.json"
    child = spawn("stream", path, "50")
    try:
        last = -1
        while last < 49:
            last = int(read_line(child).split()[1])
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        snapshot = read_lockfile(path)
        assert snapshot is not None and len(snapshot.jobs) == 50
        assert snapshot.journal_entries == 50
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
        with pytest.raises(LockHeldError):  # the child still holds it
            open_lockfile(path)
    finally:
        stop(child)
    assert child.returncode == 0
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.journal_entries == 0 and len(snapshot.jobs) == 50
