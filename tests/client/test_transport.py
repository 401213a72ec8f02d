"""The pools under the client: httpx.AsyncClient over aiohttp's pool, against real sockets.

Each test runs a small asyncio server on 127.0.0.1 (TLS with a self-signed certificate made for
these tests where it says so) and checks what the pool sends and which httpx exception comes
out: the client's double-charge accounting depends on only connection failures meaning
"nothing was sent".
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx
import pytest

from seedance_batch.client._bounded import BodyTooLarge
from seedance_batch.client._failures import sent_nothing
from seedance_batch.client._http import http_client, on_headers_sent, proxy_mounts
from seedance_batch.client._transport import BODY, _raise_as_httpx

pytestmark = pytest.mark.sockets  # real sockets: TLS, resets, timeouts, proxies

TLS = Path(__file__).parent / "tls"
Handler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(
    handler: Handler, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server on a free loopback port; yields the port and the request heads it received."""
    heads: list[bytes] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                heads.append(head)
                await handler(head, reader, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1], heads
    finally:
        server.close()


def answer(body: bytes = b"ok", *, delay: float = 0.0) -> Handler:
    async def handle(_head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    return handle


def pool(
    *,
    connections: int = 4,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    return http_client(
        connections=connections, timeout=timeout, headers=headers or {}, verify=verify
    )


async def get(p: httpx.AsyncClient, url: str) -> httpx.Response:
    try:
        return await p.request("GET", url)
    finally:
        await p.aclose()


def trusting_the_test_certificate() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(TLS / "test-only-cert.pem"))
    return context


def server_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "test-only-cert.pem", TLS / "test-only-key.pem")
    return context


def test_https_to_a_trusted_certificate() -> None:
    """An https URL is fetched over TLS, verified against the CA it is given."""

    async def main() -> httpx.Response:
        async with serving(answer(b"secure"), tls=server_tls()) as (port, _):
            return await get(
                pool(verify=trusting_the_test_certificate()), f"https://127.0.0.1:{port}/"
            )

    response = asyncio.run(main())
    assert (response.status_code, response.content) == (200, b"secure")


def test_https_to_an_untrusted_certificate_is_a_connect_error() -> None:
    """A certificate the system does not trust fails to connect: nothing was sent."""

    async def main() -> None:
        async with serving(answer(), tls=server_tls()) as (port, heads):
            with pytest.raises(httpx.ConnectError):
                await get(pool(), f"https://127.0.0.1:{port}/")
            assert heads == []

    asyncio.run(main())


def test_refused_connection_is_a_connect_error() -> None:
    """A port nobody listens on gives httpx.ConnectError."""

    async def main() -> None:
        async with serving(answer()) as (port, _):
            pass  # closed again: the port is free now
        with pytest.raises(httpx.ConnectError):
            await get(pool(), f"http://127.0.0.1:{port}/")

    asyncio.run(main())


