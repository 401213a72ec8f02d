"""The run's thumbnails come from a child process: handed over a pipe, a few at a time, without
the key; the child ignores Ctrl-C, outlives a killed run only to finish what it was given, and a
child that cannot start or dies leaves the thumbnails to the outputs stage."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _support.campaign import KEY, Campaign

from seedance_batch import RunOptions, load_manifest, run
from seedance_batch import _thumbs_child as thumbs_child
from seedance_batch._thumbs import (
    THUMBS_DIR,
    Source,
    make_thumbnail,
    open_recorded,
    thumb_is_whole,
    thumb_path,
)
from seedance_batch._thumbs_child import WINDOW, ThumbChild
from seedance_batch.simulator import SimulatorConfig, render_image, serve


def _images(out: Path, count: int) -> list[Source]:
    """``count`` real PNG files in ``<out>/job/``, each a different image."""
    (out / "job").mkdir(parents=True)
    sources = []
    for index in range(count):
        data = render_image("task", index, 48, 32)
        relpath = f"job/image-{index}.png"
        (out / relpath).write_bytes(data)
        sources.append(Source(relpath, hashlib.sha256(data).hexdigest(), len(data)))
    return sources


def _made(out: Path, sources: list[Source]) -> list[Source]:
    return [s for s in sources if thumb_is_whole(thumb_path(out, s.sha256))]


def _child_pid(child: ThumbChild) -> int:
    process = child._process
    assert process is not None
    return process.pid


def _gone(pid: int, within: float) -> bool:
    """True once ``pid`` has exited (reaped by us or by init) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not ours: see whether it still runs
            state = Path(f"/proc/{pid}/stat")
            if not state.exists() or state.read_text().split(")")[-1].split()[0] == "Z":
                return True
        else:
            if done == pid:
                return True
        time.sleep(0.02)
    return False


def test_the_child_makes_what_it_is_handed_and_never_sees_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each image handed over gets its thumbnail by the time close() returns; the child's
    environment has no SEEDANCE_API_KEY although the run's has."""
    monkeypatch.setenv("SEEDANCE_API_KEY", KEY)
    sources = _images(tmp_path, 3)
    child = ThumbChild(tmp_path)
    for source in sources:
        child.queue(source)
    # read its environment once it runs our code (a thumbnail made): read while the child is
    # still being exec'd, /proc gives nothing, or the parent's
    deadline = time.monotonic() + 30
    while not _made(tmp_path, sources) and time.monotonic() < deadline:
        time.sleep(0.01)
    environ = Path(f"/proc/{_child_pid(child)}/environ").read_bytes().split(b"\0")
    child.close()
    assert not any(entry.startswith(b"SEEDANCE_API_KEY=") for entry in environ)
    assert any(entry.startswith(b"PATH=") for entry in environ)
    assert _made(tmp_path, sources) == sources


def test_at_most_a_window_is_with_the_child_and_close_drops_the_rest(tmp_path: Path) -> None:
    """Images queued faster than the child starts wait in the run (the run never blocks on the
    pipe); close() drops those, and exactly the ones handed over have thumbnails."""
    sources = _images(tmp_path, 3 * WINDOW)
    child = ThumbChild(tmp_path)
    for source in sources:
        child.queue(source)
    waiting = child.waiting
    assert waiting >= WINDOW
    child.close()
    assert _made(tmp_path, sources) == sources[: len(sources) - waiting]


def test_ctrl_c_does_not_stop_the_child(tmp_path: Path) -> None:
    """SIGINT (a terminal's Ctrl-C reaches the whole process group) leaves the child making
    thumbnails: the run decides when it ends."""
    sources = _images(tmp_path, 2)
    child = ThumbChild(tmp_path)
    child.queue(sources[0])
    time.sleep(0.5)  # the child has started and set its handler
    os.kill(_child_pid(child), signal.SIGINT)
    time.sleep(0.1)
    child.queue(sources[1])
    child.close()
    assert _made(tmp_path, sources) == sources


