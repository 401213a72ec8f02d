"""The client package's public names, and its sink: downloads go where the caller says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _support.client import Harness, Reply, ScriptedServer, png_bytes, using

import seedance_batch.client
from seedance_batch._errors import DownloadError

PUBLIC = [
    "ClientStats", "CreateOutcome", "Download", "ImageSink", "RetryEvent", "RetryPolicy",
    "SeedanceClient", "Task",
]  # fmt: skip


class MemorySink:
    """An ImageSink that keeps every call it gets, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.data = b""

    async def write(self, chunk: bytes) -> None:
        self.data += chunk
        self.calls.append("write")

    async def commit(self) -> None:
        self.calls.append("commit")

    async def discard(self) -> None:
        self.data = b""
        self.calls.append("discard")


def test_public_names_are_pinned() -> None:
    """seedance_batch.client exports exactly the eight names of the interface, each defined."""
    assert sorted(seedance_batch.client.__all__) == PUBLIC
    assert all(getattr(seedance_batch.client, name) for name in PUBLIC)


def test_a_download_goes_only_into_the_sink(
    harness: Harness,
    image_server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client writes no file: the bytes reach the sink, which commits once, at the end."""
    data = png_bytes(64, 64)
    image_server.script("/i.png", Reply(200, data, {"Content-Type": "image/png"}))
    monkeypatch.chdir(tmp_path)
    sink = MemorySink()
    result = using(harness, lambda c: c.download(image_server.url + "/i.png", sink))
    assert sink.data == data and result.bytes == len(data)
    assert sink.calls[-1] == "commit" and sink.calls.count("commit") == 1
    assert "discard" not in sink.calls
    assert os.listdir(tmp_path) == []


@pytest.mark.sockets
def test_a_failed_attempt_is_discarded_before_the_retry(
    harness: Harness, image_server: ScriptedServer
) -> None:
    """A body cut short is discarded from the sink, and the retry writes the image afresh."""
    data = png_bytes(64, 64)
    image = {"Content-Type": "image/png"}
    image_server.script("/i.png", Reply(200, data, image, short=100), Reply(200, data, image))
    sink = MemorySink()
    using(harness, lambda c: c.download(image_server.url + "/i.png", sink))
    assert sink.data == data
    assert sink.calls.count("discard") == 1 and sink.calls[-1] == "commit"
    assert sink.calls.index("discard") < sink.calls.index("commit")


def test_a_download_that_fails_for_good_leaves_the_sink_discarded(
    harness: Harness, image_server: ScriptedServer
) -> None:
    """Bytes that are no image fail the download, and the sink has dropped them, never
    committed."""
    image_server.script("/i.png", Reply(200, b"<html>nope</html>", {"Content-Type": "text/html"}))
    sink = MemorySink()
    with pytest.raises(DownloadError, match="not a PNG"):
        using(harness, lambda c: c.download(image_server.url + "/i.png", sink))
    assert sink.calls[-1] == "discard" and "commit" not in sink.calls
    assert sink.data == b""
