"""A bug exits 70 with one line and its traceback (key redacted) in a file it names; Ctrl-C at
any moment of start-up exits 130 without a traceback. Real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seedance_batch.cli._errors import EXIT_INTERRUPTED, handle_errors

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-crash-3c9d1e7f55"

#: A command line whose validate command has a bug (nothing real can stand in for one).
BUGGY = """
import os, sys
import seedance_batch.cli.validate as validate
def broken(args):
    raise RuntimeError("boom with " + os.environ["SEEDANCE_API_KEY"])
validate.run = broken
from seedance_batch.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
    env.update(SEEDANCE_API_KEY=KEY, TMPDIR=str(tmp_path))
    return env


def test_a_bug_exits_70_with_one_line_naming_a_redacted_traceback_file(tmp_path: Path) -> None:
    """An unexpected exception: exit 70, one line saying it is a bug and naming the file in the
    temporary folder that holds the traceback, with the API key redacted everywhere."""
    done = subprocess.run(
        [sys.executable, "-c", BUGGY, "validate", "manifests/demo.yaml"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 70, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "bug" in lines[0] and "Traceback" not in done.stderr
    reports = list(tmp_path.glob(f"seedance-batch-crash-*-{'*'}.txt"))
    assert len(reports) == 1 and str(reports[0]) in lines[0]
    text = reports[0].read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom with" in text
    assert KEY not in text and KEY not in done.stderr and KEY not in done.stdout
    assert "<redacted>" in text
    assert os.stat(reports[0]).st_mode & 0o077 == 0


def test_a_bug_report_never_follows_a_planted_link(tmp_path: Path) -> None:
    """A link planted at the report's likely name is left alone: the report goes elsewhere."""
    victim = tmp_path / "victim"
    victim.write_text("mine")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()\n" + BUGGY, "validate", "x.yaml"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=ROOT,
    )
    for second in (stamp, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 1))):
        (tmp_path / f"seedance-batch-crash-{second}-{process.pid}.txt").symlink_to(victim)
    _out, err = process.communicate("", timeout=60)
    assert process.returncode == 70, err
    assert victim.read_text() == "mine"
    reports = [p for p in tmp_path.glob("seedance-batch-crash-*") if not p.is_symlink()]
    assert len(reports) == 1 and "RuntimeError" in reports[0].read_text()


@pytest.mark.parametrize("delay", [0.08, 0.12, 0.16, 0.2, 0.25, 0.3])
def test_ctrl_c_during_start_up_exits_130_without_a_traceback(delay: float) -> None:
    """SIGINT while `python -m seedance_batch` imports and starts: exit 130, no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "seedance_batch", "validate", "manifests/demo.yaml"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    time.sleep(delay)
    if process.poll() is not None:
        process.communicate()
        pytest.skip(f"the command had finished within {delay} s")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    if process.returncode in (0, -signal.SIGINT) and out.startswith("ok demo"):
        # the command had done its work: CPython puts SIGINT's default action back while the
        # interpreter shuts down, past any handler of ours, or runs no more code to act on it
        pytest.skip("the signal came while the interpreter was exiting, after the output")
    if _before_our_handler(process.returncode, out, err):
        pytest.skip("the signal came before the interpreter ran any code of ours")
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip() in ("", "seedance-batch: interrupted")


def _before_our_handler(code: int | None, out: str, err: str) -> bool:
    """True when SIGINT came before the package's first line had installed the handler: during
    CPython's own start-up, or while it was still finding ``_startup`` (its import is the first
    line of ``seedance_batch/__init__.py``). No code of ours can act that early."""
    if code == -signal.SIGINT and not out and not err:
        return True  # before Python installed its own SIGINT handler
    if "Failed to import the site module" in err:
        return True
    if not err.rstrip().endswith("KeyboardInterrupt"):
        return False
    init = ROOT / "seedance_batch" / "__init__.py"
    first = next(
        number
        for number, line in enumerate(init.read_text().splitlines(), 1)
        if line.startswith("from seedance_batch import _startup")
    )
    ours = [
        (Path(file), int(line))
        for file, line in re.findall(r'File "([^"]+)", line (\d+)', err)
        if "seedance_batch" in file
    ]
    return all(frame == (init, first) for frame in ours)


def test_a_ctrl_c_while_a_class_is_made_is_130_not_a_bug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C landing in a descriptor's ``__set_name__`` (a lazy import making a dataclass),
    which Python 3.11 wraps in a RuntimeError: exit 130 and one line, no bug report."""

    class Interrupting:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt

    with handle_errors() as outcome:
        type("Loaded", (), {"values": Interrupting()})
    assert outcome.code == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "seedance-batch: interrupted\n"
