"""Delivery: approved images exported, named, shaped and labelled, to a folder or to S3."""

from __future__ import annotations

from seedance_batch.delivery._target import Target, open_target

__all__ = ["Target", "open_target"]
