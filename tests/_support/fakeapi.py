"""A throwaway API on 127.0.0.1 for answers the simulator does not give (409s, too many URLs)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from seedance_batch.simulator._png import render_image

#: (status, JSON body) of an answer.
Answer = tuple[int, dict[str, Any]]


@dataclass
class FakeApi:
    """Scripted answers: ``create(idempotency_key)`` and ``poll(task_id)`` give (status, body);
    images are served at ``/img/<name>.png``. Every request is recorded."""

    create: Callable[[str], Answer]
    poll: Callable[[str], Answer]
    base_url: str = ""
    creates: list[str] = field(default_factory=list)  # the Idempotency-Key of each create
    image_requests: list[str] = field(default_factory=list)

    def image_url(self, name: str) -> str:
        return f"{self.base_url}/img/{name}.png"


PNG = render_image("fake", 1, 8, 8)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, answer: Answer) -> None:
            self._answer(answer[0], json.dumps(answer[1]).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            key = self.headers.get("Idempotency-Key", "")
            api.creates.append(key)
            self._json(api.create(key))

        def do_GET(self) -> None:
            if self.path.startswith("/img/"):
                api.image_requests.append(self.path)
                self._answer(200, PNG, "image/png")
            elif self.path.startswith("/v1/tasks/"):
                self._json(api.poll(self.path.rpartition("/")[2]))
            else:
                self._json((404, {"error": {"message": "no such endpoint"}}))

    return Handler


@contextmanager
def fake_api(
    create: Callable[[str], Answer], poll: Callable[[str], Answer] | None = None
) -> Iterator[FakeApi]:
    """Serve a :class:`FakeApi` on a free port of 127.0.0.1 while the block runs."""
    api = FakeApi(create, poll or (lambda _id: (404, {"error": {"message": "no such task"}})))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