def test_body_cut_short_is_a_remote_protocol_error() -> None:
    """A body shorter than its Content-Length fails with RemoteProtocolError, not silently."""

    async def cut(_head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with serving(cut) as (port, _):
            with pytest.raises(httpx.RemoteProtocolError):
                await get(pool(), f"http://127.0.0.1:{port}/")

    asyncio.run(main())


def test_nonsense_answer_is_a_remote_protocol_error() -> None:
    """Bytes that are not HTTP fail with RemoteProtocolError: the request did reach a server."""

    async def nonsense(_h: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SURPRISE nothing here\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with serving(nonsense) as (port, _):
            with pytest.raises(httpx.RemoteProtocolError):
                await get(pool(), f"http://127.0.0.1:{port}/")

    asyncio.run(main())


def test_silent_server_is_a_read_timeout() -> None:
    """A server that never answers gives httpx.ReadTimeout after the pool's timeout."""

    async def main() -> None:
        async with serving(answer(delay=30)) as (port, _):
            with pytest.raises(httpx.ReadTimeout):
                await get(pool(timeout=0.3), f"http://127.0.0.1:{port}/")

    asyncio.run(main())


def test_connections_are_capped_and_kept_alive() -> None:
    """Twenty requests at once use at most the pool's connections, each kept alive for more."""
    open_now = peak = opened = 0

    async def main() -> list[httpx.Response]:
        nonlocal open_now, peak, opened

        async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal open_now, peak, opened
            open_now, opened = open_now + 1, opened + 1
            peak = max(peak, open_now)
            try:
                while True:
                    await reader.readuntil(b"\r\n\r\n")
                    await asyncio.sleep(0.02)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the client closed the connection: the pool was closed
            finally:
                open_now -= 1
                writer.close()

        server = await asyncio.start_server(counting, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        p = pool(connections=3)
        try:
            return await asyncio.gather(
                *(p.request("GET", f"http://127.0.0.1:{port}/{i}") for i in range(20))
            )
        finally:
            await p.aclose()
            server.close()

    responses = asyncio.run(main())
    assert [r.content for r in responses] == [b"ok"] * 20
    assert peak <= 3
    assert opened <= 3


def test_default_headers_and_the_request_own() -> None:
    """The pool's headers go with every request, the request's own override them, and aiohttp
    adds no User-Agent or Accept of its own."""

    async def main() -> list[bytes]:
        async with serving(answer()) as (port, heads):
            p = pool(headers={"User-Agent": "seedance-batch/test", "Accept": "application/json"})
            try:
                await p.request("GET", f"http://127.0.0.1:{port}/", headers={"Accept": "*/*"})
            finally:
                await p.aclose()
            return heads

    (head,) = asyncio.run(main())
    lines = head.decode().lower().split("\r\n")
    assert "user-agent: seedance-batch/test" in lines
    assert "accept: */*" in lines
    assert not any(line.startswith("user-agent: python") for line in lines)
    assert sum(line.startswith("accept:") for line in lines) == 1


def test_environment_proxy_carries_other_hosts_but_never_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With HTTP_PROXY set, a request to another host goes to the proxy (absolute URI), and a
    request to loopback goes straight to its server."""

    async def main() -> tuple[httpx.Response, httpx.Response, list[bytes], list[bytes]]:
        async with (
            serving(answer(b"via proxy")) as (proxy_port, proxy_heads),
            serving(answer(b"direct")) as (port, direct_heads),
        ):
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
            monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy_port}")
            p = pool()
            try:
                far = await p.request("GET", "http://images.example.invalid/a.png")
                near = await p.request("GET", f"http://127.0.0.1:{port}/b.png")
            finally:
                await p.aclose()
            return far, near, proxy_heads, direct_heads

    far, near, proxy_heads, direct_heads = asyncio.run(main())
    assert far.content == b"via proxy"
    assert proxy_heads[0].startswith(b"GET http://images.example.invalid/a.png HTTP/1.1")
    assert near.content == b"direct"
    assert len(proxy_heads) == 1 and len(direct_heads) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (TimeoutError(), httpx.TimeoutException),
    ],
)
def test_aiohttp_errors_become_httpx_errors(error: Exception, expected: type) -> None:
    """Each aiohttp error becomes its httpx twin; only a failure to connect is one that says
    nothing was sent (ConnectError, ConnectTimeout), never a timeout while reading."""
    with pytest.raises(httpx.TransportError) as caught:
        _raise_as_httpx(error)
    assert type(caught.value) is expected
    assert caught.value.__cause__ is error
    connecting = isinstance(caught.value, (httpx.ConnectError, httpx.ConnectTimeout))
    assert connecting == isinstance(error, aiohttp.ConnectionTimeoutError)


def refusing_tunnels() -> Handler:
    """A proxy that answers every CONNECT with 403: the tunnel is never opened."""

    async def handle(_head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    return handle


def test_a_proxy_that_refuses_the_tunnel_sent_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy refusing CONNECT is httpx.ProxyError, which counts as nothing sent: the trace of
    on_headers_sent never fires for the CONNECT itself."""
    sent: list[int] = []

    async def main() -> tuple[BaseException, list[bytes]]:
        async with serving(refusing_tunnels()) as (proxy_port, heads):
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
            monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy_port}")
            p = pool()
            trace = on_headers_sent(lambda: sent.append(1))
            try:
                with pytest.raises(httpx.TransportError) as caught:
                    await p.get("https://api.example.invalid/v1", extensions={"trace": trace})
            finally:
                await p.aclose()
            return caught.value, heads

    error, heads = asyncio.run(main())
    assert isinstance(error, httpx.ProxyError)
    assert sent_nothing(error)
    assert sent == []
    assert heads[0].startswith(b"CONNECT api.example.invalid:443 HTTP/1.1")


def test_an_unreachable_proxy_sent_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy nobody listens on fails to connect: nothing sent, and no trace of headers."""
    sent: list[int] = []

    async def main() -> BaseException:
        async with serving(answer()) as (port, _):
            pass  # closed again: the port is free now
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
        p = pool()
        trace = on_headers_sent(lambda: sent.append(1))
        try:
            with pytest.raises(httpx.TransportError) as caught:
                await p.get("https://api.example.invalid/v1", extensions={"trace": trace})
        finally:
            await p.aclose()
        return caught.value

    error = asyncio.run(main())
    assert sent_nothing(error) and sent == []


def test_headers_sent_is_traced_through_a_forwarding_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through a proxy that forwards plain http, the request's headers leaving are traced once,
    as they are on the direct (aiohttp) path."""
    sent: list[str] = []

    async def main() -> None:
        async with (
            serving(answer(b"via proxy")) as (proxy_port, _),
            serving(answer(b"direct")) as (port, _),
        ):
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
            monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy_port}")
            p = pool()
            try:
                far = on_headers_sent(lambda: sent.append("far"))
                await p.get("http://images.example.invalid/a.png", extensions={"trace": far})
                near = on_headers_sent(lambda: sent.append("near"))
                await p.get(f"http://127.0.0.1:{port}/b.png", extensions={"trace": near})
            finally:
                await p.aclose()

    asyncio.run(main())
    assert sent == ["far", "near"]


def test_no_proxy_hosts_and_a_loopback_api_host_go_direct() -> None:
    """NO_PROXY entries (names, suffixes, IPs) and the hosts given as direct mount to the
    client's own transport; without a proxy in the environment there are no mounts at all."""
    limits = httpx.Limits(max_connections=1)
    environment = {"https": "proxy.example:3128", "no": "internal.example, 10.1.2.3, ::1"}
    mounts = proxy_mounts(
        limits=limits, verify=True, direct=("127.0.0.9",), environment=environment
    )
    direct = {pattern for pattern, transport in mounts.items() if transport is None}
    assert direct >= {
        "all://*internal.example", "all://10.1.2.3", "all://[::1]", "all://127.0.0.9",
        "all://localhost", "all://127.0.0.1",
    }  # fmt: skip
    assert isinstance(mounts["https://"], httpx.AsyncHTTPTransport)
    assert proxy_mounts(limits=limits, verify=True, environment={"no": "x"}) == {}
    assert proxy_mounts(limits=limits, verify=True, environment={**environment, "no": "*"}) == {}


def test_a_short_answer_is_read_whole_by_the_transport_and_a_long_one_streams() -> None:
    """Pool.read gets a body of a known length under its cap whole from the transport (its
    BODY extension); over the cap it streams and fails at the cap; a body cut short of its
    Content-Length fails as RemoteProtocolError either way."""

    async def handle(head: bytes, _r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if head.startswith(b"GET /cut"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
            await writer.drain()
            writer.close()
            return
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"a":1}')
        await writer.drain()

    async def main() -> None:
        async with serving(handle) as (port, _):
            p = http_client(connections=2, timeout=5.0, headers={})
            headers = p.headers_with({})
            try:
                url = f"http://127.0.0.1:{port}/"
                response, body = await p.read(p.prepare("GET", url, headers), 100)
                assert (body, response.extensions[BODY]) == (b'{"a":1}', b'{"a":1}')
                with pytest.raises(BodyTooLarge):
                    await p.read(p.prepare("GET", url, headers), 5)
                with pytest.raises(httpx.RemoteProtocolError):
                    await p.read(p.prepare("GET", url + "cut", headers), 1000)
            finally:
                await p.aclose()

    asyncio.run(main())
