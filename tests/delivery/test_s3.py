"""The S3 destination against a real S3 API server on loopback (moto's server mode, signatures
checked): objects put whole under the prefix with their SHA-256, read back, skipped, removed;
refused credentials and access in one line (exit 3); the network's failures after retries. In
real processes (marked slow): refusals through the command line's error handler (one line, exit
3, never the secret, even with botocore's debug log), an upload killed with ``kill -9`` and
resumed (what was uploaded is skipped, nothing is put twice), and boto3 imported only when an
s3:// destination is named."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _support.delivery import Campaign
from _support.s3 import CHILD, Answering, HangUp, Keys, S3Server, s3_server

from seedance_batch._errors import ConfigurationError, DeliveryError, DeliveryRefusedError
from seedance_batch.delivery import open_target
from seedance_batch.delivery._s3 import S3Target

ROOT = Path(__file__).resolve().parents[2]
BIG = 24 << 20  # large enough that a kill -9 lands while its PUT is under way, most times
#: botocore's retries wait on real time (its back-off), so those tests are slow ones.
RETRIES = pytest.mark.slow
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """Moto's S3 server, one for the module, checking every signature."""
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture
def aws_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """This process's AWS environment: the admin's keys, the region, no files, no metadata."""
    set_aws_env(monkeypatch, s3.env(s3.admin))
    return s3


def set_aws_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


def target(s3: S3Server, dest: str) -> S3Target:
    made = open_target(dest, endpoint_url=s3.url)
    assert isinstance(made, S3Target)
    return made


def test_write_puts_one_object_under_the_prefix_with_its_sha256(
    aws_env: S3Server, bucket: str
) -> None:
    """write puts the bytes at prefix/name, typed by extension, its SHA-256 as metadata."""
    dest = target(aws_env, f"s3://{bucket}/campaign/web/")
    dest.write("hero/a-1x1.png", PNG, sha(PNG))
    head = aws_env.client().head_object(Bucket=bucket, Key="campaign/web/hero/a-1x1.png")
    assert head["Metadata"] == {"sha256": sha(PNG)}
    assert head["ContentType"] == "image/png"
    assert aws_env.objects(bucket) == {"campaign/web/hero/a-1x1.png": PNG}
    assert dest.describe() == f"s3://{bucket}/campaign/web/"


def test_a_bucket_without_prefix_puts_keys_at_its_root(aws_env: S3Server, bucket: str) -> None:
    """s3://bucket (no prefix) puts each object at the delivered name itself."""
    target(aws_env, f"s3://{bucket}").write("delivery.json", b"{}", sha(b"{}"))
    head = aws_env.client().head_object(Bucket=bucket, Key="delivery.json")
    assert head["ContentType"] == "application/json"


def test_sha256_of_and_read_give_back_what_was_written(aws_env: S3Server, bucket: str) -> None:
    """sha256_of is the recorded SHA-256 and read the bytes; both None for a missing object."""
    dest = target(aws_env, f"s3://{bucket}/p")
    assert dest.sha256_of("a.png") is None  # the first answer of the bucket: a 404
    dest.write("a.png", PNG, sha(PNG))
    assert dest.sha256_of("a.png") == sha(PNG)
    assert dest.read("a.png") == PNG
    assert dest.sha256_of("b.png") is None
    assert dest.read("b.png") is None


def test_sha256_of_trusts_the_metadata_not_the_bytes(aws_env: S3Server, bucket: str) -> None:
    """sha256_of reads what the upload recorded (one HEAD), without downloading the object."""
    recorded = "ab" * 32
    aws_env.client().put_object(
        Bucket=bucket, Key="p/x.png", Body=PNG, Metadata={"sha256": recorded.upper()}
    )
    assert target(aws_env, f"s3://{bucket}/p").sha256_of("x.png") == recorded


def test_sha256_of_an_object_put_by_another_tool(aws_env: S3Server, bucket: str) -> None:
    """Without the metadata: S3's own SHA-256 checksum, else the bytes hashed."""
    client = aws_env.client()
    client.put_object(Bucket=bucket, Key="p/checked.png", Body=PNG, ChecksumAlgorithm="SHA256")
    client.put_object(Bucket=bucket, Key="p/plain.png", Body=PNG * 2)
    dest = target(aws_env, f"s3://{bucket}/p")
    assert dest.sha256_of("checked.png") == sha(PNG)
    assert dest.sha256_of("plain.png") == sha(PNG * 2)


