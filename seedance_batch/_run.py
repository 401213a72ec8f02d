"""``seedance_batch.run``: execute the selected jobs, then write the run's outputs."""

from __future__ import annotations

import asyncio
import dataclasses

from seedance_batch._events import EventCallback
from seedance_batch._executor import execute
from seedance_batch._manifest import Manifest
from seedance_batch._outputs import ThumbnailsAsImagesLand, write_outputs
from seedance_batch._run_values import DEFAULT_OPTIONS, RunOptions, RunSummary

__all__ = ["run", "run_async"]


def run(
    manifest: Manifest,
    options: RunOptions = DEFAULT_OPTIONS,
    *,
    api_key: str | None = None,
    on_event: EventCallback | None = None,
) -> RunSummary:
    """Run a manifest to the end (see :func:`run_async`), in a new event loop."""
    return asyncio.run(run_async(manifest, options, api_key=api_key, on_event=on_event))


async def run_async(
    manifest: Manifest,
    options: RunOptions = DEFAULT_OPTIONS,
    *,
    api_key: str | None = None,
    on_event: EventCallback | None = None,
) -> RunSummary:
    """Submit, poll and download every selected job that needs it, resuming what a run left;
    then rewrite ``results.jsonl`` and ``index.html`` when the run changed what they show (a
    shard leaves them to ``merge``: shards running at once share ``<out>``). The gallery's
    thumbnails are made in the background as the images land.

    Before any request: the lockfile is locked and loaded, the campaign's budget checked
    (:class:`BudgetExceededError`), the key found (:class:`ConfigurationError`). A lockfile
    that cannot be written mid-run stops the run; the summary lists what it could not record.
    """
    if options.shard is not None:
        finished = await execute(manifest, options, api_key=api_key, on_event=on_event)
        return dataclasses.replace(finished.summary, outputs_written=False)
    thumbnails = ThumbnailsAsImagesLand(on_event)
    try:
        finished = await execute(manifest, options, api_key=api_key, on_event=thumbnails)
    finally:
        thumbnails.close()
    return write_outputs(finished, on_event)
