"""The gallery's thumbnails are made in the background while the run goes on, as images land."""

from __future__ import annotations

import time
from pathlib import Path

from _support.campaign import KEY, Campaign

from seedance_batch import (
    Event,
    ImageSaved,
    JobFinished,
    RunOptions,
    RunStarted,
    load_manifest,
    run,
)
from seedance_batch._outputs import ThumbnailsAsImagesLand
from seedance_batch._thumbs import thumb_is_whole, thumb_path
from seedance_batch.simulator import SimulatorConfig, serve


def _appears(path: Path, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if thumb_is_whole(path):
            return True
        time.sleep(0.01)
    return thumb_is_whole(path)


def test_a_saved_images_thumbnail_is_there_before_the_run_ends(campaign: Campaign) -> None:
    """When a job's images are saved, their thumbnails appear while the run still has tasks in
    flight (the outputs stage finds them made); every event still reaches the caller."""
    seen: list[Event] = []
    early: list[bool] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if isinstance(event, JobFinished) and not early:
            saved = [e for e in seen if isinstance(e, ImageSaved)]
            out = Path(next(e for e in seen if isinstance(e, RunStarted)).out)
            early.append(all(_appears(thumb_path(out, e.sha256), 5.0) for e in saved))

    with serve(SimulatorConfig(seed=3, latency=0.3)) as simulator:
        options = RunOptions(base_url=simulator.base_url, poll_interval=0.05, poll_max=0.2)
        summary = run(load_manifest(campaign.manifest), options, api_key=KEY, on_event=on_event)
    assert summary.succeeded == 12
    assert early == [True]
    started = next(e for e in seen if isinstance(e, RunStarted))
    assert Path(started.out) == campaign.out
    saved = [e for e in seen if isinstance(e, ImageSaved)]
    assert len(saved) == 14 and all(len(e.sha256) == 64 for e in saved)
    assert all(thumb_is_whole(thumb_path(campaign.out, e.sha256)) for e in saved)


def test_events_pass_through_and_nothing_is_made_before_the_run_says_where(
    tmp_path: Path,
) -> None:
    """The listener passes each event on as it came; an image saved before the run said its
    output folder (no RunStarted) makes no thumbnail; closing twice is harmless."""
    got: list[Event] = []
    listener = ThumbnailsAsImagesLand(got.append)
    saved = ImageSaved("a" * 16, "job/x-1.png", 10, "0" * 64)
    listener(saved)
    listener.close()
    listener.close()
    assert got == [saved]
    assert not (tmp_path / ".thumbs").exists()
