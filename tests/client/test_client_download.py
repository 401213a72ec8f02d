"""Image downloads: streaming, checks, retries, and where the Authorization header goes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from _support.client import (
    API_KEY,
    Harness,
    Reply,
    ScriptedServer,
    jpeg_bytes,
    png_bytes,
    reset,
    using,
    webp_bytes,
)

from seedance_batch._errors import DownloadError
from seedance_batch._run_files import ImageFile
from seedance_batch.client import Download

PNG = png_bytes(300, 300)  # about 270 kB: streams in many chunks


def image(data: bytes, content_type: str = "image/png", **kw: object) -> Reply:
    return Reply(200, data, {"Content-Type": content_type}, **kw)  # type: ignore[arg-type]


def fetch(harness: Harness, url: str, dest: Path, **kw: object) -> Download:
    return using(harness, lambda c: c.download(url, ImageFile(dest)), **kw)


@pytest.mark.parametrize(
    ("data", "ext", "content_type"),
    [
        (PNG, "png", "image/png"),
        (jpeg_bytes(), "jpg", "image/jpeg"),
        (webp_bytes(), "webp", "image/webp"),
        (webp_bytes(1501), "webp", None),
    ],
    ids=["png", "jpeg", "webp", "webp-odd-no-type"],
)
def test_download_sniffs_type_and_hashes(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path, data: bytes, ext: str,
    content_type: str | None,
) -> None:  # fmt: skip
    """The type comes from the magic bytes; size and SHA-256 match the bytes written to dest."""
    headers = {"Content-Type": content_type} if content_type else {}
    image_server.script("/img?sig=abc", Reply(200, data, headers))
    dest = tmp_path / "1.tmp"
    result = fetch(harness, image_server.url + "/img?sig=abc", dest)
    assert result.ext == ext
    assert result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.content_type == content_type
    assert result.url == image_server.url + "/img?sig=abc"
    assert dest.read_bytes() == data


def test_image_larger_than_memory_hold_goes_to_its_file_as_it_comes(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """An image past the 8 MiB held in memory is written to its file as it arrives, and ends
    byte-identical, with its size and SHA-256."""
    big = png_bytes(1900, 1900, seed=5)  # about 10.8 MB of incompressible pixels
    assert len(big) > 8 * 1024 * 1024
    image_server.script("/big.png", image(big))
    dest = tmp_path / "big.tmp"
    result = fetch(harness, image_server.url + "/big.png", dest)
    assert (result.bytes, result.sha256) == (len(big), hashlib.sha256(big).hexdigest())
    assert dest.read_bytes() == big


def test_type_follows_bytes_not_content_type(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A PNG served as image/jpeg is a PNG."""
    image_server.script("/x.jpg", image(PNG, "image/jpeg"))
    assert fetch(harness, image_server.url + "/x.jpg", tmp_path / "x").ext == "png"


