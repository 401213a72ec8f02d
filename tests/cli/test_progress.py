"""Progress bars are drawn from the executor's events, on stderr, with credits."""

from __future__ import annotations

import pytest

from seedance_batch._events import ImageSaved, JobFinished, JobSubmitted, Notice, RunStarted
from seedance_batch.cli._progress import Progress


def test_bars_count_submitted_finished_and_downloaded(capsys: pytest.CaptureFixture[str]) -> None:
    """Three bars follow the events, and the submitted bar shows the credits."""
    with Progress(enabled=True) as progress:
        progress.on_event(RunStarted(jobs=3, to_submit=2, to_poll=1, images=4, credits_to_spend=6))
        progress.on_event(JobSubmitted("a" * 16, "t1", 2, False))
        progress.on_event(JobSubmitted("b" * 16, "t2", 4, False))
        progress.on_event(JobFinished("a" * 16, "succeeded", 1, 1))
        progress.on_event(ImageSaved("a" * 16, "j/x/1.png", 100))
        counts = [bar.n for bar in progress.bars]
        totals = [bar.total for bar in progress.bars]
        assert progress.credits == 6
    assert counts == [2, 1, 1]
    assert totals == [2, 3, 4]
    err = capsys.readouterr().err
    assert "submitted" in err and "6 credits" in err and "downloaded" in err


def test_disabled_progress_draws_nothing_but_notices(capsys: pytest.CaptureFixture[str]) -> None:
    """With bars off (no terminal, or --no-progress), only notices reach stderr."""
    with Progress(enabled=False) as progress:
        progress.on_event(RunStarted(jobs=1, to_submit=1, to_poll=0, images=1, credits_to_spend=2))
        progress.on_event(JobSubmitted("a" * 16, "t1", 2, False))
        progress.on_event(Notice("warning", "budget reached"))
        assert progress.bars == []
    assert capsys.readouterr().err == "warning: budget reached\n"
