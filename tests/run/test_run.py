"""A run against the simulator over real HTTP: clean, rerun, refusals, exit codes, secrets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from _support.campaign import KEY, Campaign, cli_env, product_files, run_cli, start_cli, tree_bytes
from _support.checks import assert_charged_honestly, assert_complete

from seedance_batch import RunOptions, load_manifest, plan, run
from seedance_batch.cli._errors import run_exit_code
from seedance_batch.lockfile import read_lockfile
from seedance_batch.simulator import SimulatorConfig, serve


def test_clean_run_downloads_every_image(campaign: Campaign) -> None:
    """A clean run succeeds, saves every image verified, charges each job once, exits 0."""
    with serve(SimulatorConfig(seed=1, latency=0.05)) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert done.returncode == 0, done.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert counters.charges[KEY] == plan(load_manifest(campaign.manifest)).totals.credits
    assert_charged_honestly(campaign.manifest, counters, KEY)
    credits = "credits: 32 charged in this run (32 first attempts, 0 resubmissions), 32 spent"
    assert credits in done.stderr
    assert "gallery:" in done.stderr


def test_rerun_sends_nothing_and_changes_no_byte(campaign: Campaign) -> None:
    """A rerun of a finished campaign sends no request and leaves every file byte-identical."""
    with serve(SimulatorConfig(seed=2)) as sim:
        first = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert first.returncode == 0, first.stderr
        before = tree_bytes(campaign.folder)
        mtimes = {p: p.stat().st_mtime_ns for p in product_files(campaign.folder)}
        requests = sim.counters.requests
        second = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.requests == requests
    assert second.returncode == 0, second.stderr
    assert tree_bytes(campaign.folder) == before
    assert {p: p.stat().st_mtime_ns for p in product_files(campaign.folder)} == mtimes


def test_rerun_with_nothing_to_do_sets_up_no_connection_pool(campaign: Campaign) -> None:
    """A rerun with nothing to do never imports aiohttp (a tenth of a second of start-up), yet
    still refuses a base URL it would refuse with work to do (exit 2)."""
    probe = (
        "import sys\nfrom seedance_batch.cli import main\ncode = main(sys.argv[1:])\n"
        "print('aiohttp' in sys.modules, code)"
    )

    def rerun(base_url: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", probe, "run", str(campaign.manifest), "--base-url", base_url],
            capture_output=True,
            text=True,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return done.stdout.split()[-2:]

    with serve(SimulatorConfig(seed=2)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        assert rerun(sim.base_url) == ["False", "0"]
    assert rerun("http://api.example.com") == ["False", "2"]


def test_a_finished_task_frees_its_slot_while_its_images_download(campaign: Campaign) -> None:
    """At concurrency 1, the next job is submitted while the first job's image is still
    downloading: concurrency counts tasks in flight, not downloads."""
    with serve(SimulatorConfig(seed=5, image_stall=2.5)) as sim:
        process = start_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url,
            "--concurrency", "1", "--limit", "2", "--no-progress",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while sim.counters.image_stalls_started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        stalled_at = time.monotonic()
        while sim.counters.creates < 2 and time.monotonic() < stalled_at + 2.0:
            time.sleep(0.01)
        creates_during_the_stall = sim.counters.creates
        _, stderr = process.communicate(timeout=60)
    assert creates_during_the_stall == 2
    assert process.returncode == 0, stderr
    assert "images: 2 saved" in stderr


def test_no_authorization_header_reaches_the_image_host(campaign: Campaign) -> None:
    """Image downloads from another origin carry no Authorization header."""
    with serve(SimulatorConfig(seed=3)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        image_requests = sim.counters.image_requests
    assert image_requests
    for request in image_requests:
        assert "authorization" not in {k.lower() for k in request.headers}


def test_over_budget_is_refused_before_anything_is_sent(campaign: Campaign) -> None:
    """A run whose plan exceeds the budget exits 3 and sends nothing."""
    with serve(SimulatorConfig()) as sim:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", sim.base_url, "--max-credits", "31"
        )
        assert sim.counters.requests == 0
    assert done.returncode == 3
    assert "budget exceeded" in done.stderr
    assert "would spend up to 32 credits" in done.stderr


def test_missing_key_exits_2_and_sends_nothing(campaign: Campaign) -> None:
    """Without SEEDANCE_API_KEY a run exits 2 before any request."""
    with serve(SimulatorConfig()) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url, key=None)
        assert sim.counters.requests == 0
    assert done.returncode == 2
    assert "SEEDANCE_API_KEY is not set" in done.stderr


def test_bad_key_stops_the_run_with_exit_3(campaign: Campaign) -> None:
    """A key the API refuses (401) stops the run at once: exit 3, no job left submitting."""
    with serve(SimulatorConfig(keys=frozenset({"sk-the-right-one"}))) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        creates = sim.counters.create_requests
    assert done.returncode == 3, done.stderr
    assert "refused the key" in done.stderr
    assert creates <= 4  # at most the first wave of workers
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    assert {r.state for r in snapshot.jobs.values()} == {"new"}


def test_spent_credits_stop_submissions_then_a_rerun_finishes(campaign: Campaign) -> None:
    """402 stops new submissions (exit 3) without losing state; with credits, a rerun ends 0."""
    with serve(SimulatorConfig(seed=4, credits=10, latency=0.05)) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        charged = sim.counters.charges.get(KEY, 0)
    assert done.returncode == 3, done.stderr
    assert 0 < charged <= 10
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    states = [r.state for r in snapshot.jobs.values()]
    assert "succeeded" in states and "new" in states and "submitting" not in states
    with serve(SimulatorConfig(seed=5)) as sim:
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.charges[KEY] == 32 - charged
    assert again.returncode == 0, again.stderr
    assert_complete(campaign.manifest, campaign.out)


def test_second_concurrent_run_exits_4_naming_the_holder(campaign: Campaign) -> None:
    """While a run holds the lockfile, a second run exits 4 at once and names the first."""
    with serve(SimulatorConfig(latency=3.0)) as sim:
        first = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        try:
            deadline = time.monotonic() + 30
            while sim.counters.creates == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.monotonic()
            second = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
            took = time.monotonic() - started
        finally:
            first.terminate()
            first.communicate(timeout=30)
    assert second.returncode == 4, second.stderr
    assert f"pid {first.pid}" in second.stderr or str(first.pid) in second.stderr
    assert took < 5


def test_sigterm_saves_and_exits_130_then_resumes(campaign: Campaign) -> None:
    """SIGTERM mid-run exits 130 with the resume command; the rerun completes without loss."""
    with serve(SimulatorConfig(seed=6, latency=1.0)) as sim:
        first = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        deadline = time.monotonic() + 30
        while sim.counters.creates < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.terminate()
        _out, err = first.communicate(timeout=30)
        assert first.returncode == 130, err
        assert "seedance-batch run" in err and "Resume with" in err
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert again.returncode == 0, again.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)


def test_the_key_is_in_no_file_and_no_output(campaign: Campaign) -> None:
    """After runs with faults, the API key appears in no file, log line or output."""
    config = SimulatorConfig(seed=7, error_rate=0.2, reset_rate=0.1, fail_rate=0.2)
    outputs = []
    with serve(config) as sim:
        for _ in range(4):
            done = run_cli(
                "run", str(campaign.manifest), "--base-url", sim.base_url, "--retry-failed"
            )
            outputs += [done.stdout, done.stderr]
        outputs.append(run_cli("status", str(campaign.manifest), "--format", "json").stdout)
    for text in outputs:
        assert KEY not in text
    for path in campaign.folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_output_dir_outside_the_manifest_folder_is_refused(campaign: Campaign) -> None:
    """A manifest whose output.dir leaves its folder exits 2 naming the line; nothing written."""
    text = campaign.manifest.read_text().replace(
        "execution:", "output:\n  dir: ../../elsewhere\nexecution:"
    )
    campaign.manifest.write_text(text)
    with serve(SimulatorConfig()) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        assert sim.counters.requests == 0
    assert done.returncode == 2
    assert "output.dir" in done.stderr and "leaves the manifest's folder" in done.stderr
    assert not (campaign.folder.parent.parent / "elsewhere").exists()


def test_library_run_reports_events_and_summary(campaign: Campaign) -> None:
    """run() from Python returns a summary and reports submitted, finished and saved events."""
    events: list[object] = []
    with serve(SimulatorConfig(seed=8)) as sim:
        summary = run(
            load_manifest(campaign.manifest),
            RunOptions(base_url=sim.base_url),
            api_key=KEY,
            on_event=events.append,
        )
    assert run_exit_code(summary) == 0
    assert summary.succeeded == 12 and summary.images_saved == 14
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted"
    assert kinds.count("JobSubmitted") == 12
    assert kinds.count("JobFinished") == 12
    assert kinds.count("ImageSaved") == 14
    results = [json.loads(x) for x in (campaign.out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 14
    assert Path(summary.results) == campaign.out / "results.jsonl"


def test_ctrl_c_twice_exits_130_and_the_lockfile_stays_valid(campaign: Campaign) -> None:
    """Ctrl-C, then Ctrl-C again at once: exit 130, and a resume completes without loss."""
    with serve(SimulatorConfig(seed=9, latency=2.0)) as sim:
        first = start_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        deadline = time.monotonic() + 30
        while sim.counters.creates < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGINT)
        first.send_signal(signal.SIGINT)
        _out, err = first.communicate(timeout=30)
        assert first.returncode == 130, err
        snapshot = read_lockfile(campaign.lockfile)
        assert snapshot is not None
        # valid states only; a task may end while the process stops (a slow machine)
        assert {r.state for r in snapshot.jobs.values()} <= {
            "new",
            "submitting",
            "submitted",
            "succeeded",
        }
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert again.returncode == 0, again.stderr
    assert_complete(campaign.manifest, campaign.out)
    assert_charged_honestly(campaign.manifest, counters, KEY)


def test_a_symlink_out_of_the_output_folder_is_refused(campaign: Campaign) -> None:
    """A job folder that is a link to elsewhere gets no file: the job is left, exit 1."""
    elsewhere = campaign.folder / "elsewhere"
    elsewhere.mkdir()
    campaign.out.mkdir(parents=True)
    (campaign.out / "pair").symlink_to(elsewhere, target_is_directory=True)
    with serve(SimulatorConfig(seed=10)) as sim:
        done = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
    assert done.returncode == 1, done.stderr
    assert "refusing to write outside the output folder" in done.stderr
    assert list(elsewhere.iterdir()) == []
    snapshot = read_lockfile(campaign.lockfile)
    assert snapshot is not None
    pair = [r for r in snapshot.jobs.values() if r.job == "pair"]
    assert [r.state for r in pair] == ["submitted"]  # polled again by the next run, no new task


def test_a_deleted_image_is_downloaded_again_without_a_new_task(campaign: Campaign) -> None:
    """A rerun finds an image gone from disk and fetches it again from its task: no charge."""
    with serve(SimulatorConfig(seed=11)) as sim:
        assert run_cli("run", str(campaign.manifest), "--base-url", sim.base_url).returncode == 0
        victim = next(campaign.out.rglob("*-1.png"))
        original = victim.read_bytes()
        victim.unlink()
        creates = sim.counters.creates
        again = run_cli("run", str(campaign.manifest), "--base-url", sim.base_url)
        counters = sim.counters
    assert again.returncode == 0, again.stderr
    assert "images missing; downloading again" in again.stderr
    assert victim.read_bytes() == original
    assert counters.creates == creates
    assert_complete(campaign.manifest, campaign.out)
