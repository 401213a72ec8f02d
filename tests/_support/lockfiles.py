"""Helpers of the lockfile tests: records, and child processes that hold or write a lockfile."""

from __future__ import annotations

import hashlib
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

from seedance_batch.lockfile import ImageRecord, JobRecord

CHILD = Path(__file__).with_name("lockfile_child.py")
MANIFEST_SHA = hashlib.sha256(b"name: spring\n").hexdigest()


def job_id(index: int) -> str:
    """A job id (16 hex digits) for a test index."""
    return hashlib.sha256(f"job-{index}".encode()).hexdigest()[:16]


def make_record(index: int, **changes: Any) -> JobRecord:
    """A plausible record for job number ``index``, with ``changes`` applied."""
    record = JobRecord(
        id=job_id(index),
        job="hero",
        variant={"product": "serum", "light": "golden hour", "size": "1:1"},
        repeat=index % 3,
        request={
            "model": "gpt-image-2-all",
            "n": 2,
            "prompt": f"A serum bottle by Lumen — golden hour, take {index}",
            "size": "1:1",
        },
    )
    return record.replace(**changes) if changes else record


def finished(record: JobRecord) -> JobRecord:
    """``record`` as it ends after a successful run: task id, timestamps, two images."""
    images = tuple(
        ImageRecord(
            url=f"https://img.example.com/{record.id}/{k}.png",
            path=f"hero/serum_golden-hour_1x1-{record.id[:8]}/{k}.png",
            sha256=hashlib.sha256(f"{record.id}/{k}".encode()).hexdigest(),
            bytes=100_000 + k,
        )
        for k in (1, 2)
    )
    return record.replace(
        state="succeeded",
        task_id=f"task_{record.id}",
        attempts=1,
        submitted_at="2025-11-25T16:18:00Z",
        finished_at="2025-11-25T16:19:30Z",
        images=images,
        credits_charged=4,
    )


def charged(record: JobRecord) -> JobRecord:
    """``record`` failed after two attempts: 4 credits charged, one possible double charge."""
    return record.replace(
        state="failed",
        attempts=2,
        error="HTTP 500: boom",
        credits_charged=4,
        possible_double_charges=1,
    )


def spawn(
    mode: str, path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``lockfile_child.py MODE PATH ARGS...`` with pipes on stdin and stdout; ``env``
    adds to the environment."""
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, str(path), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


_pending: dict[int, bytes] = {}


def read_line(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> str:
    """The child's next stdout line; fails the test after ``timeout`` seconds or at its end.

    Reads the pipe unbuffered (os.read), so that select() never waits on lines that a buffered
    reader already took in."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = _pending.pop(proc.pid, b"")
    while b"\n" not in buffer:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError(f"child said nothing for {timeout} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            err = proc.stderr.read().decode() if proc.stderr is not None else ""
            raise AssertionError(f"child ended (rc={proc.wait()}): {err}")
        buffer += chunk
    line, rest = buffer.split(b"\n", 1)
    _pending[proc.pid] = rest
    return line.decode()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a child: close its stdin (its signal to finish), kill it if it lingers."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _pending.pop(proc.pid, None)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
