"""A lockfile that trusts nothing: conflict markers, duplicate keys, odd states, planted links,
keys on the command line, and full or read-only disks."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support.lockfiles import MANIFEST_SHA, charged, finished, make_record, read_line, spawn, stop

from seedance_batch import _background
from seedance_batch._errors import LockfileError, LockfileWriteError, OutputError
from seedance_batch.lockfile import (
    HEADER_SIZE,
    Lockfile,
    Spent,
    journal_path,
    read_lockfile,
    read_lockfile_states,
)

KEY = "sk-live-9f8e7d6c5b4a39281706"


def open_lockfile(path: Path) -> Lockfile:
    """Open ``path`` for the test manifest."""
    return Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA)


def write_campaign(path: Path, count: int = 3) -> None:
    """A closed lockfile with ``count`` succeeded jobs."""
    with open_lockfile(path) as lockfile:
        for index in range(count):
            lockfile.put(finished(make_record(index)))


def readers(path: Path) -> list[object]:
    """Every way of reading a lockfile, as callables raising what they raise."""
    return [
        lambda: read_lockfile(path),
        lambda: read_lockfile_states(path),
        lambda: open_lockfile(path).close(),
    ]


# -- git conflict markers ---------------------------------------------------------------------


def test_git_conflict_markers_are_refused_with_one_line(tmp_path: Path) -> None:
    """A lockfile left mid-merge is refused: ``PATH:LINE: git conflict markers``, finish it."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path)
    lines = path.read_text("utf-8").splitlines(keepends=True)
    lines[5:5] = ["<<<<<<< HEAD\n", '      "state": "new",\n', "=======\n", ">>>>>>> theirs\n"]
    path.write_text("".join(lines), encoding="utf-8")
    for read in readers(path):
        with pytest.raises(LockfileError) as caught:
            read()  # type: ignore[operator]
        message = str(caught.value)
        assert message.startswith(f"{path}:6: git conflict markers")
        assert "merge" in message and "\n" not in message
    assert "<<<<<<<" in path.read_text("utf-8")  # left alone


# -- duplicate keys, odd states ---------------------------------------------------------------


def _duplicate(text: str, key: str, occurrence: int = 0) -> str:
    """``text`` with the line of the ``occurrence``-th ``"key":`` repeated right after it."""
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.lstrip().startswith(f'"{key}":')]
    index = hits[occurrence]
    line = lines[index]
    if key == "jobs":
        copy = '  "jobs": {},\n'
        lines.insert(index + 0, copy)
    else:
        lines.insert(index + 1, line if line.rstrip().endswith(",") else line.rstrip() + ",\n")
    return "".join(lines)


@pytest.mark.parametrize("key", ["jobs", "state", "prompt", "sha256"])
def test_duplicate_keys_anywhere_are_refused_naming_the_key(tmp_path: Path, key: str) -> None:
    """A key twice in one object (a duplicate ``jobs`` once wiped all state) is refused by every
    reader, with one line naming the key; nothing is rewritten."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path)
    text = _duplicate(path.read_text("utf-8"), key, 1 if key == "sha256" else 0)
    path.write_text(text, encoding="utf-8")
    for read in readers(path):
        with pytest.raises(LockfileError) as caught:
            read()  # type: ignore[operator]
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and f"duplicate key '{key}'" in message
        assert "\n" not in message
    assert path.read_text("utf-8") == text


def test_a_journal_line_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    """A journal line holding a key twice is refused with its line number and the key."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path, 1)
    entry = json.dumps({"put": make_record(5).id, "record": make_record(5).to_json()})
    line = entry.replace('"state": "new"', '"state": "new", "state": "failed"')
    with open(journal_path(path), "ab") as journal:
        journal.write(line.encode() + b"\n" + entry.encode() + b"\n")
    for read in readers(path):
        with pytest.raises(LockfileError, match=r"journal:2: .*duplicate key 'state'"):
            read()  # type: ignore[operator]


def test_submitting_with_a_task_id_is_read_as_submitted(tmp_path: Path) -> None:
    """An entry in ``submitting`` that has a task id reads as ``submitted``: the task is polled,
    never resubmitted under a reused key."""
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(0, state="submitted", task_id="task-1", attempts=1))
    doc = json.loads(path.read_bytes())
    doc["jobs"][make_record(0).id]["state"] = "submitting"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert read_lockfile(path).jobs[make_record(0).id].state == "submitted"  # type: ignore[union-attr]
    assert read_lockfile_states(path).jobs[make_record(0).id].state == "submitted"  # type: ignore[union-attr]
    with open_lockfile(path) as lockfile:
        assert lockfile.jobs[make_record(0).id].state == "submitted"


