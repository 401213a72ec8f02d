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

:class:`Pool` adds default headers and the timeout, and skips what ``httpx.AsyncClient`` does
on every request that this client has no use for (cookies, auth flows, URL merging).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.request import getproxies

import httpx

if TYPE_CHECKING:  # imported by the first Transport: every command but run goes without it
    import aiohttp

__all__ = ["ON_HEADERS_SENT", "Pool", "Transport", "is_loopback"]


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
def _default_ssl_context() -> ssl.SSLContext:
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


#: A request extension: a callable run once the request's headers have been written to a
#: connection (the moment a create may reach the server; before it, nothing was sent).
ON_HEADERS_SENT = "seedance_batch.on_headers_sent"


async def _headers_sent(_session: object, context: Any, _params: object) -> None:
    callback = context.trace_request_ctx
    if callable(callback):
        callback()


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
                trust_env=False,  # proxies are the Pool's business, the way httpx does them
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def _ssl_context(self) -> ssl.SSLContext:
        """The context for https requests, made at the first one (plain http needs none)."""
        verify = self._verify
        if verify is True:
            verify = self._verify = _default_ssl_context()
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
                trace_request_ctx=request.extensions.get(ON_HEADERS_SENT),
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


# --------------------------------------------------------------------------------------------
# A pool that sends


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Pool:
    """One connection pool with default headers and a timeout, sending through httpx.

    A request goes straight to the pool's :class:`Transport`, skipping what
    ``httpx.AsyncClient`` does on every request that this client has no use for (cookies, auth
    flows, URL merging). When the environment names a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``), requests to hosts other than loopback go through a plain
    ``httpx.AsyncClient`` instead (httpx's own transports), which applies the proxy and
    ``NO_PROXY`` as httpx always does. Loopback never goes through a proxy: a key for a local
    simulator must not travel to one, and a proxy could not reach it anyway.
    """

    def __init__(
        self,
        *,
        connections: int,
        timeout: float,
        headers: Mapping[str, str],
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._transport = Transport(limits=limits, verify=verify)
        self._headers = httpx.Headers(headers)
        self._extensions: dict[str, Any] = {"timeout": httpx.Timeout(timeout).as_dict()}
        proxies = getproxies()
        self._client: httpx.AsyncClient | None = None
        if any(proxies.get(scheme) for scheme in ("http", "https", "all")):
            self._client = httpx.AsyncClient(  # its own transports: httpx applies the
                limits=limits,  # environment's proxies only when it makes them itself
                timeout=httpx.Timeout(timeout),
                headers=headers,
                follow_redirects=False,
                verify=verify,
            )

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request; the response's body is read by the caller inside the block.

        ``on_sent`` runs once the request's headers are on a connection (through a proxy, when
        it is handed over: httpx's own transports cannot say)."""
        url = httpx.URL(url)
        if self._client is not None and not is_loopback(url.host):
            if on_sent is not None:
                on_sent()
            async with self._client.stream(method, url, headers=headers, content=content) as sent:
                yield sent
            return
        merged = self._headers.copy()
        if headers:
            merged.update(headers)
        extensions = self._extensions
        if on_sent is not None:
            extensions = {**extensions, ON_HEADERS_SENT: on_sent}
        request = httpx.Request(method, url, headers=merged, content=content, extensions=extensions)
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            yield response
        finally:
            await response.aclose()

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send a request and read its whole answer."""
        async with self.stream(method, url, headers=headers, content=content) as response:
            await response.aread()
        return response

    async def aclose(self) -> None:
        """Close the connections (and the proxied client, if there is one)."""
        try:
            if self._client is not None:
                await self._client.aclose()
        finally:
            await self._transport.aclose()
