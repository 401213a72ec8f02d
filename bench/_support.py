"""What the benchmarks share: the test suite's helpers (``tests/_support``), and Chromium if any.

The campaign records, the PNG files and the browser come from the tests' own helpers, imported
as ``tests._support`` (``python -m bench`` runs from the repository's root), so that a benchmark
measures what the tests check, built the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests._support.browser import find_chromium, launched_browser


def grid_manifest(name: str, description: str, defaults: str, *axes: str) -> str:
    """A manifest of one job, ``grid``: 25 products x 25 surfaces x the matrix ``axes`` given
    (``'size: ["1:1", "16:9"]'``), 4 images a job as ``defaults`` (a YAML flow mapping) say."""
    products = ", ".join(f"p{i:02}" for i in range(25))
    surfaces = ", ".join(f"s{i:02}" for i in range(25))
    lines = [f"product: [{products}]", f"surface: [{surfaces}]", *axes]
    return (
        f"version: 1\nname: {name}\ndescription: {description}\ndefaults: {defaults}\njobs:\n"
        '  - name: grid\n    prompt: "A {product} bottle on a {surface} surface, studio light, '
        'crisp detail"\n    matrix:\n' + "".join(f"      {line}\n" for line in lines)
    )


@contextmanager
def chromium() -> Iterator[Any | None]:
    """The system's headless Chromium (Playwright's sync API) for the block, or None (said on
    stdout) when none is installed: a benchmark then leaves its browser figures out."""
    executable = find_chromium()
    if executable is None:
        print("   browser: no Chromium installed (apt-get install -y chromium); skipped")
        yield None
        return
    with launched_browser(executable) as browser:
        yield browser
