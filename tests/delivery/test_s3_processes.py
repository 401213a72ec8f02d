"""The S3 destination in real processes: refused credentials through the command line's error
handler (one line, exit 3, never the secret, even with botocore's debug log), an upload killed
with ``kill -9`` and resumed (what was uploaded is skipped, nothing is put twice), and boto3
imported only when an s3:// destination is named."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support.s3 import CHILD, Keys, S3Server, s3_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BIG = 24 << 20  # large enough that a kill -9 lands while its PUT is under way, most times


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """Moto's S3 server, one for the module, checking every signature."""
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


def files(folder: Path, count: int = 3, big: bool = False) -> dict[str, bytes]:
    """``count`` small images under ``folder`` (one in a subfolder), and a big one after them."""
    made = {
        f"{'hero/' if i == 0 else ''}img-{i}.png": b"\x89PNG" + bytes([i]) * 4096
        for i in range(count)
    }
    if big:
        made["z-big.png"] = os.urandom(BIG)
    for name, data in made.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return made


def upload(
    s3: S3Server, keys: Keys | None, dest: str, folder: Path, *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHILD), "upload", dest, str(folder), "--endpoint-url", s3.url, *flags],
        capture_output=True,
        text=True,
        env=s3.env(keys),
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("debug", [False, True])
def test_wrong_credentials_are_one_line_exit_3(
    s3: S3Server, bucket: str, tmp_path: Path, debug: bool
) -> None:
    """A wrong secret: exit 3, one line naming the destination, and the secret nowhere in the
    output, with botocore's debug log on or off."""
    files(tmp_path)
    wrong = Keys(s3.admin.access_key_id, "wrong-secret-7f3a9c1e5b")
    done = upload(s3, wrong, f"s3://{bucket}/web", tmp_path, *(["--debug"] if debug else []))
    assert done.returncode == 3, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert lines[-1] == (
        f"seedance-batch: error: s3://{bucket}/web: cannot look at hero/img-0.png: the secret "
        "access key does not match the access key id (SignatureDoesNotMatch)"
    )
    assert len(lines) > 20 if debug else len(lines) == 1
    assert "botocore" in done.stderr if debug else True
    for text in (done.stdout, done.stderr):
        assert wrong.secret_access_key not in text
        assert s3.admin.secret_access_key not in text
    assert s3.objects(bucket) == {}


def test_missing_credentials_are_one_line_exit_3(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    """No credentials anywhere: exit 3, one line saying which variables to set."""
    files(tmp_path)
    done = upload(s3, None, f"s3://{bucket}/web", tmp_path)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "no AWS credentials found (set AWS_ACCESS_KEY_ID" in done.stderr


def test_a_debug_logged_upload_never_shows_the_secret(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    """A successful upload with botocore's debug log prints no part of the secret key."""
    made = files(tmp_path)
    done = upload(s3, s3.admin, f"s3://{bucket}/web", tmp_path, "--debug")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Signature" in done.stderr  # the log did show the signing
    assert s3.admin.secret_access_key not in done.stdout + done.stderr
    assert s3.objects(bucket) == {f"web/{name}": data for name, data in made.items()}


def test_an_upload_killed_and_resumed_skips_what_was_uploaded(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    """kill -9 during a PUT leaves that object whole or absent; the rerun skips each object
    already uploaded and puts the rest, so every key is put exactly once."""
    made = files(tmp_path, count=4, big=True)
    dest = f"s3://{bucket}/web"
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            "upload",
            dest,
            str(tmp_path),
            "--paced",
            "--endpoint-url",
            s3.url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=s3.env(s3.admin),
    )
    assert child.stdin is not None and child.stdout is not None
    for name in sorted(made)[:4]:
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == f"putting {name}\n"
        assert child.stdout.readline() == f"put {name}\n"
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline() == "putting z-big.png\n"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    child.stdin.close()
    assert child.stderr is not None
    child.stderr.close()

    before = s3.objects(bucket)
    assert before.get("web/z-big.png", made["z-big.png"]) == made["z-big.png"]  # whole or none
    assert {k: v for k, v in before.items() if k != "web/z-big.png"} == {
        f"web/{name}": made[name] for name in sorted(made)[:4]
    }

    done = upload(s3, s3.admin, dest, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    skipped = [
        line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("skip ")
    ]
    assert skipped == [name for name in sorted(made) if f"web/{name}" in before]
    assert s3.objects(bucket) == {f"web/{name}": data for name, data in made.items()}
    assert s3.puts(bucket) == {f"web/{name}": 1 for name in made}


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _aws(modules: set[str]) -> set[str]:
    return {m.partition(".")[0] for m in modules} & {"boto3", "botocore", "s3transfer"}


def test_validate_and_a_folder_destination_never_import_boto3(tmp_path: Path) -> None:
    """`seedance-batch validate` and a folder target leave boto3 unimported; an s3:// one
    imports it."""
    assert not _aws(
        _modules_after(
            "from seedance_batch.cli import main\n"
            "assert main(['validate', 'manifests/demo.yaml']) == 0"
        )
    )
    folder = json.dumps(str(tmp_path / "out"))
    assert not _aws(
        _modules_after(f"from seedance_batch.delivery import open_target\nopen_target({folder})")
    )
    s3_code = (
        "import os\nos.environ['AWS_EC2_METADATA_DISABLED'] = 'true'\n"
        "from seedance_batch.delivery import open_target\nopen_target('s3://bucket/prefix')"
    )
    assert _aws(_modules_after(s3_code)) >= {"boto3", "botocore"}


def test_the_object_of_a_file_is_its_bytes(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    """What the child uploads is byte for byte the file, under the prefix, SHA-256 recorded."""
    made = files(tmp_path, count=2)
    assert upload(s3, s3.admin, f"s3://{bucket}/a/b/", tmp_path).returncode == 0
    for name, data in made.items():
        head = s3.client().head_object(Bucket=bucket, Key=f"a/b/{name}")
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
