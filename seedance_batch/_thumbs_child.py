"""The run's thumbnails made in a child process: the run hands each saved image over a pipe.

A thread of the run's own process would share its interpreter lock with the event loop (and,
at a low priority, hold it while the loop waits); a child process makes them on the other core.
The child runs this module's :func:`main` in the same interpreter, from the same package,
without the API key in its environment. It reads one JSON line an image (path,
SHA-256, size), makes the thumbnail with :func:`seedance_batch._thumbs.make_thumbnail` (so
into ``<out>/.thumbs`` only), and answers one byte a line when it is done with it. It ignores
Ctrl-C and ends when its input does: a run that is interrupted or killed leaves it to finish
what it was given, at most :data:`WINDOW` images.

The run never waits on the pipe: at most :data:`WINDOW` images are with the child at a time,
the rest wait in the run's memory, and :meth:`ThumbChild.close` drops those (the outputs stage
makes every thumbnail still missing, with all its workers, and says why one cannot be made).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import BinaryIO, Final

from seedance_batch._key import environment_without_key
from seedance_batch._thumbs import Source

__all__ = ["CLOSE_WAIT", "WINDOW", "ThumbChild", "main"]

#: Images with the child at most at a time: what it still has to do when the run ends.
WINDOW: Final = 16
#: Seconds :meth:`ThumbChild.close` waits for the child before it kills it.
CLOSE_WAIT: Final = 60.0
#: The child's program: this very package (from the folder this process imported it from,
#: which is then taken off the path again), then :func:`main`.
_PROGRAM = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from seedance_batch._thumbs_child import main; del sys.path[0]; "
    "raise SystemExit(main(sys.argv[2:]))"
)
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class ThumbChild:
    """One child process making the thumbnails of ``out``'s images as the run saves them.

    :meth:`queue` never blocks; if the child cannot be started or dies, images are no longer
    handed over and the outputs stage makes their thumbnails.
    """

    def __init__(self, out: Path) -> None:
        self._out = Path(out)
        self._waiting: deque[bytes] = deque()
        self._with_child = 0
        self._unsent = bytearray()
        self._process: subprocess.Popen[bytes] | None = None
        self._failed = False

    def _start(self) -> subprocess.Popen[bytes] | None:
        if not sys.executable:
            return None
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _PROGRAM, _PACKAGE_ROOT, os.fspath(self._out)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=environment_without_key(),
                close_fds=True,
            )
        except OSError:
            return None
        assert process.stdin is not None and process.stdout is not None
        os.set_blocking(process.stdin.fileno(), False)
        os.set_blocking(process.stdout.fileno(), False)
        return process

    def queue(self, source: Source) -> None:
        """Hand ``source`` to the child when fewer than :data:`WINDOW` are with it, else keep it."""
        if self._failed:
            return
        if self._process is None:
            self._process = self._start()
            if self._process is None:
                self._failed = True
                return
        line = json.dumps([source.path, source.sha256, source.bytes]).encode() + b"\n"
        self._waiting.append(line)
        self.pump()

    def pump(self) -> None:
        """Count what the child finished, then hand it what fits in the window; never blocks."""
        process = self._process
        if process is None or self._failed:
            return
        assert process.stdin is not None and process.stdout is not None
        try:
            finished = os.read(process.stdout.fileno(), 65536)
        except BlockingIOError:
            finished = None
        except OSError:
            finished = b""
        if finished is not None:
            if not finished:  # the child is gone
                self._give_up()
                return
            self._with_child = max(0, self._with_child - len(finished))
        while self._waiting and self._with_child < WINDOW:
            self._unsent += self._waiting.popleft()
            self._with_child += 1
        if self._unsent:
            try:
                del self._unsent[: os.write(process.stdin.fileno(), self._unsent)]
            except BlockingIOError:
                pass  # the pipe is full: the rest goes with a later call
            except OSError:
                self._give_up()

    @property
    def waiting(self) -> int:
        """Images kept here, not yet handed to the child."""
        return len(self._waiting)

    def _give_up(self) -> None:
        self._failed = True
        self._waiting.clear()
        self._unsent.clear()

    def close(self) -> None:
        """Drop what waits here, end the child's input and wait for what it was given."""
        self._waiting.clear()
        self._unsent.clear()  # a line cut short is no line: the child drops it
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=CLOSE_WAIT)
        except subprocess.TimeoutExpired:  # stuck (a hung file system): the run must end
            process.kill()
            process.wait()
        process.stdout.close()


def main(argv: list[str] | None = None) -> int:
    """The child: make the thumbnail of each image named on standard input, one byte back each."""
    from seedance_batch._errors import OutputError
    from seedance_batch._thumbs import make_thumbnail

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run decides; its input's end stops us
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)
    (out_text,) = sys.argv[1:] if argv is None else argv
    out = Path(out_text)
    answer: BinaryIO | None = sys.stdout.buffer
    for line in sys.stdin.buffer:
        try:
            path, sha256, size = json.loads(line)
            make_thumbnail(out, Source(str(path), str(sha256), int(size)))
        except (OutputError, ValueError, TypeError):
            pass  # the outputs stage makes it again and says why it cannot
        if answer is not None:
            try:
                answer.write(b".")
                answer.flush()
            except BrokenPipeError:  # the run is gone: what it gave is still made
                answer = None
    return 0
