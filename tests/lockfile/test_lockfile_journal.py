"""The journal: folding, torn and corrupt lines, compaction, ordering, durability, bytes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from _support.lockfiles import MANIFEST_SHA, finished, make_record

from seedance_batch._errors import LockfileError
from seedance_batch.lockfile import (
    HEADER_SIZE,
    Lockfile,
    _journal,
    _store,
    journal_path,
    read_lockfile,
    render_lockfile,
)

OTHER_SHA = "f" * 64


def open_lockfile(path: Path, sha: str = MANIFEST_SHA) -> Lockfile:
    """Open ``path`` for the test manifest."""
    return Lockfile.open(path, manifest_name="spring", manifest_sha256=sha)


def abandon(lockfile: Lockfile) -> None:
    """Leave ``lockfile`` as a crashed run would: journal not folded, lock dropped."""
    assert lockfile._syncer is not None
    lockfile._syncer.stop()
    os.close(lockfile._fd)
    lockfile._closed = True
    lockfile._lock.release()


def journal_lines(path: Path) -> list[bytes]:
    """The journal's lines after the header."""
    return journal_path(path).read_bytes()[HEADER_SIZE:].splitlines()


def test_journal_header_names_the_holder(tmp_path: Path) -> None:
    """The journal's first line is a fixed-size header naming this process."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path):
        head = journal_path(path).read_bytes()
        assert len(head) == HEADER_SIZE and head.endswith(b"\n")
        holder = json.loads(head)["holder"]
        assert holder["pid"] == os.getpid()
        assert holder["since"].endswith("Z") and holder["host"]


def test_header_cuts_a_long_command() -> None:
    """A very long command line is cut so the header keeps its fixed size."""
    holder = {"pid": 1, "host": "h" * 300, "command": "x é" * 400, "since": "2025-11-25T16:18:00Z"}
    header = _journal.header_bytes(holder)
    assert len(header) == HEADER_SIZE
    parsed = json.loads(header)["holder"]
    assert parsed["command"].endswith("...") and len(parsed["host"]) == 64


def test_puts_go_to_the_journal_not_the_lockfile(tmp_path: Path) -> None:
    """Each put appends one line to the journal; the lockfile is not rewritten per change."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        before = path.stat()
        for index in range(5):
            lockfile.put(make_record(index))
        after = path.stat()
        assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
        lines = journal_lines(path)
        assert len(lines) == 5
        assert json.loads(lines[0])["put"] == make_record(0).id
        lockfile.put(make_record(0))  # the same record again writes nothing
        assert len(journal_lines(path)) == 5
    assert journal_path(path).stat().st_size == HEADER_SIZE  # folded at close
    snapshot = read_lockfile(path)
    assert snapshot is not None and len(snapshot.jobs) == 5


