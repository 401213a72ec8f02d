"""A child process for the S3 delivery tests: ``python s3_child.py MODE [ARGS]``.

Modes:
- ``serve``: moto's S3 server on 127.0.0.1 and a free port; prints ``ready <port>`` and serves
  until stdin closes.
- ``upload DEST FOLDER [--endpoint-url URL] [--paced] [--debug]``: the export's loop at the
  Target level, through ``open_target`` and the command line's error handler (its one line and
  exit code): each file of FOLDER (sorted, by its ``/`` name) is skipped when the destination
  already holds its SHA-256 (``skip NAME``), else put (``putting NAME``, then ``put NAME``).
  ``--paced`` waits for a line on stdin before each file; ``--debug`` logs everything,
  botocore's debug lines too, to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from pathlib import Path


def _serve() -> int:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(f"ready {server.get_host_and_port()[1]}", flush=True)
    sys.stdin.read()
    server.stop()
    return 0


def _upload(argv: list[str]) -> int:
    from seedance_batch.cli._errors import handle_errors
    from seedance_batch.delivery import open_target

    parser = argparse.ArgumentParser(prog="s3_child.py upload")
    parser.add_argument("dest")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--endpoint-url")
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    files = sorted(p for p in args.folder.rglob("*") if p.is_file())
    with handle_errors() as outcome:
        target = open_target(args.dest, endpoint_url=args.endpoint_url)
        for path in files:
            if args.paced:
                sys.stdin.readline()
            name = path.relative_to(args.folder).as_posix()
            data = path.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            if target.sha256_of(name) == sha256:
                print(f"skip {name}", flush=True)
                continue
            print(f"putting {name}", flush=True)
            target.write(name, data, sha256)
            print(f"put {name}", flush=True)
    return outcome.code


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return _serve()
    if argv[:1] == ["upload"]:
        return _upload(argv[1:])
    raise SystemExit(f"unknown mode: {argv[:1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
