"""The sockets under the client: httpx's request and response models over aiohttp's pool.

A run keeps a thousand tasks in flight, and the requests for them come in bursts: a poll, a
download and the next create for every task that finishes. What queues them is the CPU each
request costs, not the network. httpx's own transport (httpcore, h11 and anyio, all pure
Python) spends about 1.3 ms of CPU a request on this kind of machine; aiohttp's connection
pool, with its HTTP parser in C, about 0.3 ms. So the client builds ``httpx.Request`` objects,
reads ``httpx.Response`` objects and catches httpx's exceptions, and :class:`Transport` (an
``httpx.AsyncBaseTransport``) sends them through one ``aiohttp.ClientSession``. aiohttp's
exceptions become httpx's here, at this one boundary, with the distinction the client's
double-charge accounting relies on kept intact: only a failure to connect says that nothing
was sent. (The OpenAI Python SDK offers the same pairing, through httpx-aiohttp, for
high-concurrency clients; its adapter maps some errors too loosely for that accounting.)

The moment a request's headers have left is told through httpx's own ``trace`` extension, as
httpcore tells it (``http11.send_request_headers.complete``), so one callback serves this
transport and httpx's own (behind a proxy) alike.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

if TYPE_CHECKING:  # imported by the first Transport: every command but run goes without it
    import aiohttp

__all__ = ["HEADERS_SENT", "Transport", "default_ssl_context"]


@functools.cache
def _httpx_errors() -> dict[type[BaseException], type[httpx.TransportError]]:
    """aiohttp's exceptions and their httpx twins; the first class along an error's MRO wins."""
    import aiohttp

    return {
        aiohttp.ConnectionTimeoutError: httpx.ConnectTimeout,  # no connection: nothing was sent
        aiohttp.ClientProxyConnectionError: httpx.ProxyError,
        aiohttp.ClientConnectorError: httpx.ConnectError,  # no connection: nothing was sent
        aiohttp.SocketTimeoutError: httpx.ReadTimeout,
        aiohttp.ServerTimeoutError: httpx.ReadTimeout,
        aiohttp.ServerDisconnectedError: httpx.RemoteProtocolError,
        aiohttp.ClientHttpProxyError: httpx.ProxyError,
        aiohttp.ClientPayloadError: httpx.RemoteProtocolError,  # a body cut short
        aiohttp.ClientResponseError: httpx.RemoteProtocolError,  # an answer that is not HTTP
        aiohttp.InvalidURL: httpx.UnsupportedProtocol,
        aiohttp.ClientOSError: httpx.ReadError,
        aiohttp.ClientError: httpx.NetworkError,
        TimeoutError: httpx.TimeoutException,
        asyncio.TimeoutError: httpx.TimeoutException,
        OSError: httpx.NetworkError,
    }


def _raise_as_httpx(exc: BaseException) -> NoReturn:
    """Raise ``exc``'s httpx twin from it, or ``exc`` itself when it has none."""
    errors = _httpx_errors()
    for kind in type(exc).__mro__:
        twin = errors.get(kind)
        if twin is not None:
            text = _connector_text(exc) or str(exc).strip()
            raise twin(f"{type(exc).__name__}: {text}" if text else type(exc).__name__) from exc
    raise exc


def _connector_text(exc: BaseException) -> str | None:
    """``host:port: reason`` for a failed connect (aiohttp's own text names the SSL context
    object and repeats itself)."""
    os_error = getattr(exc, "os_error", None)
    host, port = getattr(exc, "host", None), getattr(exc, "port", None)
    if not isinstance(os_error, OSError) or host is None:
        return None
    return f"{host}:{port}: {os_error.strerror or os_error}"


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default context (certifi, or ``SSL_CERT_FILE``): made once, when first needed."""
    return httpx.create_ssl_context()


class _Body(httpx.AsyncByteStream):
    """A response body as aiohttp delivers it; closing hands the connection back (or drops it
    when the body was not read to its end)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            _raise_as_httpx(exc)

    async def aclose(self) -> None:
        self._response.release()


#: The ``trace`` event of a request's headers written to a connection, as httpcore names it
#: (the moment a create may reach the server; before it, nothing was sent).
HEADERS_SENT = "http11.send_request_headers.complete"


async def _headers_sent(_session: object, context: Any, _params: object) -> None:
    trace = context.trace_request_ctx
    if callable(trace):
        await trace(HEADERS_SENT, {"return_value": None})


class Transport(httpx.AsyncBaseTransport):
    """httpx's transport interface over one ``aiohttp.ClientSession`` (one connection pool).

    ``limits.max_connections`` caps the connections, all hosts together; idle ones are kept
    for ``limits.keepalive_expiry`` seconds. ``verify`` is as httpx takes it (``True``, a CA
    bundle's path, or an ``ssl.SSLContext``). The timeout of each request comes from its
    ``timeout`` extension, as httpx sets it: ``pool`` bounds the wait for a connection and its
    opening, ``connect`` the opening, ``read`` each wait for data. The session is made at the
    first request, inside the event loop that uses it.
    """

    def __init__(self, *, limits: httpx.Limits, verify: ssl.SSLContext | str | bool = True) -> None:
        import aiohttp  # here rather than at the top: a command that sends nothing never pays

        self._aiohttp = aiohttp
        self._limit = limits.max_connections or 0
        self._keepalive = 5.0 if limits.keepalive_expiry is None else limits.keepalive_expiry
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=0, keepalive_timeout=self._keepalive
            )
            traces = aiohttp.TraceConfig()
            traces.on_request_headers_sent.append(_headers_sent)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[traces],
                auto_decompress=False,  # httpx's response decodes Content-Encoding itself
                trust_env=False,  # proxies are httpx's business: mounts of its own transports
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def _ssl_context(self) -> ssl.SSLContext:
        """The context for https requests, made at the first one (plain http needs none)."""
        verify = self._verify
        if verify is True:
            verify = self._verify = default_ssl_context()
        elif not isinstance(verify, ssl.SSLContext):
            verify = self._verify = httpx.create_ssl_context(verify)
        return verify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        content = await request.aread()
        session = self._open()
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=content or None,
                ssl=self._ssl_context() if request.url.scheme == "https" else True,
                allow_redirects=False,
                trace_request_ctx=request.extensions.get("trace"),
                timeout=self._aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except Exception as exc:
            _raise_as_httpx(exc)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