def test_journal_folding_by_reader_and_next_open(tmp_path: Path) -> None:
    """A crashed run's journal is folded in memory by read_lockfile (which writes nothing)
    and folded into the lockfile by the next open, which then cuts the journal."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(0))
        lockfile.put(make_record(1))
    lockfile = open_lockfile(path)
    lockfile.put(make_record(0, state="submitting", attempts=1))
    lockfile.put(make_record(0, state="submitted", attempts=1, task_id="t0"))
    lockfile.put(make_record(2))
    lockfile.remove([make_record(1).id])
    abandon(lockfile)
    committed = path.read_bytes()
    journal = journal_path(path).read_bytes()

    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.journal_entries == 4
    assert list(snapshot.jobs) == [make_record(0).id, make_record(2).id]
    assert snapshot.jobs[make_record(0).id].task_id == "t0"
    assert path.read_bytes() == committed and journal_path(path).read_bytes() == journal

    with open_lockfile(path) as again:
        assert dict(again.jobs) == dict(snapshot.jobs)
        assert path.read_bytes() != committed
        assert journal_path(path).stat().st_size == HEADER_SIZE
    assert dict(read_lockfile(path).jobs) == dict(snapshot.jobs)  # type: ignore[union-attr]


def test_torn_last_line_is_ignored_and_cut(tmp_path: Path) -> None:
    """Half a line at the journal's end (a write cut by a crash) is ignored when reading and
    cut away by the next open; the lines before it count."""
    path = tmp_path / "spring.lock.json"
    lockfile = open_lockfile(path)
    lockfile.put(make_record(0, state="submitting", attempts=1))
    abandon(lockfile)
    line = json.dumps({"put": make_record(1).id, "record": make_record(1).to_json()})
    with open(journal_path(path), "ab") as file:
        file.write(line[: len(line) // 2].encode())
    snapshot = read_lockfile(path)
    assert snapshot is not None and list(snapshot.jobs) == [make_record(0).id]
    with open_lockfile(path) as again:
        assert list(again.jobs) == [make_record(0).id]
        assert journal_path(path).stat().st_size == HEADER_SIZE
        again.put(make_record(2))
        assert [json.loads(x)["put"] for x in journal_lines(path)] == [make_record(2).id]


def test_garbled_last_line_is_ignored(tmp_path: Path) -> None:
    """A last line that ends with a newline but is not JSON (power loss) is ignored too."""
    path = tmp_path / "spring.lock.json"
    lockfile = open_lockfile(path)
    lockfile.put(make_record(0))
    abandon(lockfile)
    with open(journal_path(path), "ab") as file:
        file.write(b"\x00\x00\x00\x00\n")
    snapshot = read_lockfile(path)
    assert snapshot is not None and list(snapshot.jobs) == [make_record(0).id]
    with open_lockfile(path) as again:
        assert list(again.jobs) == [make_record(0).id]


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    """An invalid line before the last one is a LockfileError naming the journal and line."""
    path = tmp_path / "spring.lock.json"
    lockfile = open_lockfile(path)
    lockfile.put(make_record(0))
    abandon(lockfile)
    with open(journal_path(path), "ab") as file:
        file.write(b'{"put": "oops\n')
        file.write(
            json.dumps({"put": make_record(1).id, "record": make_record(1).to_json()}).encode()
        )
        file.write(b"\n")
    journal = journal_path(path)
    with pytest.raises(LockfileError, match=rf"{journal}:3: not valid JSON"):
        read_lockfile(path)
    with pytest.raises(LockfileError, match=rf"{journal}:3: not valid JSON"):
        open_lockfile(path)
    # the refused open released the lock: fixing the file is enough
    journal.write_bytes(journal.read_bytes().replace(b'{"put": "oops\n', b""))
    with open_lockfile(path) as again:
        assert len(again.jobs) == 2


def test_invalid_journal_record_is_an_error(tmp_path: Path) -> None:
    """A journal line with a record the schema refuses names the line and the problem."""
    path = tmp_path / "spring.lock.json"
    lockfile = open_lockfile(path)
    abandon(lockfile)
    bad = make_record(0).to_json() | {"state": "done"}
    with open(journal_path(path), "ab") as file:
        file.write(json.dumps({"put": make_record(0).id, "record": bad}).encode() + b"\n")
        file.write(b'{"remove": []}\n')
    with pytest.raises(LockfileError, match=r"journal:2: .*'done' is not one of"):
        read_lockfile(path)


def test_foreign_journal_is_an_error(tmp_path: Path) -> None:
    """A journal file that this tool did not write is refused, not overwritten."""
    path = tmp_path / "spring.lock.json"
    journal_path(path).write_bytes(b"hello\nworld\n")
    with pytest.raises(LockfileError, match="not a seedance-batch journal header"):
        open_lockfile(path)
    assert journal_path(path).read_bytes() == b"hello\nworld\n"


def test_crash_between_replace_and_cut_is_harmless(tmp_path: Path) -> None:
    """If a run dies after the new lockfile is in place but before the journal is cut,
    folding the journal again over it gives the same state (folding is idempotent)."""
    path = tmp_path / "spring.lock.json"
    lockfile = open_lockfile(path)
    for index in range(3):
        lockfile.put(make_record(index, state="submitting", attempts=1))
    lockfile.put(finished(make_record(1)))
    lockfile.compact([make_record(2).id])
    expected = dict(lockfile.jobs)
    order = list(lockfile.jobs)
    # what compact() did, minus the cut: put the journal lines back after the header
    lockfile.put(finished(make_record(2)))
    saved_journal = journal_path(path).read_bytes()
    lockfile._save()
    expected = dict(lockfile.jobs)
    abandon(lockfile)
    journal_path(path).write_bytes(saved_journal)
    snapshot = read_lockfile(path)
    assert snapshot is not None and dict(snapshot.jobs) == expected
    assert list(snapshot.jobs) == order
    with open_lockfile(path) as again:
        assert dict(again.jobs) == expected and list(again.jobs) == order


def test_failed_replace_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the atomic replace fails, the previous lockfile stays whole, the journal keeps the
    changes, and the next open folds them."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(0))
    previous = path.read_bytes()
    lockfile = open_lockfile(path)
    lockfile.put(make_record(1))

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(LockfileError, match="No space left"):
        lockfile.close()
    monkeypatch.undo()
    assert path.read_bytes() == previous
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    with open_lockfile(path) as again:  # the lock was released despite the failure
        assert list(again.jobs) == [make_record(0).id, make_record(1).id]


def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    """A temporary file left by a run killed mid-write is removed by the next open."""
    path = tmp_path / "spring.lock.json"
    stale = tmp_path / "spring.lock.json.tmp-99999"
    stale.write_text('{"version": 1, "jobs": {', encoding="utf-8")
    with open_lockfile(path):
        assert not stale.exists()


def test_orphans_stay_after_planned_jobs(tmp_path: Path) -> None:
    """compact(order) puts the planned ids first in plan order, then the others (orphans)
    in their previous order."""
    path = tmp_path / "spring.lock.json"
    records = [make_record(i) for i in range(6)]
    with open_lockfile(path) as lockfile:
        for record in records:
            lockfile.put(record)
        plan = [records[4].id, records[1].id, "0123456789abcdef", records[3].id]
        lockfile.compact(plan)
        expected = [records[i].id for i in (4, 1, 3, 0, 2, 5)]
        assert list(lockfile.jobs) == expected
    doc = json.loads(path.read_text("utf-8"))
    assert list(doc["jobs"]) == expected


def test_adopt_plan(tmp_path: Path) -> None:
    """adopt_plan adds new entries for planned jobs, refreshes labels, orders planned first,
    keeps every state, and rewrites nothing when nothing changed."""
    path = tmp_path / "spring.lock.json"
    done = finished(make_record(1))
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(0))  # will be an orphan
        lockfile.put(done)
    renamed = done.replace(job="hero-v2")
    plan = [renamed, make_record(2)]
    with open_lockfile(path) as lockfile:
        lockfile.adopt_plan(plan)
        assert list(lockfile.jobs) == [done.id, make_record(2).id, make_record(0).id]
        assert lockfile.jobs[done.id] == renamed  # state, task id and images kept
        assert lockfile.jobs[make_record(2).id].state == "new"
    stat = path.stat()
    with open_lockfile(path) as lockfile:
        lockfile.adopt_plan(plan)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_manifest_hash_updates_on_open(tmp_path: Path) -> None:
    """Opening with a changed manifest hash records it in the lockfile."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(0))
    with open_lockfile(path, sha=OTHER_SHA):
        pass
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.manifest_sha256 == OTHER_SHA


