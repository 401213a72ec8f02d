"""How a job is named for people: its variant's values and its size, one function each."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["job_size", "variant_text"]


def variant_text(variant: Mapping[str, str], empty: str = "-") -> str:
    """A combination for a table cell or a label: ``product=serum, size=1:1``; ``empty`` when it
    has no values (a job without a matrix)."""
    if not variant:
        return empty
    return ", ".join(f"{name}={value}" for name, value in variant.items())


def job_size(request: Mapping[str, object]) -> str | None:
    """The size a request asks for: its ``size`` (``16:9``, ``1024x1536``) or its preset, None
    when it names neither (the API's default)."""
    size = request.get("size") or request.get("imageSizePreset")
    return None if size is None else str(size)
