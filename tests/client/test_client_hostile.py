"""Hostile answers (issue 11): the key never leaves the client, and every answer is bounded."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _support.client import API_KEY, Harness, Reply, ScriptedServer, png_bytes, using
from _support.hostile import PeakMemory, Request, gzip_bomb, head, hostile

from seedance_batch._errors import (
    ApiProtocolError,
    DownloadError,
    NetworkError,
    OutputError,
    RequestRejectedError,
)
from seedance_batch._run_files import ImageFile
from seedance_batch.client import SeedanceClient

pytestmark = pytest.mark.sockets  # hostile servers are real sockets

CREATE_PATH = "/v1/images/generations"
MiB = 1024 * 1024


def ok(payload: object) -> Reply:
    return Reply(200, payload)


def poll(harness: Harness, answer: object) -> Any:
    harness.server.script("/v1/tasks/t", ok(answer))
    return using(harness, lambda c: c.get_task("t"))


def create(harness: Harness, **kw: Any) -> Any:
    return using(harness, lambda c: c.create({"prompt": "p"}, "idem-1"), **kw)


# --------------------------------------------------------------------------------------------
# Redaction


def test_failure_message_quoting_the_key_is_redacted(harness: Harness) -> None:
    """A failure message that quotes ``Authorization: Bearer <key>`` reaches the task redacted."""
    task = poll(
        harness,
        {
            "id": "t",
            "status": "failed",
            "error": {"message": f"upstream refused: Authorization: Bearer {API_KEY} (x)"},
        },
    )
    assert task.status == "failed"
    assert API_KEY not in (task.error or "")
    assert "<redacted>" in (task.error or "")


def test_status_word_holding_the_key_is_redacted(harness: Harness) -> None:
    """An unknown status word that holds the key is kept redacted."""
    task = poll(harness, {"id": "t", "status": f"stuck-{API_KEY}"})
    assert API_KEY not in task.status_word
    assert task.status == "running"


def test_error_body_quoting_the_key_is_redacted(harness: Harness, server: ScriptedServer) -> None:
    """A 400 body that echoes the key (even cut at 300 characters) never shows it."""
    message = "x" * 280 + f" Bearer {API_KEY}"
    server.script(CREATE_PATH, Reply(400, {"error": {"message": message}}))
    with pytest.raises(RequestRejectedError) as caught:
        create(harness)
    assert API_KEY[:8] not in str(caught.value)


def test_task_id_holding_the_key_is_refused_on_create(
    harness: Harness, server: ScriptedServer
) -> None:
    """A create answer whose id holds the key is no answer: ApiProtocolError, a task may exist."""
    server.script(CREATE_PATH, ok({"id": f"task-{API_KEY}", "status": "pending"}))
    with pytest.raises(ApiProtocolError) as caught:
        create(harness)
    assert caught.value.task_may_exist
    assert API_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "task_id", [".", "..", "x" * 201, "a b", "a\x00b", "a\nb", "\u202etask"], ids=repr
)
def test_task_ids_that_are_no_ids_are_refused(
    harness: Harness, server: ScriptedServer, task_id: str
) -> None:
    """A task id that is not a short printable string is refused on create, a task may exist."""
    server.script(CREATE_PATH, ok({"id": task_id, "status": "pending"}))
    with pytest.raises(ApiProtocolError) as caught:
        create(harness)
    assert caught.value.task_may_exist


@pytest.mark.parametrize("task_id", [".", "..", "x" * 201, "a b"], ids=repr)
def test_get_task_refuses_ids_that_are_no_ids(
    harness: Harness, server: ScriptedServer, task_id: str
) -> None:
    """A poll of an id that is no id sends nothing (``..`` would turn it into GET /v1)."""
    with pytest.raises(ApiProtocolError):
        using(harness, lambda c: c.get_task(task_id))
    assert server.requests == []


def test_image_url_holding_the_key_is_dropped_with_a_note(harness: Harness) -> None:
    """An image URL that holds the key is left out and counted, so the run can say so."""
    task = poll(
        harness,
        {
            "id": "t",
            "status": "succeeded",
            "imageUrls": ["https://h/1.png", f"https://h/2.png?key={API_KEY}"],
        },
    )
    assert task.image_urls == ("https://h/1.png",)
    assert task.dropped_urls == 1
    assert task.warning is not None and "dropped" in task.warning


# --------------------------------------------------------------------------------------------
# Bounded answers


def hostile_client(base_url: str, harness: Harness, **kw: Any) -> SeedanceClient:
    return harness.client(base_url=base_url, **kw)


async def endless(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(head(200, {"Content-Type": "application/json", "Connection": "close"}))
    writer.write(b'{"id": "t", "status": "')
    chunk = b"a" * 65536
    while True:
        writer.write(chunk)
        await writer.drain()


def test_endless_answer_stops_at_the_cap(harness: Harness) -> None:
    """An endless poll body fails at 8 MiB, in bounded memory, without being retried."""

    async def main() -> None:
        async with hostile(endless) as url, hostile_client(url, harness) as client:
            with PeakMemory() as memory, pytest.raises(ApiProtocolError, match="over 8388608"):
                await asyncio.wait_for(client.get_task("t"), 30)
        assert memory.peak < 40 * MiB

    asyncio.run(main())


def test_gzip_bomb_answer_never_passes_the_cap_in_memory(harness: Harness) -> None:
    """A 4 MB gzip bomb (4 GB inflated) as a poll answer fails at the cap, in bounded memory."""
    bomb = gzip_bomb(4 * MiB, prefix=b'{"id": "t", "status": "')

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
        writer.write(head(200, {"Content-Type": "application/json", **headers}) + bomb)

    async def main() -> None:
        async with hostile(answer) as url, hostile_client(url, harness) as client:
            with PeakMemory() as memory, pytest.raises(ApiProtocolError, match="over"):
                await asyncio.wait_for(client.get_task("t"), 30)
        assert memory.peak < 48 * MiB

    asyncio.run(main())


def test_gzip_answer_is_decoded(harness: Harness) -> None:
    """A gzip-encoded answer nobody asked for is still read (in bounded pieces)."""
    body = gzip.compress(json.dumps({"id": "t", "status": "SUCCESS"}).encode())

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(body))}
        writer.write(head(200, {"Content-Type": "application/json", **headers}) + body)

    async def main() -> str:
        async with hostile(answer) as url, hostile_client(url, harness) as client:
            return (await client.get_task("t")).status

    assert asyncio.run(main()) == "succeeded"


def test_encoding_not_asked_for_is_refused(harness: Harness) -> None:
    """A Content-Encoding the client cannot bound (br) is refused, not decoded."""

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Encoding": "br", "Content-Length": "4"}) + b"abcd")

    async def main() -> None:
        async with hostile(answer) as url, hostile_client(url, harness) as client:
            with pytest.raises(ApiProtocolError, match="br"):
                await client.get_task("t")

    asyncio.run(main())


def test_dripping_answer_fails_within_the_request_deadline(harness: Harness) -> None:
    """A body dripping one byte at a time fails at the request deadline, retried as a timeout."""

    async def drip(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "application/json", "Content-Length": "1000"}))
        for _ in range(1000):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.3)

    async def main() -> float:
        async with hostile(drip) as url, hostile_client(url, harness, request_deadline=1.0) as c:
            started = time.monotonic()
            with pytest.raises(NetworkError, match="within 1 s"):
                await asyncio.wait_for(c.get_task("t"), 20)
            return time.monotonic() - started

    elapsed = asyncio.run(main())
    assert elapsed < 4 * 1.0 + 2  # max_retries=3: four attempts of one second each
    assert [e.reason for e in harness.events] == ["request deadline"] * 3


# --------------------------------------------------------------------------------------------
# Bounded images


def test_endless_image_is_cut_off_at_the_cap(harness: Harness, tmp_path: Path) -> None:
    """An image body without end fails at max_image_bytes (64 MiB) and leaves no file."""

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, {"Content-Type": "image/png", "Connection": "close"}))
        writer.write(png_bytes(4, 4)[:-12])
        chunk = bytes(1 << 20)
        while True:
            writer.write(chunk)
            await writer.drain()

    async def main() -> None:
        async with hostile(answer) as url, harness.client() as client:
            with pytest.raises(DownloadError, match=f"more than {64 * MiB} bytes"):
                await asyncio.wait_for(
                    client.download(url + "/i.png", ImageFile(tmp_path / "i")), 60
                )

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []


def test_gzip_bombed_image_is_bounded(harness: Harness, tmp_path: Path) -> None:
    """A gzip-bombed image fails at the cap; memory stays far below it."""
    bomb = gzip_bomb(4 * MiB, prefix=png_bytes(4, 4)[:-12])

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
        writer.write(head(200, {"Content-Type": "image/png", **headers}) + bomb)

    async def main() -> None:
        async with hostile(answer) as url, harness.client() as client:
            with PeakMemory() as memory, pytest.raises(DownloadError, match="more than"):
                await asyncio.wait_for(
                    client.download(url + "/i.png", ImageFile(tmp_path / "i")), 60
                )
        assert memory.peak < 40 * MiB

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Downloads write safely


def test_planted_symlink_at_the_destination_is_not_followed(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A link planted at the destination fails the download; its target outside is untouched."""
    image_server.always("/i.png", Reply(200, png_bytes(8, 8), {"Content-Type": "image/png"}))
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    dest = out / ".1.part"
    dest.symlink_to(outside)
    with pytest.raises(OutputError) as caught:
        using(harness, lambda c: c.download(image_server.url + "/i.png", ImageFile(dest)))
    assert str(dest) in str(caught.value)
    assert outside.read_bytes() == b"precious"
    assert dest.is_symlink()


def test_file_already_at_the_destination_is_an_error(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A file already at the destination is an OutputError, never overwritten or removed."""
    image_server.always("/i.png", Reply(200, png_bytes(8, 8), {"Content-Type": "image/png"}))
    dest = tmp_path / "i.tmp"
    dest.write_bytes(b"someone else's")
    with pytest.raises(OutputError):
        using(harness, lambda c: c.download(image_server.url + "/i.png", ImageFile(dest)))
    assert dest.read_bytes() == b"someone else's"


def test_write_failure_is_an_output_error(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """An OSError while writing the image is an OutputError (exit 1), not a DownloadError."""
    image_server.always("/i.png", Reply(200, png_bytes(8, 8), {"Content-Type": "image/png"}))
    dest = tmp_path / "missing-folder" / "i.tmp"
    with pytest.raises(OutputError) as caught:
        using(harness, lambda c: c.download(image_server.url + "/i.png", ImageFile(dest)))
    assert not isinstance(caught.value, DownloadError)
    assert len(image_server.to("/i.png")) == 1  # not retried
    assert not os.path.exists(dest)
