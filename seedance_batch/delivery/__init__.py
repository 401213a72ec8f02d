"""Delivery: approved images exported, named, shaped and labelled, to a folder or to S3.

Its names are imported on first use (PEP 562): ``validate`` reads the name checks of this
package without loading Pillow, the planner's run side or boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seedance_batch.delivery._export import Delivered, ExportSummary, export
    from seedance_batch.delivery._target import Target, open_target
    from seedance_batch.delivery._verify import VerifyReport, verify

__all__ = [
    "Delivered",
    "ExportSummary",
    "Target",
    "VerifyReport",
    "export",
    "open_target",
    "verify",
]

_HOMES = {
    "Delivered": "_export",
    "ExportSummary": "_export",
    "export": "_export",
    "Target": "_target",
    "open_target": "_target",
    "VerifyReport": "_verify",
    "verify": "_verify",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
