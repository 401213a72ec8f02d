"""`seedance-batch validate`'s start-up and exit (issue 12: within 1.2x of importing YAML and
JSON Schema): what it leaves unimported for a plain manifest, and the exit that traces no
garbage."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from seedance_batch.cli import main

ROOT = Path(__file__).resolve().parents[2]

#: Needed only on another path: a hint, a bug, rows, fragments, a delivery.name, a lockfile.
NOT_IMPORTED = (
    "difflib",
    "shlex",
    "csv",
    "secrets",
    "traceback",
    "seedance_batch._redact",
    "seedance_batch._files",
    "seedance_batch._rows",
    "seedance_batch._fragments",
    "seedance_batch.delivery._names",
    "seedance_batch.lockfile",
    "importlib.metadata",
)


def _python(probe: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c probe`` at the repository's root; it must exit 0."""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result


def _modules_of_validate(manifest: str) -> set[str]:
    probe = (
        "import json, sys\nfrom seedance_batch.cli import main\n"
        f"code = main(['validate', {manifest!r}])\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    result = _python(probe)
    code, modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert code == 0
    return set(modules)


def test_validate_of_a_plain_manifest_imports_none_of_the_other_paths() -> None:
    """The demo manifest (no rows, no extends, no delivery.name) loads none of NOT_IMPORTED."""
    loaded = _modules_of_validate("manifests/demo.yaml")
    assert "seedance_batch._manifest" in loaded  # the probe did validate
    assert sorted(loaded & set(NOT_IMPORTED)) == []


def test_a_manifest_with_rows_and_a_name_template_still_imports_what_it_needs(
    tmp_path: Path,
) -> None:
    """Rows bring the rows reader, a delivery.name the namer: imported when used."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nname: m\ndelivery:\n  name: '{job}/{id}-{index}.{ext}'\njobs:\n"
        "  - name: a\n    prompt: 'A {thing}'\n    rows:\n      - {id: one, thing: cat}\n",
        encoding="utf-8",
    )
    loaded = _modules_of_validate(str(manifest))
    assert {"seedance_batch._rows", "seedance_batch.delivery._names"} <= loaded


def _freeze_count_at_exit(argv0: str) -> int:
    """Objects frozen when the process with ``argv0`` ends, after ``main()`` of the demo."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
        f"sys.argv = [{argv0!r}, 'validate', 'manifests/demo.yaml']\n"
        "from seedance_batch.cli import main\nsys.exit(main())\n"
    )
    result = _python(probe)
    assert result.stdout.startswith("ok demo:"), result.stdout
    return int(result.stdout.split("frozen ")[-1])


def test_the_command_line_leaves_its_objects_to_the_exit_untraced() -> None:
    """As the script (or ``-m``), main() freezes what is alive; atexit handlers still run."""
    assert _freeze_count_at_exit("/usr/bin/seedance-batch") > 10_000
    assert _freeze_count_at_exit(str(ROOT / "seedance_batch" / "__main__.py")) > 10_000
    assert _freeze_count_at_exit("a-program-of-its-own") == 0


def test_main_called_by_a_program_freezes_nothing() -> None:
    """main(argv) in a program (here, pytest) leaves its garbage collector as it was."""
    before = gc.get_freeze_count()
    assert main(["validate", str(ROOT / "manifests" / "demo.yaml")]) == 0
    assert gc.get_freeze_count() == before
