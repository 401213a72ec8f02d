"""The run's machinery: the images' file thread (a group per hop), the collector's setting."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from seedance_batch._errors import OutputError
from seedance_batch._run_files import GroupSync, ImageFile


def test_calls_made_together_are_answered_in_fewer_groups() -> None:
    """Many calls handed at once run in fewer thread hops than calls, each answered in order."""

    async def main() -> tuple[list[int], int]:
        group = GroupSync()
        try:
            values = await asyncio.gather(*(group.call(lambda k=k: k * 2) for k in range(200)))
        finally:
            group.close()
        return values, group.groups

    values, groups = asyncio.run(main())
    assert values == [k * 2 for k in range(200)]
    assert groups < 200


def test_an_error_in_the_thread_is_raised_to_its_caller_alone() -> None:
    """A call that raises fails its own future; the others of its group still succeed."""

    def fail() -> None:
        raise OSError(28, "No space left on device")

    async def main() -> list[object]:
        group = GroupSync()
        try:
            return await asyncio.gather(
                group.call(fail), group.call(int, "7"), return_exceptions=True
            )
        finally:
            group.close()

    failed, seven = asyncio.run(main())
    assert isinstance(failed, OSError) and seven == 7


def test_an_image_through_the_group_is_whole_and_refuses_a_planted_file(tmp_path: Path) -> None:
    """ImageFile with a syncer writes the whole image, and refuses a file already at its name."""
    taken = tmp_path / "taken"
    taken.write_bytes(b"planted")

    async def main() -> None:
        group = GroupSync()
        try:
            sink = ImageFile(tmp_path / "a.part", group)
            await sink.write(b"x" * 1000)
            await sink.commit()
            other = ImageFile(taken, group)
            await other.write(b"y")
            with pytest.raises(OutputError):
                await other.commit()
            await other.discard()
        finally:
            group.close()

    asyncio.run(main())
    assert (tmp_path / "a.part").read_bytes() == b"x" * 1000
    assert taken.read_bytes() == b"planted"
    assert not [n for n in os.listdir(tmp_path) if n not in ("a.part", "taken")]


def test_a_run_freezes_the_collector_and_puts_it_back() -> None:
    """Inside run_collection the objects so far are frozen and gen 0 waits longer; after, not."""
    import gc

    from seedance_batch._gc import RUN_THRESHOLD, run_collection

    before = gc.get_threshold()
    with run_collection():
        assert gc.get_threshold()[0] == RUN_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
