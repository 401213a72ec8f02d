"""A real S3 API server on loopback for the delivery tests: moto's server mode in a child process.

Moto checks every request's signature against its own IAM once :func:`s3_server` has made the
users: ``admin`` may do anything on S3, ``nobody`` nothing (S3 answers it ``AccessDenied``).
Buckets are versioned, so the number of versions of a key is the number of PUTs it received.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHILD = Path(__file__).with_name("s3_child.py")
REGION = "us-east-1"
_ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
_buckets = itertools.count(1)
#: One boto3 session and one client per keys for the tests' own requests: a session costs 0.4 s.
_SESSION = boto3.session.Session()
_clients: dict[tuple[str, Keys], S3Client] = {}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class S3Server:
    url: str
    admin: Keys
    nobody: Keys

    def client(self, keys: Keys | None = None) -> S3Client:
        """A boto3 client of the server, signing with ``keys`` (the admin's by default)."""
        keys = keys or self.admin
        if (self.url, keys) not in _clients:
            _clients[self.url, keys] = _SESSION.client(
                "s3",
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id=keys.access_key_id,
                aws_secret_access_key=keys.secret_access_key,
            )
        return _clients[self.url, keys]

    def new_bucket(self) -> str:
        """A new, empty, versioned bucket."""
        name = f"deliveries-{os.getpid()}-{next(_buckets)}"
        client = self.client()
        client.create_bucket(Bucket=name)
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def puts(self, bucket: str) -> dict[str, int]:
        """How many PUTs each key of ``bucket`` received (its versions, deletions left out)."""
        counts: dict[str, int] = {}
        for page in self.client().get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every current object of ``bucket`` and its bytes."""
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listed
        }

    def env(self, keys: Keys | None, **extra: str) -> dict[str, str]:
        """This process's environment without any AWS setting, then ``keys``, the region, no
        config files and no instance metadata (so nothing but ``keys`` can be found)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        if keys is not None:
            env.update(
                AWS_ACCESS_KEY_ID=keys.access_key_id,
                AWS_SECRET_ACCESS_KEY=keys.secret_access_key,
            )
        env.update(extra)
        return env


def _user(iam: Any, name: str, policy: dict[str, Any] | None) -> Keys:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(key["AccessKeyId"], key["SecretAccessKey"])


def _check_signatures_from_now(url: str) -> None:
    """Moto's switch: every request from now on is authenticated and authorised by its IAM."""
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Moto's S3 server on 127.0.0.1 (a free port) in a child process, stopped at the end."""
    process = subprocess.Popen(
        [sys.executable, str(CHILD), "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # werkzeug's request log: unread, it would fill the pipe
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        url = f"http://127.0.0.1:{ready[1]}"
        iam = _SESSION.client(
            "iam",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        server = S3Server(url, _user(iam, "admin", _ALLOW_S3), _user(iam, "nobody", None))
        _check_signatures_from_now(url)
        yield server
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class HangUp:
    """A loopback server that accepts each connection and closes it at once, counting them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.recv(65536)
            connection.close()


class Answering:
    """A loopback HTTP server that answers every request with ``status`` and an S3 error body
    (``code``, ``message``), listing the methods it received; a context manager."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.requests: list[str] = []
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                requests.append(self.command)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Answering:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
