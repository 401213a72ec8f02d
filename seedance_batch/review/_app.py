"""The review app's HTTP side: an aiohttp application on 127.0.0.1 that serves only its campaign.

Routes: ``GET /`` (the page), ``GET /api/images`` (filtered, paged images with their decisions
and the filters' values), ``POST /api/decisions`` (one decision, written at once to the review
file), ``GET /thumbs/<sha256>`` (made on demand, then cached for good), ``GET /images/<path>``
(a recorded image, nothing else). Every request whose ``Host`` is not the app's own
``127.0.0.1:<port>`` or ``localhost:<port>``, whose ``Origin`` (when sent) is not the app's, or
that a browser marks as cross-site, is refused (403): a page elsewhere, or a DNS rebinding,
cannot read the campaign or post decisions. The app needs no key and never talks to the API.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from seedance_batch._decisions import DECISIONS, ReviewFile
from seedance_batch._errors import SeedanceBatchError
from seedance_batch._thumbs import ThumbMaker, open_recorded, thumb_relpath
from seedance_batch.review._campaign import CampaignSource, image_json, source_of
from seedance_batch.review._page import PAGE, PAGE_CSP

__all__ = ["LOOPBACK", "ReviewApp", "create_app"]

LOOPBACK: Final = "127.0.0.1"
_CHUNK: Final = 256 * 1024
_MEDIA_TYPES: Final = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_LONGEST_NOTE: Final = 2_000
_SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_APP_KEY: Final = web.AppKey("review", object)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ReviewApp:
    """The state behind the routes: the campaign, its review file, its thumbnails, the port."""

    def __init__(self, source: CampaignSource, review: ReviewFile, thumbs: ThumbMaker) -> None:
        self.source = source
        self.review = review
        self.thumbs = thumbs
        self.port: int | None = None  # set once the socket is bound

    def own_hosts(self) -> frozenset[str]:
        return frozenset({f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"})

    def own_origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.own_hosts())


def _state(request: web.Request) -> ReviewApp:
    app = request.app[_APP_KEY]
    assert isinstance(app, ReviewApp)
    return app


def _refused(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=403, headers=_SECURITY_HEADERS)


@web.middleware
async def _own_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 unless Host is ours, Origin (when sent) is ours and the browser says same-origin."""
    state = _state(request)
    if request.headers.get("Host", "").lower() not in state.own_hosts():
        return _refused("this app answers only to its own address on 127.0.0.1")
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in state.own_origins():
        return _refused("requests from another origin are refused")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return _refused("cross-site requests are refused")
    response = await handler(request)
    response.headers.update(_SECURITY_HEADERS)
    return response


async def _page(request: web.Request) -> web.Response:
    return web.Response(
        text=PAGE,
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


def _query(request: web.Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in request.rel_url.query.items():
        query.setdefault(name, []).append(value)
    return query


async def _images(request: web.Request) -> web.Response:
    state = _state(request)
    loop = asyncio.get_running_loop()
    campaign = await loop.run_in_executor(None, state.source.current)
    entries = await loop.run_in_executor(None, state.review.entries)
    try:
        page = campaign.page(_query(request), entries)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    counts = {"approved": 0, "favourite": 0, "rejected": 0, "undecided": 0}
    for sha256 in campaign.by_sha256:
        entry = entries.get(sha256)
        counts[entry.decision if entry else "undecided"] += 1
    return web.json_response(
        {
            "campaign": campaign.name,
            "review_file": state.review.path.name,
            "by": state.review.by,
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "images": [image_json(image, entries.get(image.sha256)) for image in page.images],
            "facets": campaign.facets,
            "counts": counts,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _decide(request: web.Request) -> web.Response:
    state = _state(request)
    if request.content_type != "application/json":
        return web.json_response({"error": "send JSON"}, status=415)
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "not JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "send an object"}, status=400)
    sha256, decision, note = body.get("sha256"), body.get("decision"), body.get("note")
    if decision is not None and decision not in DECISIONS:
        return web.json_response(
            {"error": "decision is approved, rejected, favourite or null (undecided)"}, status=400
        )
    if note is not None and (not isinstance(note, str) or len(note) > _LONGEST_NOTE):
        return web.json_response({"error": "note is text, 2,000 characters at most"}, status=400)
    campaign = state.source.campaign
    image = campaign.by_sha256.get(sha256) if isinstance(sha256, str) else None
    if image is None:
        return web.json_response({"error": "no such image in this campaign"}, status=404)
    loop = asyncio.get_running_loop()
    try:
        entry = await loop.run_in_executor(
            None, state.review.decide, campaign.located, image.sha256, decision, note
        )
    except SeedanceBatchError as exc:  # an unreadable or unwritable review file
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response(image_json(image, entry))


async def _send_file(
    request: web.Request, fd: int, media_type: str, cache: str
) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        response = web.StreamResponse(
            headers={
                "Content-Type": media_type,
                "Content-Length": str(size),
                "Cache-Control": cache,
            }
        )
        try:
            await response.prepare(request)
            while chunk := await loop.run_in_executor(None, handle.read, _CHUNK):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:  # the browser went away (a page closed, a tab scrolled on)
            pass
    return response


async def _thumb(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    image = state.source.campaign.by_sha256.get(request.match_info["sha256"])
    if image is None:
        raise web.HTTPNotFound()
    try:
        await asyncio.wrap_future(state.thumbs.ensure(source_of(image)))
    except SeedanceBatchError as exc:  # the thumbnails' folder cannot be written
        return web.json_response({"error": str(exc)}, status=500)
    fd = open_recorded(state.source.campaign.out, thumb_relpath(image.sha256))
    if fd is None:  # the image itself is missing or unreadable
        raise web.HTTPNotFound()
    return await _send_file(request, fd, "image/webp", "private, max-age=31536000, immutable")


async def _image(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    campaign = state.source.campaign
    image = campaign.by_path.get(request.match_info["path"])
    if image is None:
        raise web.HTTPNotFound()
    media_type = _MEDIA_TYPES.get(image.path.rpartition(".")[2].lower())
    fd = open_recorded(campaign.out, image.path, image.bytes)
    if fd is None or media_type is None:
        if fd is not None:
            os.close(fd)
        raise web.HTTPNotFound()
    return await _send_file(request, fd, media_type, "private, max-age=3600")


def create_app(state: ReviewApp) -> web.Application:
    """The aiohttp application over ``state`` (its ``port`` set once the socket is bound)."""
    app = web.Application(middlewares=[_own_origin_only], client_max_size=64 * 1024)
    app[_APP_KEY] = state
    app.router.add_get("/", _page)
    app.router.add_get("/favicon.ico", _no_icon)
    app.router.add_get("/api/images", _images)
    app.router.add_post("/api/decisions", _decide)
    app.router.add_get("/thumbs/{sha256}", _thumb)
    app.router.add_get("/images/{path:.+}", _image)
    return app
