"""The request and the reply passed between the HTTP layer and the API: plain data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

#: ``answer``: send the reply. ``reset``: drop the connection without a byte.
#: ``truncate``: send the head with the full Content-Length, half the body, then close.
Fate = Literal["answer", "reset", "truncate"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # names lowercased
    body: bytes


@dataclass(frozen=True)
class Reply:
    """An answer, and how it goes out.

    ``delay``: seconds to wait before writing anything. ``stall``: seconds to wait after the
    head and the first half of the body (an ``answer`` to GET only). Both wait on the event loop
    and hold only this connection.
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    fate: Fate = "answer"
    delay: float = 0.0
    stall: float = 0.0


RESET = Reply(0, fate="reset")


def json_reply(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Reply(status, body, headers=headers)


def error_reply(
    status: int,
    message: str,
    error_type: str,
    *,
    param: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    extra: tuple[tuple[str, object], ...] = (),
) -> Reply:
    error: dict[str, object] = {"message": message, "type": error_type}
    if param is not None:
        error["param"] = param
    error.update(extra)
    return json_reply(status, {"error": error}, headers)
