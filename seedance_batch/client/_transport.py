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
transport and httpx's own (behind a proxy) alike. aiohttp's tracing costs every request of a
session a dozen signal objects, so only requests that carry a ``trace`` (creates) go through a
traced session; the rest go through a plain one over the same connector (one pool).
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

__all__ = ["BODY", "HEADERS_SENT", "READ_WHOLE", "Transport", "default_ssl_context"]


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


#: A request extension of this client's: read an answer whose ``Content-Length`` is at most
#: this many bytes, and which has no ``Content-Encoding``, whole in the transport (aiohttp's
#: parser stops at the length), and hand its bytes back as the response's :data:`BODY`
#: extension as well as its stream. Other answers stream as usual; transports that do not know
#: the extension (httpx's own, ``httpx.MockTransport``) ignore it.
READ_WHOLE = "seedance_batch.read_whole"
#: The response extension holding a body read whole (see :data:`READ_WHOLE`).
BODY = "seedance_batch.body"


async def _headers_sent(_session: object, context: Any, _params: object) -> None:
    trace = context.trace_request_ctx
    if callable(trace):
        await trace(HEADERS_SENT, {"return_value": None})


def _short(response: aiohttp.ClientResponse, limit: int) -> bool:
    """Whether ``response`` declares a body of at most ``limit`` bytes, not encoded."""
    length = response.content_length
    return length is not None and length <= limit and "Content-Encoding" not in response.headers


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
        import yarl

        self._aiohttp = aiohttp
        self._url = functools.partial(yarl.URL, encoded=True)  # httpx's URLs are encoded
        self._limit = limits.max_connections or 0
        self._keepalive = 5.0 if limits.keepalive_expiry is None else limits.keepalive_expiry
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None
        self._traced: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self, traced: bool) -> aiohttp.ClientSession:
        """The plain session, or the traced one (its ``on_request_headers_sent`` calls the
        request's ``trace``); both over one connector, made at the first request."""
        if self._session is None:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=0, keepalive_timeout=self._keepalive
            )
            traces = aiohttp.TraceConfig()
            traces.on_request_headers_sent.append(_headers_sent)
            self._session = self._new_session(connector, owner=True)
            self._traced = self._new_session(connector, owner=False, traces=[traces])
        return self._traced if traced and self._traced is not None else self._session

    def _new_session(
        self,
        connector: aiohttp.BaseConnector,
        *,
        owner: bool,
        traces: list[aiohttp.TraceConfig] | None = None,
    ) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = self._aiohttp.ClientSession(
            connector=connector,
            connector_owner=owner,
            trace_configs=traces,
            auto_decompress=False,  # httpx's response decodes Content-Encoding itself
            trust_env=False,  # proxies are httpx's business: mounts of its own transports
            cookie_jar=self._aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        return session

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        """httpx's ``timeout`` extension as aiohttp's, made once per set of values."""
        values = (timeout.get("pool"), timeout.get("connect"), timeout.get("read"))
        known = self._timeouts.get(values)
        if known is None:
            pool, connect, read = values
            known = self._timeouts[values] = self._aiohttp.ClientTimeout(
                total=None, connect=pool, sock_connect=connect, sock_read=read
            )
        return known

    def _ssl_context(self) -> ssl.SSLContext:
        """The context for https requests, made at the first one (plain http needs none)."""
        verify = self._verify
        if verify is True:
            verify = self._verify = default_ssl_context()
        elif not isinstance(verify, ssl.SSLContext):
            verify = self._verify = httpx.create_ssl_context(verify)
        return verify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        extensions = request.extensions
        trace = extensions.get("trace")
        content = await request.aread()
        url = request.url
        try:
            response = await self._open(trace is not None).request(
                request.method,
                self._url(str(url)),
                headers=request.headers.multi_items(),
                data=content or None,
                ssl=self._ssl_context() if url.scheme == "https" else True,
                allow_redirects=False,
                trace_request_ctx=trace,
                timeout=self._timeout(extensions.get("timeout", {})),
            )
        except Exception as exc:
            _raise_as_httpx(exc)
        answer: dict[str, Any] = {
            "http_version": b"HTTP/1.1",
            "reason_phrase": (response.reason or "").encode("ascii", "replace"),
        }
        stream: httpx.AsyncByteStream = _Body(response)
        whole = extensions.get(READ_WHOLE)
        if whole is not None and _short(response, whole):
            try:
                body = await response.read()
            except Exception as exc:
                _raise_as_httpx(exc)
            stream = httpx.ByteStream(body)
            answer[BODY] = body
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=stream,
            request=request,
            extensions=answer,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            assert self._traced is not None
            await self._traced.close()
            await self._session.close()  # the connector's owner: closes the pool
            self._session = self._traced = None
