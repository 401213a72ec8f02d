"""Progress bars are drawn from the executor's events, on stderr, with credits."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from seedance_batch import RunOptions, load_manifest, run
from seedance_batch._events import (
    Event,
    ImageSaved,
    JobFinished,
    JobSubmitted,
    Notice,
    RequestRetried,
    RunStarted,
)
from seedance_batch.cli._progress import LINE_INTERVAL, Progress
from seedance_batch.cli.run import summary_json
from seedance_batch.client import RetryPolicy
from seedance_batch.simulator import SimulatorConfig, serve


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


def test_off_a_terminal_a_progress_line_comes_every_interval() -> None:
    """Without bars, a line with counts of their totals, credits and rate comes every interval
    (30 s by default; 0.05 s here), with no event needed to prompt it."""
    stream = io.StringIO()
    with Progress(enabled=False, interval=0.05, file=stream) as progress:
        progress.on_event(RunStarted(jobs=3, to_submit=2, to_poll=1, images=4, credits_to_spend=6))
        progress.on_event(JobSubmitted("a" * 16, "t1", 2, False))
        time.sleep(0.4)
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 3
    assert lines[-1].startswith("progress: 1/2 submitted, 0/3 finished, 0/4 images, 2 credits, ")
    assert "jobs/min" in lines[-1]
    assert LINE_INTERVAL == 30.0


def test_no_bar_passes_its_total_on_a_run_with_resubmissions(tmp_path: Path) -> None:
    """The events of a real run whose tasks fail and are resubmitted, then a rerun that
    downloads a deleted image again: no bar ever counts past its total."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(RESUBMITTED)
    seen: list[tuple[list[int], list[int]]] = []

    def drawn(progress: Progress) -> Callable[[Event], None]:
        def on_event(event: Event) -> None:
            progress.on_event(event)
            seen.append(([bar.n for bar in progress.bars], [bar.total for bar in progress.bars]))

        return on_event

    options = dict(retry=RetryPolicy(base=0.01, cap=0.05, max_retries=6), max_attempts=4)
    with serve(SimulatorConfig(seed=5, fail_rate=0.5)) as sim:
        with Progress(enabled=True, file=io.StringIO()) as progress:
            first = run(
                load_manifest(manifest),
                RunOptions(base_url=sim.base_url, **options),
                api_key="sk-progress-1",
                on_event=drawn(progress),
            )
        resubmitted = sim.counters.creates - 6
        next(tmp_path.rglob("*-1.png")).unlink()
        with Progress(enabled=True, file=io.StringIO()) as progress:
            run(
                load_manifest(manifest),
                RunOptions(base_url=sim.base_url, retry_failed=True, **options),
                api_key="sk-progress-1",
                on_event=drawn(progress),
            )
    assert resubmitted > 0 and first.by_state
    assert seen
    for counts, totals in seen:
        assert all(n <= total for n, total in zip(counts, totals, strict=True)), (counts, totals)


def test_retries_are_said_once_per_kind_and_counted_in_the_line_and_the_summary(
    tmp_path: Path,
) -> None:
    """Against a simulator failing 60% of requests with 5xx (--error-rate 0.6): every retry is
    an event, the first of each kind (operation and reason) is one line on stderr, the rest
    are only counted: in the progress line, and in the summary (text and JSON)."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(RESUBMITTED)
    stream = io.StringIO()
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        progress.on_event(event)

    retry = RetryPolicy(base=0.001, cap=0.01, max_retries=30)
    with serve(SimulatorConfig(seed=31, error_rate=0.6)) as sim:
        with Progress(enabled=False, interval=0, file=stream) as progress:
            summary = run(
                load_manifest(manifest),
                RunOptions(base_url=sim.base_url, retry=retry, seed=3),
                api_key="sk-progress-2",
                on_event=on_event,
            )
        statuses = sim.counters.statuses
    retries = [e for e in events if isinstance(e, RequestRetried)]
    kinds = {(e.operation, e.reason) for e in retries}
    said = [line for line in stream.getvalue().splitlines() if line.startswith("warning: retry")]
    assert summary.by_state == {"succeeded": 6}
    assert len(retries) == sum(statuses.get(code, 0) for code in (500, 502, 503))  # each 5xx
    assert len(kinds) <= 9 < len(retries)  # 3 operations x 3 statuses, far fewer than retries
    assert len(said) == len(kinds)  # the first of each kind, once
    assert all("further retries like it are counted" in line for line in said)
    assert summary.retries == len(retries) == progress.retries
    assert f", {len(retries)} retries, " in progress.line()
    assert summary_json(summary)["retries"] == len(retries)


RESUBMITTED = """\
version: 1
name: resubmitted
defaults: {model: gpt-image-2-all}
execution: {concurrency: 3, requests_per_second: 200, poll_interval: 0.05, poll_max: 0.1}
jobs:
  - name: shot
    prompt: "A {thing}"
    matrix:
      thing: [cup, jug, bowl, vase, lamp, book]
"""