def test_an_unknown_state_is_refused_with_one_line(tmp_path: Path) -> None:
    """A state the schema does not know is refused by every reader, naming the job and value."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path, 1)
    text = path.read_text("utf-8").replace('"state": "succeeded"', '"state": "paid"')
    path.write_text(text, encoding="utf-8")
    for read in readers(path):
        with pytest.raises(LockfileError) as caught:
            read()  # type: ignore[operator]
        message = str(caught.value)
        assert make_record(0).id in message and "'paid'" in message and "\n" not in message


def test_the_lean_reader_gives_states_spent_and_orphans_in_file_order(tmp_path: Path) -> None:
    """read_lockfile_states agrees with read_lockfile on states, order, spent, nonce, output,
    journal changes included."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path, 3)
    with open_lockfile(path) as lockfile:
        lockfile.put(make_record(7, state="failed", attempts=1, credits_charged=4))
        lockfile.set_output(tmp_path / "out")
        full, lean = read_lockfile(path), read_lockfile_states(path)
        assert full is not None and lean is not None
        assert [(i, r.state) for i, r in full.jobs.items()] == [
            (i, r.state) for i, r in lean.jobs.items()
        ]
        assert (lean.spent, lean.nonce, lean.output) == (full.spent, full.nonce, full.output)
        assert lean.manifest_name == "spring" and lean.journal_entries == 2
    assert read_lockfile_states(tmp_path / "none.lock.json") is None


# -- the journal header ---------------------------------------------------------------------------


def test_the_journal_header_never_records_the_key(tmp_path: Path) -> None:
    """A run whose command line holds the key (in a URL's user-info, or bare) and whose
    environment holds it: neither the journal nor the lockfile contains it."""
    path = tmp_path / "spring.lock.json"
    args = ("--base-url", f"https://user:{KEY}@api.example.com", "--note", KEY)
    child = spawn("hold", path, *args, env={"SEEDANCE_API_KEY": KEY})
    try:
        read_line(child)
        header = journal_path(path).read_bytes()[:HEADER_SIZE]
        assert b"--base-url https://" in header and b"api.example.com" in header
    finally:
        stop(child)
    for file in (journal_path(path), path):
        data = file.read_bytes()
        assert KEY.encode() not in data and b"user:" not in data


# -- writes ---------------------------------------------------------------------------------------


def test_a_link_planted_at_a_temporary_name_is_never_followed(tmp_path: Path) -> None:
    """Symlinks planted at the old predictable temporary name (and at the new pattern) do not
    make a save write through them: their targets stay untouched."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path, 1)
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    with open_lockfile(path) as lockfile:
        for name in (f"{path.name}.tmp-{os.getpid()}", f".{path.name}.tmp-000000000000"):
            (tmp_path / name).symlink_to(target)
        lockfile.put(finished(make_record(1)))
        lockfile.compact()
    assert target.read_text("utf-8") == "keep me"
    snapshot = read_lockfile(path)
    assert snapshot is not None and len(snapshot.jobs) == 2


def test_stale_temporaries_are_removed_on_open(tmp_path: Path) -> None:
    """Leftover temporaries of this lockfile (new and old naming) go at open; others stay."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path, 1)
    ours = [tmp_path / ".spring.lock.json.tmp-0a1b2c3d4e5f", tmp_path / "spring.lock.json.tmp-77"]
    theirs = [tmp_path / ".other.lock.json.tmp-0a1b2c3d4e5f", tmp_path / "notes.txt"]
    for file in ours + theirs:
        file.write_text("x", encoding="utf-8")
    with open_lockfile(path):
        pass
    assert [f.exists() for f in ours] == [False, False]
    assert [f.exists() for f in theirs] == [True, True]


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted in ``tmp_path`` (root only; skips with the reason)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "disk"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the disk of ``folder`` with one file, returned."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0")
    finally:
        os.close(fd)
    return filler


