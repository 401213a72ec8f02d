"""A rerolled job's earlier takes in the lockfile: the record, its JSON, the journal and the key."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import jsonschema
from _support.lockfiles import MANIFEST_SHA, finished, make_record

from seedance_batch.lockfile import (
    ImageRecord,
    JobRecord,
    Lockfile,
    TakeRecord,
    journal_path,
    read_lockfile,
    render_lockfile,
    schema_path,
)
from seedance_batch.lockfile._check import job_problem

VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text("utf-8")))


def _second_take_done(index: int = 0) -> tuple[JobRecord, JobRecord]:
    """Job ``index`` finished, rerolled and finished again with one image of its own."""
    first = finished(make_record(index))
    second = first.rerolled().replace(
        state="succeeded",
        task_id="task_t2",
        attempts=1,
        submitted_at="2025-11-26T10:00:00Z",
        finished_at="2025-11-26T10:01:00Z",
        images=(
            ImageRecord(url="https://img/t2.png", path="hero/x-t2-1.png", sha256="a" * 64, bytes=9),
        ),
        credits_charged=first.credits_charged + 2,
    )
    return first, second


def test_rerolled_moves_the_take_and_resets_the_job() -> None:
    """rerolled() keeps the finished take whole in takes and starts take 2 as a new job with
    its charges kept."""
    first = finished(make_record(0))
    job = first.rerolled()
    assert job.takes == (
        TakeRecord(
            take=1,
            task_id=first.task_id,
            state="succeeded",
            attempts=1,
            submitted_at=first.submitted_at,
            finished_at=first.finished_at,
            images=first.images,
            error=None,
        ),
    )
    assert (job.state, job.task_id, job.attempts, job.images, job.error) == (
        "new",
        None,
        0,
        (),
        None,
    )
    assert (job.submitted_at, job.finished_at) == (None, None)
    assert job.take == 2 and first.take == 1
    assert job.credits_charged == first.credits_charged
    assert (job.id, job.request, job.variant) == (first.id, first.request, first.variant)


def test_all_images_lists_every_take_earliest_first() -> None:
    """all_images() pairs each image with its take number, the earlier takes' before the
    current one's."""
    first, second = _second_take_done()
    assert first.all_images() == tuple((1, image) for image in first.images)
    assert second.all_images() == (
        (1, first.images[0]),
        (1, first.images[1]),
        (2, second.images[0]),
    )
    assert make_record(1).all_images() == ()


def test_takes_are_left_out_when_empty_and_written_last() -> None:
    """A job never rerolled has no "takes" key (older lockfiles stay byte-identical); a
    rerolled one has it as its entry's last key, valid against the schema."""
    first, second = _second_take_done()
    assert "takes" not in first.to_json()
    entry = second.to_json()
    assert list(entry)[-1] == "takes"
    assert entry["takes"] == [
        {
            "take": 1,
            "task_id": first.task_id,
            "state": "succeeded",
            "attempts": 1,
            "submitted_at": first.submitted_at,
            "finished_at": first.finished_at,
            "images": [image.to_json() for image in first.images],
            "error": None,
        }
    ]
    assert job_problem(entry) is None
    document = json.loads(
        render_lockfile("spring", MANIFEST_SHA, [first, second.replace(id="1" * 16)])
    )
    VALIDATOR.validate(document)


def test_bad_takes_are_refused_like_the_schema() -> None:
    """A take without a field, with take 0 or an unknown state is refused by the fast check
    and by the schema alike."""
    _, second = _second_take_done()
    good = second.to_json()
    bad_values = [
        {**good["takes"][0], "take": 0},
        {**good["takes"][0], "state": "lost"},
        {k: v for k, v in good["takes"][0].items() if k != "images"},
        {**good["takes"][0], "extra": 1},
        {**good["takes"][0], "state": "succeeded", "task_id": None},
    ]
    job_schema = {"$ref": "#/$defs/job", "$defs": VALIDATOR.schema["$defs"]}
    for take in bad_values:
        entry = {**good, "takes": [take]}
        assert job_problem(entry) is not None
        assert not jsonschema.Draft202012Validator(job_schema).is_valid(entry)
    assert job_problem({**good, "takes": {}}) is not None


def test_takes_round_trip_through_journal_and_lockfile(tmp_path: Path) -> None:
    """A rerolled record put in a run reads back equal from the journal (while open) and from
    the compacted lockfile."""
    path = tmp_path / "spring.lock.json"
    first, second = _second_take_done()
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        lockfile.put(first)
        lockfile.put(first.rerolled())
        snapshot = read_lockfile(path)
        assert snapshot is not None and snapshot.jobs[first.id] == first.rerolled()
        lockfile.put(second)
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.jobs[first.id] == second
    assert snapshot.spent.credits == second.credits_charged


def test_the_idempotency_key_carries_the_take_from_take_two(tmp_path: Path) -> None:
    """Take 1 keeps <nonce>-<id>-<attempt>; take 2 on is <nonce>-<id>-t<take>-<attempt>."""
    path = tmp_path / "spring.lock.json"
    first = finished(make_record(0))
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        nonce = lockfile.nonce
        assert lockfile.idempotency_key(first) == f"{nonce}-{first.id}-1"
        third = first.rerolled().rerolled().replace(attempts=2)
        assert lockfile.idempotency_key(third) == f"{nonce}-{first.id}-t3-2"


def test_a_kill_after_the_reroll_line_leaves_the_new_take(tmp_path: Path) -> None:
    """The reroll is one journal line: a process killed (-9) right after it leaves the job in
    its new take with the earlier take kept, for the next open to fold."""
    path = tmp_path / "spring.lock.json"
    first = finished(make_record(0))
    child = os.fork()
    if child == 0:  # pragma: no cover - the child is killed
        lockfile = Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA)
        lockfile.put(first, sync=True)
        lockfile.put(first.rerolled(), sync=True)
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert journal_path(path).exists()
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        job = lockfile.get(first.id)
        assert job is not None and job == first.rerolled()
        assert job.takes[0].images == first.images