def test_no_authorization_at_another_origin(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """An image host on another origin never receives the Authorization header."""
    image_server.script("/a.png", image(PNG))
    fetch(harness, image_server.url + "/a.png", tmp_path / "a")
    (request,) = image_server.to("/a.png")
    assert "authorization" not in request.headers
    assert API_KEY not in str(request.headers)


def test_no_authorization_after_a_redirect_from_the_api(
    harness: Harness, server: ScriptedServer, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """An API-origin image URL that redirects to another host: the key goes to the API only."""
    server.script("/files/1", Reply(302, headers={"Location": image_server.url + "/cdn/1.png"}))
    image_server.script("/cdn/1.png", image(PNG))
    result = fetch(harness, server.url + "/files/1", tmp_path / "1")
    assert result.url == image_server.url + "/cdn/1.png"
    assert server.to("/files/1")[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert "authorization" not in image_server.to("/cdn/1.png")[0].headers


def test_no_authorization_when_an_image_host_redirects_to_the_api(
    harness: Harness, server: ScriptedServer, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A redirect chain that started elsewhere never picks the key up, even on the API origin."""
    image_server.script("/r", Reply(307, headers={"Location": server.url + "/files/2"}))
    server.script("/files/2", image(PNG))
    fetch(harness, image_server.url + "/r", tmp_path / "2")
    assert "authorization" not in server.to("/files/2")[0].headers


def test_same_host_other_port_is_another_origin(
    harness: Harness, server: ScriptedServer, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """Origin means scheme, host and port: the same host on another port gets no key."""
    assert server.url.rsplit(":", 1)[0] == image_server.url.rsplit(":", 1)[0]
    image_server.script("/p.png", image(PNG))
    fetch(harness, image_server.url + "/p.png", tmp_path / "p")
    assert "authorization" not in image_server.to("/p.png")[0].headers


def test_too_many_redirects(harness: Harness, image_server: ScriptedServer, tmp_path: Path) -> None:
    """A redirect loop fails the download without retrying it."""
    image_server.always("/loop", Reply(302, headers={"Location": "/loop"}))
    with pytest.raises(DownloadError, match="redirects"):
        fetch(harness, image_server.url + "/loop", tmp_path / "l")
    assert len(image_server.to("/loop")) == 6


@pytest.mark.sockets
def test_short_body_is_retried(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A body cut short of its Content-Length is retried, and dest holds only the full image."""
    image_server.script("/t.png", image(PNG, short=1000), image(PNG, short=200_000), image(PNG))
    dest = tmp_path / "t"
    result = fetch(harness, image_server.url + "/t.png", dest)
    assert result.bytes == len(PNG)
    assert dest.read_bytes() == PNG
    assert len(harness.events) == 2
    assert all(e.operation == "download" for e in harness.events)


@pytest.mark.sockets
def test_truncation_without_content_length_is_caught(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A close-delimited body missing its PNG end is seen as truncated and retried."""
    image_server.script("/c.png", image(PNG[:-30], close_delimited=True), image(PNG))
    result = fetch(harness, image_server.url + "/c.png", tmp_path / "c")
    assert result.sha256 == hashlib.sha256(PNG).hexdigest()
    assert "truncated PNG" in harness.events[0].reason


@pytest.mark.parametrize("data", [jpeg_bytes()[:-2], webp_bytes()[:-10]], ids=["jpeg", "webp"])
@pytest.mark.sockets
def test_truncated_jpeg_and_webp_are_caught(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path, data: bytes
) -> None:
    """A JPEG without its end marker, or a WEBP short of its RIFF size, is retried."""
    image_server.always("/i", image(data, close_delimited=True))
    with pytest.raises(DownloadError, match="truncated"):
        fetch(harness, image_server.url + "/i", tmp_path / "i")
    assert len(image_server.to("/i")) == 4  # max_retries = 3


@pytest.mark.sockets
def test_reset_is_retried(harness: Harness, image_server: ScriptedServer, tmp_path: Path) -> None:
    """A connection reset during a download is retried."""
    image_server.script("/r.png", reset(), image(PNG))
    assert fetch(harness, image_server.url + "/r.png", tmp_path / "r").bytes == len(PNG)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_gone_urls_fail_after_a_few_retries(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path, status: int
) -> None:
    """403, 404 and 410 are retried not_found_retries times, then DownloadError with the status."""
    image_server.always("/g.png", Reply(status, b"nope"))
    dest = tmp_path / "g"
    with pytest.raises(DownloadError) as caught:
        fetch(harness, image_server.url + "/g.png", dest)
    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value)
    assert "after 3 attempts" in str(caught.value)
    assert len(image_server.to("/g.png")) == 3
    assert not dest.exists()


def test_server_errors_are_retried_with_retry_after(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A 503 (or 429) on an image honours Retry-After, then succeeds."""
    busy = Reply(503, headers={"Retry-After": "4"})
    limited = Reply(429, headers={"Retry-After": "2"})
    image_server.script("/s.png", busy, limited, image(PNG))
    fetch(harness, image_server.url + "/s.png", tmp_path / "s")
    assert harness.time.sleeps == [4.0, 2.0]


def test_server_errors_exhausted(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A host answering 500 every time fails the download after max_retries."""
    image_server.always("/e.png", Reply(500))
    with pytest.raises(DownloadError) as caught:
        fetch(harness, image_server.url + "/e.png", tmp_path / "e")
    assert caught.value.status == 500
    assert len(image_server.to("/e.png")) == 4


def test_not_an_image_fails_at_once(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A 200 answer whose bytes are not PNG, JPEG or WEBP fails without retrying."""
    image_server.script("/h", Reply(200, b"<html>login</html>", {"Content-Type": "text/html"}))
    dest = tmp_path / "h"
    with pytest.raises(DownloadError, match="not a PNG, JPEG or WEBP"):
        fetch(harness, image_server.url + "/h", dest)
    assert len(image_server.to("/h")) == 1
    assert not dest.exists()
    assert harness.events == []


def test_other_4xx_fails_at_once(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A 400 on an image URL is not retried."""
    image_server.script("/b", Reply(400))
    with pytest.raises(DownloadError) as caught:
        fetch(harness, image_server.url + "/b", tmp_path / "b")
    assert caught.value.status == 400
    assert len(image_server.to("/b")) == 1


@pytest.mark.sockets
def test_size_limit(harness: Harness, image_server: ScriptedServer, tmp_path: Path) -> None:
    """An image over max_image_bytes fails, whether it declares its length or not."""
    image_server.script("/big", image(PNG), image(PNG, close_delimited=True))
    for _ in range(2):
        with pytest.raises(DownloadError, match=r"limit|more than"):
            fetch(harness, image_server.url + "/big", tmp_path / "big", max_image_bytes=10_000)
    assert len(image_server.to("/big")) == 2


def test_slow_image_hits_the_download_timeout(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """A transfer longer than download_timeout is abandoned and retried."""
    image_server.script("/slow", image(PNG, delay=0.8), image(PNG))
    fetch(harness, image_server.url + "/slow", tmp_path / "slow", download_timeout=0.3)
    assert harness.events[0].reason == "download timeout"


@pytest.mark.parametrize("url", ["ftp://h/x.png", "not a url", "/relative.png"])
def test_non_http_urls_are_refused(harness: Harness, tmp_path: Path, url: str) -> None:
    """Only absolute http(s) URLs are downloaded."""
    with pytest.raises(DownloadError):
        fetch(harness, url, tmp_path / "x")


def test_api_origin_download_carries_the_key(
    harness: Harness, server: ScriptedServer, tmp_path: Path
) -> None:
    """An image on the API's own origin is fetched with the key (the API may require it)."""
    server.script("/files/k.png", image(PNG))
    fetch(harness, server.url + "/files/k.png", tmp_path / "k")
    assert server.to("/files/k.png")[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_event_target_hides_the_query(
    harness: Harness, image_server: ScriptedServer, tmp_path: Path
) -> None:
    """Retry events name the image URL without its (possibly signed) query string."""
    image_server.script("/q.png?token=secret", Reply(503), image(PNG))
    fetch(harness, image_server.url + "/q.png?token=secret", tmp_path / "q")
    assert harness.events[0].target == image_server.url + "/q.png"