def test_a_journal_that_runs_out_of_space_raises_a_write_error(tmp_path: Path) -> None:
    """Puts on a 64 KiB disk until it is full: LockfileWriteError (path and reason, never a bare
    OSError), the failed put is not in memory, and what is on disk reads back valid."""
    with small_disk(tmp_path) as disk:
        path = disk / "spring.lock.json"
        lockfile = open_lockfile(path)
        done = 0
        with pytest.raises(LockfileWriteError) as caught:
            for index in range(10_000):
                lockfile.put(finished(make_record(index)))
                done += 1
        assert lockfile.get(make_record(done).id) is None and len(lockfile.jobs) == done
        with contextlib.suppress(LockfileWriteError):  # the fold at close may not fit either
            lockfile.close()
        error = caught.value
        assert isinstance(error, OutputError) and str(journal_path(path)) == error.path
        assert "No space left" in error.reason
        snapshot = read_lockfile(path)
        assert snapshot is not None and len(snapshot.jobs) == done > 0


def test_a_disk_filled_after_open_fails_puts_and_saves_and_keeps_the_state(
    tmp_path: Path,
) -> None:
    """With the disk filled after open: put and compact raise LockfileWriteError, memory keeps
    the state before the failed call, the lockfile on disk stays valid, no temporary is left;
    once space is back, close saves everything."""
    with small_disk(tmp_path, "256k") as disk:
        path = disk / "spring.lock.json"
        lockfile = open_lockfile(path)
        lockfile.put(finished(make_record(0)))
        spent = lockfile.spent
        filler = fill(disk)
        with pytest.raises(LockfileWriteError) as caught:
            for index in range(1, 200):
                lockfile.put(finished(make_record(index)))
        assert caught.value.path == str(journal_path(path))
        present = len(lockfile.jobs)
        with pytest.raises(LockfileWriteError) as saving:
            lockfile.compact()
        assert saving.value.path == str(path) and "No space left" in saving.value.reason
        assert len(lockfile.jobs) == present and lockfile.spent.credits >= spent.credits
        assert sorted(p.name for p in disk.iterdir()) == sorted(
            ["filler", path.name, journal_path(path).name]
        )
        snapshot = read_lockfile(path)
        assert snapshot is not None and len(snapshot.jobs) == present
        filler.unlink()
        lockfile.close()
        assert len(read_lockfile(path).jobs) == present  # type: ignore[union-attr]


def test_open_in_a_read_only_folder_is_an_output_error(tmp_path: Path) -> None:
    """A lockfile whose folder cannot be written: open fails with one OutputError line (exit 1)
    naming the journal, while read_lockfile still reads it."""
    with small_disk(tmp_path) as disk:
        path = disk / "spring.lock.json"
        write_campaign(path, 1)
        os.unlink(journal_path(path))
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(OutputError) as caught:
            open_lockfile(path)
        assert caught.value.path == str(journal_path(path))
        assert "Read-only" in caught.value.reason and "\n" not in str(caught.value)
        assert read_lockfile(path) is not None


# -- the lean read: orjson, in a child process, beside the strict parse ---------------------------


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A closed 300-job lockfile, read in the background whatever its size (threshold lowered)."""
    monkeypatch.setattr(_background, "MIN_SIZE", 0)
    path = tmp_path / "spring.lock.json"
    with open_lockfile(path) as lockfile:
        for index in range(300):
            record = make_record(index)
            lockfile.put(finished(record) if index % 2 else charged(record))
    return path


_READS = """
import json, sys
from seedance_batch import _background
from seedance_batch.lockfile import _read
from seedance_batch._errors import LockfileError
_background.MIN_SIZE = 0
if not _background._may_fork():
    print(json.dumps("cannot fork"))
    sys.exit()
path = sys.argv[1]
data = open(path, "rb").read()
fast = _read._lean_fast(data)
def states(read):
    try:
        return [(i, s.state) for i, s in read().jobs.items()]
    except LockfileError as exc:
        return str(exc)
