"""Progress bars on stderr, drawn from the executor's events with tqdm."""

from __future__ import annotations

import sys
from types import TracebackType

from tqdm import tqdm

from seedance_batch._events import Event, ImageSaved, JobFinished, JobSubmitted, Notice, RunStarted


class Progress:
    """Three bars (submitted, finished, downloaded) with credits; silent when disabled."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: list[tqdm] = []
        self.credits = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for bar in self.bars:
            bar.close()

    def on_event(self, event: Event) -> None:
        if isinstance(event, Notice):
            self._write(f"{event.level}: {event.message}")
            return
        if not self.enabled:
            return
        if isinstance(event, RunStarted):
            options = {"file": sys.stderr, "dynamic_ncols": True, "leave": True}
            self.bars = [
                tqdm(total=event.to_submit, desc="submitted ", unit="job", position=0, **options),
                tqdm(
                    total=event.to_submit + event.to_poll,
                    desc="finished  ",
                    unit="job",
                    position=1,
                    **options,
                ),
                tqdm(total=event.images, desc="downloaded", unit="img", position=2, **options),
            ]
        elif isinstance(event, JobSubmitted) and self.bars:
            self.credits += event.credits
            self.bars[0].update()
            self.bars[0].set_postfix_str(f"{self.credits} credits", refresh=False)
        elif isinstance(event, JobFinished) and self.bars:
            self.bars[1].update()
        elif isinstance(event, ImageSaved) and self.bars:
            self.bars[2].update()

    def _write(self, text: str) -> None:
        if self.bars:
            tqdm.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)
