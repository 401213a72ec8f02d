"""Where a campaign was delivered: ``<out>/.deliveries.json``, one entry per destination, so
that ``verify`` finds them again without being told."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from seedance_batch._errors import DeliveryError, OutputError
from seedance_batch._files import atomic_write

__all__ = [
    "DESTINATIONS_NAME",
    "Destination",
    "read_destinations",
    "remember_destination",
    "where",
    "without_credentials",
]

DESTINATIONS_NAME = ".deliveries.json"


@dataclass(frozen=True)
class Destination:
    """A destination as ``export`` reached it: a folder's absolute path or an ``s3://`` URL,
    and the S3 endpoint it was given (never a credential)."""

    dest: str
    endpoint_url: str | None = None


def where(dest: str) -> str:
    """``dest`` as it is remembered: an ``s3://`` URL as written, a folder made absolute."""
    return dest if dest.startswith("s3://") else os.path.abspath(dest)


def read_destinations(out: Path) -> list[Destination]:
    """The destinations ``<out>/.deliveries.json`` lists; none when it is missing or unreadable
    (it is a convenience: ``verify --to`` names any destination)."""
    try:
        items = json.loads((out / DESTINATIONS_NAME).read_text(encoding="utf-8"))["destinations"]
        return [Destination(str(i["dest"]), i.get("endpoint_url")) for i in items]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def without_credentials(url: str | None) -> str | None:
    """``url`` without a user, a password or a query (where a signed URL keeps its secrets)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def remember_destination(out: Path, destination: Destination) -> None:
    """Add ``destination`` to ``<out>/.deliveries.json`` (nothing is written when it is there);
    an endpoint is remembered without credentials."""
    destination = Destination(destination.dest, without_credentials(destination.endpoint_url))
    known = read_destinations(out)
    if destination in known:
        return
    items = [
        {"dest": d.dest, **({"endpoint_url": d.endpoint_url} if d.endpoint_url else {})}
        for d in (*known, destination)
    ]
    text = json.dumps({"destinations": items}, indent=2) + "\n"
    try:
        atomic_write(out / DESTINATIONS_NAME, text.encode(), durable=False, what="cannot write")
    except OutputError as exc:
        raise DeliveryError(str(exc)) from exc
