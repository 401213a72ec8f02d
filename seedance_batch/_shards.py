"""Shards: a plan split by job id into N parts that never overlap (contract, section 12)."""

from __future__ import annotations

__all__ = ["CARRIED", "Shard", "parse_shard", "shard_of"]

#: ``(K, N)``: shard K (from 1) of N (contract, section 12).
Shard = tuple[int, int]


def shard_of(job_id: str, count: int) -> int:
    """The shard (1 to ``count``) that job ``job_id`` (16 hex digits) falls in: its id as a
    number, modulo ``count``, plus one. A function of the id alone: shards never overlap, and
    together they cover the plan whatever its order or subset."""
    return int(job_id, 16) % count + 1


def parse_shard(text: str) -> Shard:
    """``"K/N"`` as ``(K, N)``, 1 <= K <= N; ``ValueError`` saying what is wrong."""
    k, slash, n = text.partition("/")
    if not slash or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"expected K/N (shard K of N, such as 1/4), got {text!r}")
    index, count = int(k), int(n)
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return index, count


#: What a new shard lockfile takes from the campaign's: records neither new nor done.
CARRIED = frozenset({"submitting", "submitted", "failed"})