def test_unchanged_rerun_writes_nothing(tmp_path: Path) -> None:
    """Opening and closing a finished lockfile with nothing to do leaves its file untouched."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(finished(make_record(0)))
    stat = path.stat()
    with open_lockfile(path) as lockfile:
        assert lockfile.bytes_written == 0
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_remove_for_prune(tmp_path: Path) -> None:
    """remove() drops entries (unknown ids ignored) and the removal survives a crash."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        for index in range(3):
            lockfile.put(make_record(index))
    lockfile = open_lockfile(path)
    lockfile.remove([make_record(1).id, "0123456789abcdef"])
    assert list(lockfile.jobs) == [make_record(0).id, make_record(2).id]
    abandon(lockfile)
    snapshot = read_lockfile(path)
    assert snapshot is not None and list(snapshot.jobs) == [make_record(0).id, make_record(2).id]


def test_closed_lockfile_refuses_changes(tmp_path: Path) -> None:
    """After close, put raises LockfileError; close twice is harmless."""
    path = tmp_path / "spring.lock.json"
    lockfile = open_lockfile(path)
    lockfile.close()
    lockfile.close()
    assert lockfile.closed
    with pytest.raises(LockfileError, match="closed"):
        lockfile.put(make_record(0))


def test_changes_reach_the_disk_within_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A background thread fdatasyncs the journal within ``durable_within`` of a put; the
    journal's content is complete at once (no fsync is needed to survive a kill)."""
    synced: list[float] = []
    real = _store._datasync

    def recording(fd: int) -> None:
        real(fd)
        synced.append(time.monotonic())

    monkeypatch.setattr(_store, "_datasync", recording)
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        assert lockfile._syncer is not None and lockfile._syncer.alive
        assert any(t.name == "lockfile-fsync" for t in threading.enumerate())
        synced.clear()
        put_at = time.monotonic()
        lockfile.put(make_record(0))
        assert len(journal_lines(path)) == 1  # in the file before any fsync
        time.sleep(1.5)
        assert synced and synced[0] - put_at <= 1.0
        assert json.loads(journal_lines(path)[0])["record"] == make_record(0).to_json()
        count = len(synced)
        time.sleep(0.6)
        assert len(synced) == count  # idle: no syncs without changes
        lockfile.put(make_record(1), sync=True)  # sync=True waits for the disk
        assert len(synced) == count + 1


