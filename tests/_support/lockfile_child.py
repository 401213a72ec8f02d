"""A child process for the lockfile tests: ``python lockfile_child.py MODE PATH [ARGS]``.

Modes:
- ``hold``: open the lockfile, print ``ready <pid>``, wait until stdin closes, close it.
- ``try``: try to open it; print ``ok`` or ``held <message>``.
- ``stream N``: open it, put records 0..N-1 one after another (state ``submitting``, attempt 1)
  printing ``put <i>`` after each put returned; then wait until stdin closes.
- ``charge N``: open it, put records 0..N-1 as failed after 2 attempts, each charged 4 credits
  with one possible double charge, printing ``put <i>`` after each; then wait for stdin.
- ``compact-loop``: open it and rewrite it again and again (alternating two contents),
  printing ``round <k>`` after each rewrite.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the _support package

from _support.lockfiles import MANIFEST_SHA, charged, finished, make_record
from seedance_batch._errors import LockHeldError
from seedance_batch.lockfile import Lockfile


def main(argv: list[str]) -> int:
    mode, path = argv[0], Path(argv[1])
    if mode == "try":
        try:
            lockfile = Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA)
        except LockHeldError as exc:
            print(f"held {exc}", flush=True)
            return 4
        lockfile.close()
        print("ok", flush=True)
        return 0
    lockfile = Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA)
    if mode == "hold":
        print(f"ready {os.getpid()}", flush=True)
    elif mode == "stream":
        for index in range(int(argv[2])):
            lockfile.put(make_record(index, state="submitting", attempts=1))
            print(f"put {index}", flush=True)
    elif mode == "charge":
        for index in range(int(argv[2])):
            lockfile.put(charged(make_record(index)))
            print(f"put {index}", flush=True)
    elif mode == "compact-loop":
        records = [finished(make_record(i)) for i in range(200)]
        round_ = 0
        while True:
            for record in records if round_ % 2 else reversed(records):
                lockfile.put(record.replace(attempts=round_ % 5))
            lockfile.compact()
            print(f"round {round_}", flush=True)
            round_ += 1
    sys.stdin.read()
    lockfile.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