def test_write_sends_s3_its_sha256_checksum(aws_env: S3Server, bucket: str) -> None:
    """The PUT carries the SHA-256 as S3's checksum, which the server keeps with the object."""
    target(aws_env, f"s3://{bucket}/p").write("a.png", PNG, sha(PNG))
    head = aws_env.client().head_object(Bucket=bucket, Key="p/a.png", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == sha(PNG)


def test_an_unchanged_object_is_not_put_again(aws_env: S3Server, bucket: str) -> None:
    """Skipping by sha256_of makes no PUT: the key keeps its one version."""
    dest = target(aws_env, f"s3://{bucket}/p")
    for _ in range(3):
        if dest.sha256_of("a.png") != sha(PNG):
            dest.write("a.png", PNG, sha(PNG))
    assert aws_env.puts(bucket) == {"p/a.png": 1}


def test_one_target_serves_several_threads(aws_env: S3Server, bucket: str) -> None:
    """Eight threads writing and looking up through one target: every object put once, whole."""
    dest = target(aws_env, f"s3://{bucket}/p")
    blobs = {f"{i}.png": PNG + bytes([i]) for i in range(16)}

    def deliver(name: str) -> str | None:
        dest.write(name, blobs[name], sha(blobs[name]))
        return dest.sha256_of(name)

    with ThreadPoolExecutor(8) as pool:
        found = dict(zip(blobs, pool.map(deliver, blobs), strict=True))
    assert found == {name: sha(data) for name, data in blobs.items()}
    assert aws_env.objects(bucket) == {f"p/{name}": data for name, data in blobs.items()}
    assert aws_env.puts(bucket) == {f"p/{name}": 1 for name in blobs}


def test_delete_removes_and_a_missing_object_is_no_error(aws_env: S3Server, bucket: str) -> None:
    """delete removes the object; deleting it again, or one never written, is fine."""
    dest = target(aws_env, f"s3://{bucket}/p")
    dest.write("a.png", PNG, sha(PNG))
    dest.delete("a.png")
    dest.delete("a.png")
    dest.delete("never.png")
    assert aws_env.objects(bucket) == {}
    assert dest.sha256_of("a.png") is None


@pytest.mark.parametrize("name", ["../x.png", "/x.png", "a//b.png", "a\\b.png", "", "a/./b"])
def test_a_name_outside_the_prefix_is_refused(aws_env: S3Server, bucket: str, name: str) -> None:
    """Names that could leave the prefix are refused before any request, naming the target."""
    dest = target(aws_env, f"s3://{bucket}/p")
    with pytest.raises(DeliveryError, match=f"^s3://{bucket}/p: .* is no name inside"):
        dest.write(name, PNG, sha(PNG))
    assert aws_env.objects(bucket) == {}


@pytest.mark.parametrize(
    "dest", ["s3://", "s3:///prefix", "s3://a/p", "s3://bad bucket/p", "s3://b-1/a/../c"]
)
def test_a_malformed_s3_url_is_bad_input(dest: str) -> None:
    """An s3:// URL without a usable bucket or with a climbing prefix is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match=r"^s3://"):
        S3Target(dest)


@pytest.mark.parametrize("url", ["localhost:9000", "ftp://host", "http://"])
def test_a_malformed_endpoint_url_is_bad_input(url: str) -> None:
    """--endpoint-url must be an http(s) URL with a host (exit 2, one line)."""
    with pytest.raises(ConfigurationError, match=r"^--endpoint-url: "):
        S3Target("s3://bucket/p", endpoint_url=url)


def test_aws_endpoint_url_is_honoured(s3: S3Server, bucket: str, monkeypatch: Any) -> None:
    """Without endpoint_url, boto3's AWS_ENDPOINT_URL names the server (MinIO, R2, ...)."""
    set_aws_env(monkeypatch, s3.env(s3.admin, AWS_ENDPOINT_URL=s3.url))
    open_target(f"s3://{bucket}/p").write("a.png", PNG, sha(PNG))
    assert s3.objects(bucket) == {"p/a.png": PNG}


def test_aws_profile_is_honoured(
    s3: S3Server, bucket: str, tmp_path: Path, monkeypatch: Any
) -> None:
    """AWS_PROFILE picks a profile of the shared credentials file, as boto3 does."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[designer]\naws_access_key_id = {s3.admin.access_key_id}\n"
        f"aws_secret_access_key = {s3.admin.secret_access_key}\n"
    )
    set_aws_env(
        monkeypatch,
        s3.env(None, AWS_PROFILE="designer", AWS_SHARED_CREDENTIALS_FILE=str(credentials)),
    )
    target(s3, f"s3://{bucket}/p").write("a.png", PNG, sha(PNG))
    assert s3.objects(bucket) == {"p/a.png": PNG}


def refusal(action: Any) -> str:
    with pytest.raises(DeliveryRefusedError) as caught:
        action()
    message = str(caught.value)
    assert "\n" not in message
    return message


def every_call(dest: S3Target) -> list[Any]:
    return [
        lambda: dest.sha256_of("a.png"),
        lambda: dest.read("a.png"),
        lambda: dest.write("a.png", PNG, sha(PNG)),
        lambda: dest.delete("a.png"),
    ]


def test_a_missing_bucket_is_refused(aws_env: S3Server) -> None:
    """Every call on a bucket that does not exist is refused, saying so, naming the target."""
    dest = target(aws_env, "s3://no-such-bucket/p")
    for action in every_call(dest):
        assert refusal(action).startswith("s3://no-such-bucket/p: ")
        assert "the bucket does not exist (NoSuchBucket)" in refusal(action)


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ("wrong-secret", "the secret access key does not match the access key id"),
        ("unknown-id", "the access key id is unknown to the server (InvalidAccessKeyId)"),
        ("no-rights", "access denied: the credentials need s3:GetObject"),
    ],
)
def test_refused_credentials_are_one_line_without_the_secret(
    s3: S3Server, bucket: str, monkeypatch: Any, keys: str, says: str
) -> None:
    """Wrong or powerless keys are refused on every call, in one line with no secret in it."""
    chosen = {
        "wrong-secret": Keys(s3.admin.access_key_id, "wrong-secret-0123456789"),
        "unknown-id": Keys("AKIAUNKNOWNUNKNOWN00", "wrong-secret-0123456789"),
        "no-rights": s3.nobody,
    }[keys]
    s3.client().put_object(Bucket=bucket, Key="p/a.png", Body=PNG)
    set_aws_env(monkeypatch, s3.env(chosen))
    dest = target(s3, f"s3://{bucket}/p")
    for action in every_call(dest):
        message = refusal(action)
        assert message.startswith(f"s3://{bucket}/p: ") and says in message
        assert chosen.secret_access_key not in message
        assert chosen.access_key_id not in message


def test_no_credentials_at_all_are_refused(s3: S3Server, monkeypatch: Any) -> None:
    """With no key anywhere (no variables, files or instance metadata): refused, saying how."""
    set_aws_env(monkeypatch, s3.env(None))
    message = refusal(lambda: target(s3, "s3://bucket/p").write("a.png", PNG, sha(PNG)))
    assert "no AWS credentials found (set AWS_ACCESS_KEY_ID" in message


def test_an_unknown_profile_is_refused(s3: S3Server, monkeypatch: Any) -> None:
    """AWS_PROFILE naming no profile is refused in one line naming the profile."""
    set_aws_env(monkeypatch, s3.env(None, AWS_PROFILE="nowhere"))
    message = refusal(lambda: target(s3, "s3://bucket/p"))
    assert message == "s3://bucket/p: cannot open: the AWS profile 'nowhere' is not configured"


@RETRIES
def test_a_network_failure_after_retries_is_a_delivery_error(
    s3: S3Server, monkeypatch: Any
) -> None:
    """A server that hangs up is tried botocore's number of times, then one line (exit 1),
    naming the endpoint, not a refusal."""
    set_aws_env(monkeypatch, s3.env(s3.admin, AWS_MAX_ATTEMPTS="3", AWS_RETRY_MODE="standard"))
    hang_up = HangUp()
    try:
        dest = open_target("s3://bucket/p", endpoint_url=hang_up.url)
        with pytest.raises(DeliveryError) as caught:
            dest.write("a.png", PNG, sha(PNG))
    finally:
        hang_up.socket.close()
    assert not isinstance(caught.value, DeliveryRefusedError)
    assert str(caught.value).startswith(
        f"s3://bucket/p: cannot put a.png: cannot reach {hang_up.url}"
    )
    assert hang_up.connections == 3


def test_nothing_listening_is_a_delivery_error(s3: S3Server, monkeypatch: Any) -> None:
    """A closed port is a DeliveryError (exit 1) naming the endpoint."""
    set_aws_env(monkeypatch, s3.env(s3.admin, AWS_MAX_ATTEMPTS="1"))
    with socket.create_server(("127.0.0.1", 0)) as probe:
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(DeliveryError, match=f"cannot reach {url}") as caught:
        open_target("s3://bucket/p", endpoint_url=url).sha256_of("a.png")
    assert not isinstance(caught.value, DeliveryRefusedError)


@pytest.mark.parametrize(
    ("status", "code", "says", "tries"),
    [
        pytest.param(
            503,
            "SlowDown",
            "cannot put a.png: the server failed (HTTP 503) after retries: SlowDown",
            3,
            marks=RETRIES,
        ),
        pytest.param(
            500,
            "InternalError",
            "the server failed (HTTP 500) after retries: InternalError",
            3,
            marks=RETRIES,
        ),
        (400, "AuthorizationHeaderMalformed", "the bucket is not in the region us-east-1", 1),
        (400, "InvalidArgument", "cannot put a.png: HTTP 400: InvalidArgument: no such thing", 1),
    ],
)
def test_server_errors_are_one_line_delivery_errors(
    s3: S3Server, monkeypatch: Any, status: int, code: str, says: str, tries: int
) -> None:
    """An error the server answers is one line (exit 1) with its status and code, after
    botocore's retries where they apply (5xx), and no refusal."""
    set_aws_env(monkeypatch, s3.env(s3.admin, AWS_MAX_ATTEMPTS="3", AWS_RETRY_MODE="standard"))
    with Answering(status, code, "no such thing") as server, pytest.raises(DeliveryError) as caught:
        open_target("s3://bucket/p", endpoint_url=server.url).write("a.png", PNG, sha(PNG))
    assert not isinstance(caught.value, DeliveryRefusedError)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("s3://bucket/p: cannot put a.png: ")
    assert server.requests == ["PUT"] * tries


def test_a_server_message_never_carries_a_credential(s3: S3Server, monkeypatch: Any) -> None:
    """A server's error message that echoes the secret or the key id shows neither."""
    set_aws_env(monkeypatch, s3.env(s3.admin))
    echoed = f"bad {s3.admin.secret_access_key} for {s3.admin.access_key_id}"
    with (
        Answering(400, "InvalidArgument", echoed) as server,
        pytest.raises(DeliveryError) as caught,
    ):
        open_target("s3://bucket/p", endpoint_url=server.url).write("a.png", PNG, sha(PNG))
    assert str(caught.value) == (
        "s3://bucket/p: cannot put a.png: HTTP 400: InvalidArgument: bad <redacted> for <redacted>"
    )


def test_a_refused_head_is_explained_by_a_ranged_get(s3: S3Server, monkeypatch: Any) -> None:
    """A HEAD's 403 has no body: one ranged GET learns the code, and the refusal names it."""
    set_aws_env(monkeypatch, s3.env(s3.admin))
    with Answering(403, "InvalidAccessKeyId", "unknown") as server:
        message = refusal(
            lambda: open_target("s3://bucket/p", endpoint_url=server.url).sha256_of("a.png")
        )
    assert message == (
        "s3://bucket/p: cannot look at a.png: the access key id is unknown to the server "
        "(InvalidAccessKeyId)"
    )
    assert server.requests == ["HEAD", "GET"]


@pytest.mark.parametrize("name", ["../x.png", "/x.png", "a//b.png", "a\\b.png", "", "a/./b"])
def test_the_folder_target_refuses_the_same_names(tmp_path: Path, name: str) -> None:
    """The folder target refuses the very names the S3 target refuses (one rule for both)."""
    with pytest.raises(DeliveryError, match="is no name inside the destination"):
        open_target(str(tmp_path / "out")).write(name, PNG, sha(PNG))
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.png").exists()


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_missing_credentials_are_one_line_exit_3(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    """No credentials anywhere: exit 3, one line saying which variables to set."""
    files(tmp_path)
    done = upload(s3, None, f"s3://{bucket}/web", tmp_path)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "no AWS credentials found (set AWS_ACCESS_KEY_ID" in done.stderr


@pytest.mark.slow
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


@pytest.mark.slow
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


def aws_imported_by(code: str) -> set[str]:
    """Which of boto3, botocore and s3transfer a fresh interpreter has imported after ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join({{m.split('.')[0] for m in sys.modules}}))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split()) & {"boto3", "botocore", "s3transfer"}


@pytest.mark.slow
def test_validate_and_a_folder_destination_never_import_boto3(tmp_path: Path) -> None:
    """`seedance-batch validate` and a folder target leave boto3 unimported; an s3:// one
    imports it."""
    assert not aws_imported_by(
        "from seedance_batch.cli import main\nassert main(['validate', 'manifests/demo.yaml']) == 0"
    )
    folder = json.dumps(str(tmp_path / "out"))
    assert not aws_imported_by(
        f"from seedance_batch.delivery import open_target\nopen_target({folder})"
    )
    s3_code = (
        "import os\nos.environ['AWS_EC2_METADATA_DISABLED'] = 'true'\n"
        "from seedance_batch.delivery import open_target\nopen_target('s3://bucket/prefix')"
    )
    assert aws_imported_by(s3_code) >= {"boto3", "botocore"}


@pytest.mark.slow
def test_the_object_of_a_file_is_its_bytes(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    """What the child uploads is byte for byte the file, under the prefix, SHA-256 recorded."""
    made = files(tmp_path, count=2)
    assert upload(s3, s3.admin, f"s3://{bucket}/a/b/", tmp_path).returncode == 0
    for name, data in made.items():
        head = s3.client().head_object(Bucket=bucket, Key=f"a/b/{name}")
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_export_to_s3_uploads_the_files_and_the_record_once(
    s3: S3Server, bucket: str, campaign: Campaign, monkeypatch: Any
) -> None:
    """`export --to s3://... --endpoint-url` puts each delivered file and delivery.json and
    .csv under the prefix; a second, unchanged export puts nothing; verify reads them back."""
    set_aws_env(monkeypatch, s3.env(s3.admin))
    campaign.decide({campaign.images()[0][0]: "approved"})
    dest = f"s3://{bucket}/web"
    first = campaign.cli("export", "--to", dest, "--endpoint-url", s3.url, "--profile", "web")
    assert first.returncode == 0, first.stderr
    objects = s3.objects(bucket)
    assert sorted(objects) == [
        "web/delivery.csv",
        "web/delivery.json",
        "web/hero/serum_1x1-t1-1.webp",
    ]
    record = json.loads(objects["web/delivery.json"])["files"]
    assert [entry["sha256"] for entry in record] == [sha(objects["web/hero/serum_1x1-t1-1.webp"])]
    puts = s3.puts(bucket)
    second = campaign.cli("export", "--to", dest, "--endpoint-url", s3.url, "--profile", "web")
    assert second.returncode == 0, second.stderr
    assert s3.puts(bucket) == puts == {name: 1 for name in objects}
    verified = campaign.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("ok: 6 images, 1 delivered files in 1 destinations")


@pytest.mark.slow
def test_export_with_wrong_credentials_is_refused_in_one_line(
    s3: S3Server, bucket: str, campaign: Campaign, monkeypatch: Any
) -> None:
    """`export -v` to S3 with a wrong secret: exit 3, one line naming the destination, no
    secret in the output, nothing uploaded."""
    wrong = Keys(s3.admin.access_key_id, "wrong-secret-c0ffee-2a4b")
    set_aws_env(monkeypatch, s3.env(wrong))
    campaign.decide({campaign.images()[0][0]: "approved"})
    done = campaign.cli("export", "--to", f"s3://{bucket}/web", "--endpoint-url", s3.url, "-v")
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"seedance-batch: error: s3://{bucket}/web: ")
    assert "(SignatureDoesNotMatch)" in done.stderr
    assert wrong.secret_access_key not in done.stdout + done.stderr
    assert s3.objects(bucket) == {}