def test_many_puts_batch_their_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of puts costs a few fdatasyncs, not one per change."""
    synced: list[float] = []
    real = _store._datasync

    def recording(fd: int) -> None:
        real(fd)
        synced.append(time.monotonic())

    monkeypatch.setattr(_store, "_datasync", recording)
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path, sha=OTHER_SHA) as lockfile:
        synced.clear()
        for index in range(500):
            lockfile.put(make_record(index))
        time.sleep(1.2)
        assert 1 <= len(synced) < 50


def test_bytes_written_over_10000_puts_are_bounded(tmp_path: Path) -> None:
    """10,000 state changes cost about 10,000 journal lines of one record each, no rewrite
    of the lockfile per change, and everything written stays under 10x the final lockfile."""
    path = tmp_path / "spring.lock.json"
    records = [make_record(i) for i in range(10_000)]
    with open_lockfile(path) as lockfile:
        lockfile.adopt_plan(records)  # one full write of the plan
        after_plan = lockfile.bytes_written
        inode = path.stat().st_ino
        line_size = max(
            len(json.dumps({"put": r.id, "record": finished(r).to_json()}, ensure_ascii=False))
            for r in records[:10]
        )
        for record in records:
            lockfile.put(finished(record))
        journal_bytes = lockfile.bytes_written - after_plan
        assert path.stat().st_ino == inode  # no rewrite during the puts
        assert journal_path(path).stat().st_size == HEADER_SIZE + journal_bytes
        assert journal_bytes <= 10_000 * (line_size + 8)
    final_size = path.stat().st_size
    assert lockfile.bytes_written <= 10 * final_size
    assert journal_bytes < final_size  # a line is smaller than the pretty entry


def test_loading_10000_jobs_is_quick(tmp_path: Path) -> None:
    """Reading a 10,000-job lockfile (validation included) takes well under a second."""
    path = tmp_path / "spring.lock.json"
    records = [finished(make_record(i)) for i in range(10_000)]
    path.write_bytes(render_lockfile("spring", MANIFEST_SHA, records))
    started = time.perf_counter()
    snapshot = read_lockfile(path)
    elapsed = time.perf_counter() - started
    assert snapshot is not None and len(snapshot.jobs) == 10_000
    assert elapsed < 2.0, elapsed  # ~0.3 s on a quiet machine; loose for shared CI
