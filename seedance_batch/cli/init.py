"""``seedance-batch init [DIR]``: a starter campaign in one's own repository."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from seedance_batch._schemas import schema_text
from seedance_batch.cli._common import say
from seedance_batch.cli._errors import EXIT_BAD_INPUT, EXIT_OK

MANIFEST = "campaign.yaml"
SCHEMA = "manifest.schema.json"
#: What a campaign must not commit: the run journal (and lock), the images, the thumbnails.
GITIGNORE_LINES = ("*.lock.json.journal", "outputs/", ".thumbs/")
STARTER = """\
# yaml-language-server: $schema={schema}
# A campaign: `seedance-batch validate {manifest}`, then `seedance-batch plan {manifest}`.
version: 1
name: {name}
defaults:
  model: gpt-image-2-all
  resolution: 1k
  size: "1:1"                     # quote ratios: YAML reads a bare 1:1 as the number 61
  n: 1
vars:
  brand: Lumen
budget:
  max_credits: 40                 # plan and validate --strict exit 3 past it; run refuses
jobs:
  - name: hero
    prompt: "A {{product}} bottle by {{brand}} on a warm beige pedestal, {{light}}"
    matrix:
      product: [serum, night cream]
      light:                      # named values: the names go into folder names
        studio: soft studio light
        golden: golden hour light through a window
"""


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "init",
        help="write a starter campaign",
        description=f"Write {MANIFEST} (with its schema line) and {SCHEMA} in DIR, and the "
        ".gitignore lines a campaign needs; never overwrites a file.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIR")


def run(args: argparse.Namespace) -> int:
    folder: Path = args.directory
    manifest, schema, gitignore = folder / MANIFEST, folder / SCHEMA, folder / ".gitignore"
    existing = [p for p in (manifest, schema) if p.exists() or p.is_symlink()]
    if existing:
        names = ", ".join(str(p) for p in existing)
        say(f"seedance-batch: init never overwrites a file, and {names} is there already")
        return EXIT_BAD_INPUT
    folder.mkdir(parents=True, exist_ok=True)
    name = _slug(folder.resolve().name)
    _create(schema, schema_text("manifest"))
    _create(manifest, STARTER.format(schema=SCHEMA, manifest=MANIFEST, name=name))
    added = _add_ignores(gitignore)
    print(f"wrote {manifest}", file=sys.stdout)
    print(f"wrote {schema} (refresh it with `seedance-batch schema > {SCHEMA}`)", file=sys.stdout)
    if added:
        print(f"added to {gitignore}: {', '.join(added)}", file=sys.stdout)
    print(
        f"next: edit {manifest}, then `seedance-batch validate {manifest}` and "
        f"`seedance-batch plan {manifest}`",
        file=sys.stdout,
    )
    return EXIT_OK


def _create(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as stream:  # "x": never over a file made meanwhile
        stream.write(text)


def _add_ignores(gitignore: Path) -> list[str]:
    """Append the lines a campaign needs that ``.gitignore`` lacks (creating it if need be)."""
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in present]
    if missing:
        lead = "\n" if text and not text.endswith("\n") else ""
        with gitignore.open("a", encoding="utf-8") as stream:
            stream.write(lead + "# seedance-batch\n" + "".join(f"{m}\n" for m in missing))
    return missing


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:64]
    return slug or "campaign"