found = {
    "fast": None if fast is None else [(i, s.state) for i, s in fast.jobs.items()],
    "strict": states(lambda: _read._lean_strict(data, path)),
    "one": states(lambda: _read.read_lockfile_states(path)),
    "background": states(lambda: _read.read_lockfile_states(path, background=True)),
}
print(json.dumps(found))
"""


def reads(path: Path) -> dict[str, Any]:
    """What the fast parse, the strict parse, the eager read and the background read make of
    ``path``, in a fresh process (no threads there, so it may fork); skips where it never forks."""
    done = subprocess.run(
        [sys.executable, "-c", _READS, str(path)], capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)
    if found == "cannot fork":
        pytest.skip("the background read needs fork and two CPUs")
    result: dict[str, Any] = found
    return result


def test_the_fast_and_background_reads_agree_with_the_strict_parse(big: Path) -> None:
    """Parsed by orjson, here or in a child process, a lockfile gives the states, order and
    spent of the strict parse, and of read_lockfile."""
    found = reads(big)
    assert found["fast"] == found["strict"] == found["one"] == found["background"]
    assert len(found["one"]) == 300
    full = read_lockfile(big)
    assert full is not None
    lean = read_lockfile_states(big)
    assert lean is not None and lean.spent == full.spent == Spent(1200, 150)
    assert [(i, s.state) for i, s in lean.jobs.items()] == [
        (i, r.state) for i, r in full.jobs.items()
    ]
    lazy = read_lockfile_states(big, background=True)
    assert lazy is not None and dict(lazy.jobs) == dict(lean.jobs) and lazy.spent == lean.spent


def _last_line(text: str, needle: str) -> int:
    """The index of the last line holding ``needle``."""
    lines = text.splitlines(keepends=True)
    return max(i for i, line in enumerate(lines) if needle in line)


@pytest.mark.parametrize(
    "where", ["in an entry", "an id twice", "a top-level key", "a key escaped"]
)
def test_the_fast_read_refuses_what_the_strict_parse_refuses(big: Path, where: str) -> None:
    """A duplicate key anywhere (orjson would keep the last copy) is never vouched for by the
    fast read: the strict parse refuses it with one line, in every reader."""
    text = big.read_text("utf-8")
    lines = text.splitlines(keepends=True)
    if where in ("in an entry", "a key escaped"):
        index = _last_line(text, '"state": ')
        copy = lines[index]
        if where == "a key escaped":  # "st\u0061te" is "state": the bytes differ, the key not
            copy = copy.replace('"state"', '"st\\u0061te"')
        lines.insert(index + 1, copy)
        key = "state"
    elif where == "an id twice":
        first = make_record(0).id
        entry = json.dumps(json.loads(text)["jobs"][first], indent=2).replace("\n", "\n    ")
        lines[-3] = lines[-3].rstrip("\n") + f',\n    "{first}": {entry}\n'  # last in jobs
        key = first
    else:
        lines[-1] = f',\n  "nonce": "{"0" * 16}"\n' + lines[-1]
        lines[-2] = lines[-2].rstrip("\n")
        key = "nonce"
    big.write_bytes("".join(lines).encode("utf-8"))
    found = reads(big)
    assert found["fast"] is None and f"duplicate key '{key}'" in found["strict"]
    assert found["one"] == found["background"] == found["strict"]
    for read in readers(big):
        with pytest.raises(LockfileError, match=f"duplicate key '{key}'"):
            read()  # type: ignore[operator]


def test_an_unknown_state_is_refused_by_the_fast_read_too(big: Path) -> None:
    """An unknown state: the fast read does not vouch for it, and the strict one names it."""
    text = big.read_text("utf-8")
    index = _last_line(text, '"state": "succeeded"')
    lines = text.splitlines(keepends=True)
    lines[index] = lines[index].replace("succeeded", "paid")
    big.write_bytes("".join(lines).encode("utf-8"))
    found = reads(big)
    assert found["fast"] is None and found["background"] == found["one"] == found["strict"]
    assert "'paid' is not one of" in found["one"]
    with pytest.raises(LockfileError, match="'paid' is not one of"):
        read_lockfile_states(big)


def test_a_count_beyond_64_bits_reads_as_the_strict_parse_reads_it(tmp_path: Path) -> None:
    """orjson reads an integer beyond 64 bits as a float; the lean read then declines the fast
    way and gives the exact integer the schema allows, as read_lockfile does."""
    path = tmp_path / "spring.lock.json"
    write_campaign(path)
    doc = json.loads(path.read_text("utf-8"))
    first = next(iter(doc["jobs"]))
    doc["jobs"][first]["credits_charged"] = 2**70
    path.write_text(json.dumps(doc, indent=2), "utf-8")
    lean = read_lockfile_states(path)
    full = read_lockfile(path)
    assert lean is not None and full is not None
    assert lean.jobs[first].credits_charged == full.jobs[first].credits_charged == 2**70
    assert type(lean.jobs[first].credits_charged) is int