_PARENT = """
import sys, time, json
from pathlib import Path
from seedance_batch._thumbs import Source
from seedance_batch._thumbs_child import ThumbChild
out = Path(sys.argv[1])
child = ThumbChild(out)
for path, sha256, size in json.loads(sys.argv[2]):
    child.queue(Source(path, sha256, size))
print(child._process.pid, flush=True)
time.sleep(60)
"""


def test_a_killed_run_leaves_the_child_to_finish_what_it_had_and_exit(tmp_path: Path) -> None:
    """kill -9 of the run: its child makes the thumbnails it was given, leaves no temporary
    file in .thumbs, and exits at the end of its input."""
    import json

    sources = _images(tmp_path, WINDOW)
    listed = json.dumps([[s.path, s.sha256, s.bytes] for s in sources])
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path), listed], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    assert _gone(pid, 20.0)
    assert _made(tmp_path, sources) == sources
    assert sorted(p.suffix for p in (tmp_path / THUMBS_DIR).iterdir()) == [".webp"] * WINDOW


def test_a_child_that_dies_is_given_nothing_more(tmp_path: Path) -> None:
    """Once the child is gone, queue() neither raises nor keeps images: the outputs stage
    makes what is missing."""
    sources = _images(tmp_path, 4)
    child = ThumbChild(tmp_path)
    child.queue(sources[0])
    pid = _child_pid(child)
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid, 10.0)
    for source in sources[1:]:
        child.queue(source)
    assert child.waiting == 0
    child.close()
    assert _made(tmp_path, sources[1:]) == []


def test_a_child_that_cannot_start_leaves_the_thumbnails_to_the_outputs_stage(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No interpreter to start the child with: the run goes on, and the gallery still finds
    every image's thumbnail (made by the outputs stage)."""
    monkeypatch.setattr(sys, "executable", str(campaign.out / "no-such-python"))
    with serve(SimulatorConfig(seed=3, latency=0.05)) as simulator:
        options = RunOptions(base_url=simulator.base_url, poll_interval=0.05, poll_max=0.2)
        summary = run(load_manifest(campaign.manifest), options, api_key=KEY)
    assert summary.succeeded == 12
    thumbs = sorted((campaign.out / THUMBS_DIR).iterdir())
    assert len(thumbs) == 14 and all(thumb_is_whole(p) for p in thumbs)


def test_close_kills_a_child_that_is_stuck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that does not finish what it was given within CLOSE_WAIT (here stopped with
    SIGSTOP, as a hung file system would hold it) is killed: the run's end is bounded."""
    monkeypatch.setattr(thumbs_child, "CLOSE_WAIT", 0.5)
    sources = _images(tmp_path, 2)
    child = ThumbChild(tmp_path)
    child.queue(sources[0])
    pid = _child_pid(child)
    os.kill(pid, signal.SIGSTOP)
    child.queue(sources[1])
    started = time.monotonic()
    child.close()
    assert time.monotonic() - started < 10
    assert _gone(pid, 5.0)


def test_a_fifo_where_an_image_or_thumbnail_was_is_skipped_without_waiting(
    tmp_path: Path,
) -> None:
    """A FIFO put in place of a recorded image, or of its thumbnail, is opened without waiting
    for a writer and refused: no thumbnail from it, nothing hangs (the child, the outputs
    stage, the review app all read through these two)."""
    (good,) = _images(tmp_path, 1)
    fifo_image = tmp_path / "job" / "fifo.png"
    os.mkfifo(fifo_image)
    assert open_recorded(tmp_path, "job/fifo.png") is None
    assert make_thumbnail(tmp_path, Source("job/fifo.png", "f" * 64, 0)) is None
    (tmp_path / THUMBS_DIR).mkdir()
    os.mkfifo(thumb_path(tmp_path, good.sha256))
    assert not thumb_is_whole(thumb_path(tmp_path, good.sha256))
    fd = open_recorded(tmp_path, good.path, good.bytes)
    assert fd is not None
    try:
        assert os.get_blocking(fd)
        assert os.read(fd, 8) == b"\x89PNG\r\n\x1a\n"
    finally:
        os.close(fd)
