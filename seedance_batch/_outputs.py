"""The outputs stage: after a run, ``results.jsonl`` and ``index.html`` rewritten from its records.

They are rewritten when what they show may have changed (contract, section 6), and left as
they are when the last run's are current, when the journal could not be written, or when the
run was stopped (a refused key, an unreachable host) before it made any task or image. A file
that cannot be written stops the run as any other: one line, exit 1. The gallery shows the
review file's decisions; a broken review file is a warning here (the run's work is done), and
the gallery is written without decisions.

Its slowest part, the thumbnails, starts early: :class:`ThumbnailsAsImagesLand` listens to the
run's events and hands each saved image to a child process that makes its thumbnail as the
image lands (:mod:`seedance_batch._thumbs_child`), so that the gallery finds them made. What
the child was not given when the run ends is left to the outputs stage, which makes every
missing thumbnail with all its workers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from seedance_batch._decisions import Entry, ReviewFileError, default_review_path, read_review
from seedance_batch._errors import OutputError
from seedance_batch._events import Event, EventCallback, ImageSaved, Notice, RunStarted, deliver
from seedance_batch._gallery import write_gallery
from seedance_batch._results import result_lines, write_results
from seedance_batch._run_values import FinishedRun, RunSummary
from seedance_batch._thumbs import Source
from seedance_batch._thumbs_child import ThumbChild

__all__ = ["ThumbnailsAsImagesLand", "outputs_due", "write_outputs"]

#: Stops after which the run still ended its tasks in flight: a file that cannot be written
#: is then what stopped it.
_SUBMISSIONS_ONLY = (None, "budget", "credits")
#: Stops that come before anything is made: with nothing made, nothing changed to show.
_REFUSED = ("auth", "unreachable")


def outputs_due(finished: FinishedRun) -> bool:
    """True when ``results.jsonl`` and ``index.html`` are to be rewritten after this run."""
    summary = finished.summary
    if finished.journal_failed:
        return False
    current = not finished.changed and summary.results.is_file() and summary.gallery.is_file()
    if current:
        return False
    return not (summary.stopped in _REFUSED and not finished.made_anything)


def write_outputs(finished: FinishedRun, on_event: EventCallback | None = None) -> RunSummary:
    """Rewrite the run's outputs when due; the summary, saying whether they were written."""
    summary = finished.summary
    if not outputs_due(finished):
        return dataclasses.replace(summary, outputs_written=False)
    out, jobs, records = finished.out, finished.jobs, finished.records
    try:
        write_results(out, result_lines(jobs, records))
        decisions = _decisions(finished, on_event)
        write_gallery(out, finished.manifest, jobs, records, decisions=decisions)
    except OutputError as exc:
        if summary.stopped not in _SUBMISSIONS_ONLY:  # the run's own stop was said already
            return dataclasses.replace(summary, outputs_written=False)
        reason = str(exc)
        deliver(on_event, Notice("error", reason))
        return dataclasses.replace(summary, stopped="output", reason=reason, outputs_written=False)
    return dataclasses.replace(summary, outputs_written=True)


def _decisions(finished: FinishedRun, on_event: EventCallback | None) -> dict[str, Entry]:
    """The review file's decisions for the gallery; none, with a warning, when it is broken."""
    try:
        return read_review(default_review_path(finished.manifest.path))
    except ReviewFileError as exc:
        deliver(on_event, Notice("warning", f"the gallery shows no decisions: {exc}"))
        return {}


class ThumbnailsAsImagesLand:
    """An event callback for a run: passes every event on to ``on_event`` and hands each saved
    image to a child process that makes its thumbnail (:class:`ThumbChild`, started with the
    first image, so a run with nothing to save starts none).

    :meth:`close` when the run ends: it drops what the child was not given yet (the outputs
    stage makes it) and waits for what it was. A thumbnail that cannot be made is left to the
    outputs stage too, which says why.
    """

    def __init__(self, on_event: EventCallback | None = None) -> None:
        self._on_event = on_event
        self._child: ThumbChild | None = None

    def __call__(self, event: Event) -> None:
        self._on_event = deliver(self._on_event, event)
        child = self._child
        if isinstance(event, ImageSaved):
            if child is not None and event.sha256:
                child.queue(Source(event.path, event.sha256, event.bytes))
        elif child is not None:
            if child.waiting:
                child.pump()
        elif isinstance(event, RunStarted) and event.out:
            self._child = ThumbChild(Path(event.out))

    def close(self) -> None:
        """Drop the thumbnails not handed over and wait for those that were."""
        if self._child is not None:
            self._child.close()
            self._child = None
