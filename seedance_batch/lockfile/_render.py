"""Rendering a lockfile: pretty, stable and diff-friendly bytes, faster than ``json.dumps``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Final

from seedance_batch.lockfile._records import JobRecord, Spent

__all__ = ["compact", "compact_reference", "pretty", "put_line", "render_lockfile"]

#: One JSON value on one line, as the journal writes it: the reference.
compact_reference: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _fast_compact() -> Callable[[Any], str]:
    """:data:`compact_reference` with its C encoder made once, not once a call (what
    ``JSONEncoder.encode`` spends most of a journal line's encoding on); no check for cycles,
    which a lockfile's values cannot have."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - Pythons without the C accelerator
        return compact_reference
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    encode = make(
        None,
        reference.default,
        json.encoder.encode_basestring,
        None,
        reference.key_separator,
        reference.item_separator,
        False,
        False,
        True,
    )

    def compact(value: Any) -> str:
        return "".join(encode(value, 0))

    return compact


#: One JSON value on one line, as :data:`compact_reference` writes it.
compact: Final = _fast_compact()
_scalar: Final = json.JSONEncoder(ensure_ascii=False).encode


def put_line(job_id: str, record: str, spent: Spent) -> str:
    """A journal's put line, as ``compact({"put": job_id, "record": entry, "spent": ...})``
    writes it, from ``record``, the entry already encoded with :data:`compact`, and
    ``job_id``, a checked job id (hex digits: nothing to escape)."""
    return f'{{"put":"{job_id}","record":{record},"spent":{compact(spent.to_json())}}}'


def pretty(value: Any, indent: str, out: list[str]) -> None:
    """Append ``value`` as ``json.dumps(indent=2, ensure_ascii=False)`` would, at ``indent``."""
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "  "
        out.append("{")
        first = True
        for key, item in value.items():
            out.append("\n" + inner if first else ",\n" + inner)
            first = False
            out.append(_scalar(str(key)))
            out.append(": ")
            pretty(item, inner, out)
        out.append("\n" + indent + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = indent + "  "
        out.append("[")
        first = True
        for item in value:
            out.append("\n" + inner if first else ",\n" + inner)
            first = False
            pretty(item, inner, out)
        out.append("\n" + indent + "]")
    else:
        out.append(_scalar(value))


def render_lockfile(
    manifest_name: str,
    manifest_sha256: str,
    jobs: Iterable[JobRecord],
    *,
    nonce: str | None = None,
    output: str | None = None,
    spent: Spent | None = None,
) -> bytes:
    """The lockfile's bytes: 2-space indented JSON, fixed key order, a trailing newline.

    Byte for byte what ``json.dumps(document, indent=2, ensure_ascii=False) + "\\n"`` gives, but
    faster: each job is rendered on its own. Without ``spent``, the sum over ``jobs``; without
    ``nonce``, none is written (a lockfile gets one when a run opens it).
    """
    if spent is None:
        jobs = list(jobs)
        spent = Spent.over(jobs)
    out = [
        '{\n  "version": 1,\n  "manifest": {\n    "name": ',
        _scalar(manifest_name),
        ',\n    "sha256": ',
        _scalar(manifest_sha256),
        "\n  },\n",
    ]
    if nonce is not None:
        out.append(f'  "nonce": {_scalar(nonce)},\n')
    out.append(f'  "output": {_scalar(output)},\n')
    out.append(
        f'  "spent": {{\n    "credits": {spent.credits},\n'
        f'    "possible_double_charges": {spent.possible_double_charges}\n  }},\n  "jobs": '
    )
    first = True
    for record in jobs:
        out.append("{\n    " if first else ",\n    ")
        first = False
        out.append(_scalar(record.id))
        out.append(": ")
        pretty(record.to_json(), "    ", out)
    out.append("{}\n}\n" if first else "\n  }\n}\n")
    return "".join(out).encode("utf-8")
