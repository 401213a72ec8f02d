"""Progress on stderr, drawn from the executor's events: tqdm bars on a terminal, else a line
every 30 seconds (contract, section 7). Printing never raises into the run.

Retries are said without flooding: the first of each kind (operation and reason) at once, the
rest counted in the bars' and the progress line's ``N retries``."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

from seedance_batch._events import (
    Event,
    ImageSaved,
    JobFinished,
    JobSubmitted,
    Notice,
    RequestRetried,
    RunStarted,
)

#: Seconds between two progress lines when there are no bars (off a terminal, --no-progress).
LINE_INTERVAL = 30.0
#: How each operation a retry can repeat is named in its line.
_REQUESTS = {"create": "a create", "get_task": "a poll", "download": "an image download"}


def retry_line(event: RequestRetried) -> str:
    """The one line that says the first retry of its kind."""
    what = _REQUESTS.get(event.operation, event.operation)
    doubt = " (it may have reached the API: a possible double charge)"
    return (
        f"retrying {what} after {event.reason} in {event.delay:.1f} s"
        f"{doubt if event.possible_double_charge else ''}; "
        "further retries like it are counted, not shown"
    )


class Progress:
    """Three bars (submitted, finished, downloaded) with credits when ``enabled``, otherwise
    one line every ``interval`` seconds. A job or image counts once, whatever resubmissions
    or downloads again happen, and no count passes its total."""

    def __init__(
        self,
        *,
        enabled: bool,
        interval: float = LINE_INTERVAL,
        file: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.interval = interval
        self.file = file if file is not None else sys.stderr
        self.clock = clock
        self.bars: list[tqdm] = []
        self.credits = 0
        self.retries = 0
        self.totals = (0, 0, 0)
        self._submitted: set[str] = set()
        self._finished: set[str] = set()
        self._saved: set[tuple[str, str]] = set()
        self._started = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.broken = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        for bar in self.bars:
            try:
                bar.close()
            except Exception:  # printing never changes a run
                self.broken = True

    @property
    def counts(self) -> tuple[int, int, int]:
        """Jobs submitted, jobs finished and images saved in this run, each capped at its total."""
        submitted, finished, images = self.totals
        return (
            min(len(self._submitted), submitted),
            min(len(self._finished), finished),
            min(len(self._saved), images),
        )

    def on_event(self, event: Event) -> None:
        """Draw one event; never raises (a broken stderr stops the drawing, not the run)."""
        try:
            with self._lock:
                self._draw(event)
        except Exception:  # printing never changes a run
            self.broken = True

    def _draw(self, event: Event) -> None:
        if isinstance(event, Notice):
            self._write(f"{event.level}: {event.message}")
        elif isinstance(event, RequestRetried):
            self.retries += 1
            if event.count == 1:
                self._write(f"warning: {retry_line(event)}")
        elif isinstance(event, RunStarted):
            self._start(event)
        elif isinstance(event, JobSubmitted):
            self.credits += event.credits
            self._submitted.add(event.job_id)
        elif isinstance(event, JobFinished):
            self._finished.add(event.job_id)
        elif isinstance(event, ImageSaved):
            self._saved.add((event.job_id, event.path))
        self._refresh()

    def _start(self, event: RunStarted) -> None:
        self.totals = (event.to_submit, event.to_submit + event.to_poll, event.images)
        self._started = self.clock()
        if not self.enabled:
            if self._ticker is None and self.interval > 0:
                self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
                self._ticker.start()
            return
        options = {"file": self.file, "dynamic_ncols": True, "leave": True}
        names = (("submitted ", "job"), ("finished  ", "job"), ("downloaded", "img"))
        self.bars = [
            tqdm(total=total, desc=desc, unit=unit, position=position, **options)
            for position, (total, (desc, unit)) in enumerate(zip(self.totals, names, strict=True))
        ]

    def _refresh(self) -> None:
        if not self.bars:
            return
        for bar, count in zip(self.bars, self.counts, strict=True):
            if bar.n != count:
                bar.update(count - bar.n)
        self.bars[0].set_postfix_str(f"{self.credits} credits{self._retries()}", refresh=False)

    def _retries(self) -> str:
        return f", {self.retries} retries" if self.retries else ""

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.on_event(Notice("progress", self.line()))

    def line(self) -> str:
        """The progress line: counts of their totals, credits, rate and time so far."""
        (submitted, finished, images), (to_submit, to_finish, to_save) = self.counts, self.totals
        elapsed = max(self.clock() - self._started, 1e-9)
        return (
            f"{submitted}/{to_submit} submitted, {finished}/{to_finish} finished, "
            f"{images}/{to_save} images, {self.credits} credits{self._retries()}, "
            f"{finished / elapsed * 60:.1f} jobs/min, {elapsed:.0f} s"
        )

    def _write(self, text: str) -> None:
        if self.broken:
            return
        if self.bars:
            tqdm.write(text, file=self.file)
        else:
            print(text, file=self.file, flush=True)
