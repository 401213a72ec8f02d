"""The run's machinery: the images' file thread (a group per hop), the collector's setting."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from seedance_batch._errors import OutputError
from seedance_batch._run_files import FolderOnce, GroupSync, ImageFile


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


def test_a_jobs_folder_is_made_once_by_the_file_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variant folder is made by the thread that writes its first image (not the loop's),
    once for all its images."""
    folder = tmp_path / "job" / "variant-0123abcd"
    folder.parent.mkdir()
    made_by: list[str] = []
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        made_by.append(threading.current_thread().name)
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)

    async def main() -> None:
        group = GroupSync()
        once = FolderOnce(folder)
        try:
            for index in (1, 2):
                sink = ImageFile(folder / f"{index}.part", group, once)
                await sink.write(b"img%d" % index)
                await sink.commit()
        finally:
            group.close()

    asyncio.run(main())
    assert made_by == ["image-files"]
    assert sorted(os.listdir(folder)) == ["1.part", "2.part"]


@pytest.mark.parametrize(
    ("planted", "reason"), [("file", "a file is there"), ("link", "is a link")]
)
def test_a_file_or_link_where_the_jobs_folder_goes_is_refused(
    tmp_path: Path, planted: str, reason: str
) -> None:
    """A file or a link at the variant folder's name fails the image with an OutputError that
    names it; nothing is written through the link."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = tmp_path / "variant-0123abcd"
    if planted == "file":
        folder.write_bytes(b"not a folder")
    else:
        folder.symlink_to(elsewhere)

    async def main() -> None:
        group = GroupSync()
        try:
            sink = ImageFile(folder / "1.part", group, FolderOnce(folder))
            await sink.write(b"img")
            with pytest.raises(OutputError, match=f"variant-0123abcd.*{reason}"):
                await sink.commit()
            await sink.discard()
        finally:
            group.close()

    asyncio.run(main())
    assert os.listdir(elsewhere) == []


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
