"""What the simulator saw, as immutable snapshots that tests read from any thread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Listener = Literal["api", "images"]


@dataclass(frozen=True)
class ImageRequest:
    """One request for an image: its path, the listener it reached and its headers (lowercased)."""

    path: str
    listener: Listener
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Counters:
    """A snapshot of the counters.

    ``statuses`` counts answers sent by status (truncated image bodies count as 200, resets as
    nothing). ``create_requests`` counts every create received; ``creates`` the tasks created;
    ``task_ids`` lists them in creation order. ``charges`` is credits charged per key.
    ``polls`` counts the polls answered with the task, per task id. ``idempotent_replays``
    counts creates answered with an existing task. ``resets`` counts connections dropped,
    ``resets_after_create`` those of them that dropped a create's answer after its task was made.
    ``image_stalls_started`` counts image downloads whose ``image_stall`` began, once the head and
    half the body are handed to the socket (a client may see them a moment before the count).
    ``noticed`` gives, per task that ended, the seconds from its end to the first poll that
    was answered with it ended (how late a client saw it).

    Everything counts when the simulator decides it, before the answer goes out: during a
    ``create_delay`` the task is already in ``creates``, ``task_ids`` and ``charges``, and its
    200 in ``statuses``, so a test can poll for it and then kill the client.
    """

    requests: int = 0
    statuses: Mapping[int, int] = field(default_factory=dict)
    create_requests: int = 0
    creates: int = 0
    task_ids: tuple[str, ...] = ()
    charges: Mapping[str, int] = field(default_factory=dict)
    polls: Mapping[str, int] = field(default_factory=dict)
    image_requests: tuple[ImageRequest, ...] = ()
    idempotent_replays: int = 0
    resets: int = 0
    resets_after_create: int = 0
    truncations: int = 0
    image_stalls_started: int = 0
    noticed: Mapping[str, float] = field(default_factory=dict)

    @property
    def credits_charged(self) -> int:
        """Credits charged over all keys."""
        return sum(self.charges.values())


class Tally:
    """The mutable counters behind :class:`Counters`; the caller holds the simulator's lock."""

    def __init__(self) -> None:
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.create_requests = 0
        self.task_ids: list[str] = []
        self.charges: Counter[str] = Counter()
        self.polls: Counter[str] = Counter()
        self.image_requests: list[ImageRequest] = []
        self.idempotent_replays = 0
        self.resets = 0
        self.resets_after_create = 0
        self.truncations = 0
        self.image_stalls_started = 0
        self.noticed: dict[str, float] = {}

    def snapshot(self) -> Counters:
        return Counters(
            requests=self.requests,
            statuses=MappingProxyType(dict(self.statuses)),
            create_requests=self.create_requests,
            creates=len(self.task_ids),
            task_ids=tuple(self.task_ids),
            charges=MappingProxyType(dict(self.charges)),
            polls=MappingProxyType(dict(self.polls)),
            image_requests=tuple(self.image_requests),
            idempotent_replays=self.idempotent_replays,
            resets=self.resets,
            resets_after_create=self.resets_after_create,
            truncations=self.truncations,
            image_stalls_started=self.image_stalls_started,
            noticed=MappingProxyType(dict(self.noticed)),
        )
