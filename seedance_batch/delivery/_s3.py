"""An S3 prefix (AWS, MinIO, R2 or another compatible) as an export's destination, via boto3.

Objects are put whole, in one request, under ``prefix/`` + the delivered name, each with its
SHA-256 recorded at upload twice: as the user metadata ``sha256`` (hex; every compatible keeps
it) and as S3's own SHA-256 checksum, which the server checks against the bytes on arrival.
:meth:`S3Target.sha256_of` reads the metadata back with one HEAD, so an export skips the objects
that already hold the bytes it would send. Credentials, region, retries and endpoint come from
boto3's usual chain (``AWS_*`` variables, ``~/.aws``, ``AWS_ENDPOINT_URL``); ``endpoint_url``
overrides the endpoint. Every failure becomes one line naming the destination, at one boundary
(:meth:`S3Target._answering`): refused credentials or access, or a missing bucket, are
:class:`DeliveryRefusedError` (exit 3); the rest, such as a network that stays down through
botocore's retries, :class:`DeliveryError` (exit 1). No message holds a credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore import exceptions as aws
from botocore.config import Config

from seedance_batch._errors import ConfigurationError, DeliveryError, DeliveryRefusedError
from seedance_batch._redact import redact
from seedance_batch.delivery._target import name_parts

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["SHA256_METADATA", "S3Target"]

#: The user metadata (``x-amz-meta-sha256``) that holds an object's SHA-256, in hex.
SHA256_METADATA = "sha256"
_SCHEME = "s3://"
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Loose on purpose: compatibles accept names AWS no longer does (capitals, underscores).
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")
_CHUNK = 1 << 20
_CONNECT_TIMEOUT = 10.0
_CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}
#: Their values never appear in a message (the key id is no secret, but half a credential).
_SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
)
_PERMISSIONS = "s3:GetObject, s3:PutObject, s3:DeleteObject, and s3:ListBucket on the bucket"
#: S3's error codes that refuse the credentials or the access, in words.
_REFUSALS = {
    "AccessDenied": f"access denied: the credentials need {_PERMISSIONS}",
    "AllAccessDisabled": "all access to the bucket is disabled",
    "AccountProblem": "the account behind the credentials is barred",
    "InvalidAccessKeyId": "the access key id is unknown to the server",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "InvalidToken": "the session token is not valid",
    "ExpiredToken": "the session token has expired",
    "TokenRefreshRequired": "the session token must be refreshed",
    "NoSuchBucket": "the bucket does not exist",
    "InvalidBucketName": "the server refuses the bucket's name",
}
_WRONG_REGION = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
_CREDENTIAL_FAILURES: tuple[type[Exception], ...] = (
    aws.CredentialRetrievalError,
    aws.TokenRetrievalError,
    aws.NoAuthTokenError,
    aws.UnknownCredentialError,
    aws.RefreshWithMFAUnsupportedError,
    aws.SSOError,
)


class S3Target:
    """Delivered files as objects under ``s3://bucket/prefix`` (``endpoint_url`` for MinIO, R2
    and other compatibles; else ``AWS_ENDPOINT_URL`` or AWS itself). Its methods may be called
    from several threads at once: boto3's clients are thread-safe."""

    def __init__(self, dest: str, *, endpoint_url: str | None = None) -> None:
        self._described = dest
        self.bucket, self.prefix = _split(dest)
        if endpoint_url is not None:
            _check_endpoint(endpoint_url)
        #: Set once the bucket has answered: from then on, a HEAD's 404 means a missing object.
        self._bucket_known = False
        with self._answering("cannot open"):
            session = boto3.session.Session()
            self._client: S3Client = session.client(
                "s3",
                endpoint_url=endpoint_url,
                config=Config(
                    connect_timeout=_CONNECT_TIMEOUT,
                    user_agent_extra="seedance-batch",
                ),
            )

    def describe(self) -> str:
        """The destination as the user wrote it (``s3://bucket/prefix``)."""
        return self._described

    def key_of(self, name: str) -> str:
        """The object key of the delivered name ``name``: ``prefix/`` + ``name``."""
        parts = name_parts(self._described, name)
        return "/".join([self.prefix, *parts] if self.prefix else parts)

    def sha256_of(self, name: str) -> str | None:
        """The object's SHA-256 as recorded at upload (its metadata, else S3's full-object
        SHA-256 checksum, else its bytes hashed); None when there is no such object."""
        key = self.key_of(name)
        with self._answering(f"cannot look at {name}"):
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            except aws.ClientError as exc:
                if self._absent(key, exc):
                    return None
                raise
            self._bucket_known = True
            recorded = _recorded_sha256(head.get("Metadata", {}), head)
            return recorded if recorded is not None else self._hashed(key)

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        with self._answering(f"cannot read {name}"):
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=self.key_of(name))
            except aws.ClientError as exc:
                if _code(exc) == "NoSuchKey":
                    self._bucket_known = True
                    return None
                raise
            with closing(answer["Body"]) as body:  # its own `with` gives the raw stream
                return body.read()

    def write(self, name: str, data: bytes, sha256: str) -> None:
        """One PUT of ``data``, whole or not at all; the server checks it against ``sha256``."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        with self._answering(f"cannot put {name}"):
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.key_of(name),
                Body=data,
                ContentType=_content_type(name),
                Metadata={SHA256_METADATA: sha256.lower()},
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        self._bucket_known = True

    def delete(self, name: str) -> None:
        """Remove the object; S3 answers a missing one as removed."""
        with self._answering(f"cannot remove {name}"):
            self._client.delete_object(Bucket=self.bucket, Key=self.key_of(name))

    def _absent(self, key: str, exc: aws.ClientError) -> bool:
        """Whether a failed HEAD means only that the object is missing. A HEAD's answer has no
        body, hence no error code: a ranged GET asks again to learn it (a missing bucket, wrong
        credentials), once for a 404 and whenever the HEAD is refused. Raises what it learns."""
        if _status(exc) == 404 and self._bucket_known:
            return True
        try:
            self._client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")["Body"].close()
        except aws.ClientError as explained:
            if _code(explained) != "NoSuchKey":
                raise
            self._bucket_known = True
            return True
        return False  # the object is there after all: the HEAD's own failure stands

    def _hashed(self, key: str) -> str:
        """The SHA-256 of the object's bytes, read in pieces (an object another tool put)."""
        digest = hashlib.sha256()
        answer = self._client.get_object(Bucket=self.bucket, Key=key)
        with closing(answer["Body"]) as body:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    @contextmanager
    def _answering(self, doing: str) -> Iterator[None]:
        """The one boundary: boto3's errors become one line naming the destination."""
        try:
            yield
        except aws.ClientError as exc:
            raise self._refused_or_failed(doing, exc) from exc
        except aws.BotoCoreError as exc:
            raise self._local_failure(doing, exc) from exc

    def _refused_or_failed(self, doing: str, exc: aws.ClientError) -> DeliveryError:
        code, status = _code(exc), _status(exc)
        where = f"{self._described}: {doing}"
        if code in _REFUSALS:
            return DeliveryRefusedError(f"{where}: {_REFUSALS[code]} ({code})")
        if status == 403:
            return DeliveryRefusedError(
                f"{where}: refused (HTTP 403): wrong credentials, or they lack {_PERMISSIONS}"
            )
        if code in _WRONG_REGION or status == 301:
            region = self._client.meta.region_name
            return DeliveryError(
                f"{where}: the bucket is not in the region {region} (set AWS_REGION) "
                f"({code or f'HTTP {status}'})"
            )
        message = _redacted(str(exc.response.get("Error", {}).get("Message", "")))
        answer = ": ".join(part for part in (code, message) if part and part != str(status))
        if status is not None and status >= 500:
            return DeliveryError(
                f"{where}: the server failed (HTTP {status}) after retries: {answer}"
            )
        return DeliveryError(f"{where}: HTTP {status}" + (f": {answer}" if answer else ""))

    def _local_failure(self, doing: str, exc: aws.BotoCoreError) -> DeliveryError:
        where = f"{self._described}: {doing}"
        if isinstance(exc, aws.NoCredentialsError):
            return DeliveryRefusedError(
                f"{where}: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
            )
        if isinstance(exc, aws.PartialCredentialsError):
            missing = exc.kwargs.get("cred_var", "a part")
            return DeliveryRefusedError(f"{where}: the AWS credentials are incomplete: {missing}")
        if isinstance(exc, aws.ProfileNotFound):
            profile = exc.kwargs.get("profile", "")
            return DeliveryRefusedError(f"{where}: the AWS profile {profile!r} is not configured")
        if isinstance(exc, _CREDENTIAL_FAILURES):
            return DeliveryRefusedError(
                f"{where}: the AWS credentials could not be obtained ({type(exc).__name__})"
            )
        if isinstance(exc, (aws.ConnectionError, aws.HTTPClientError)):
            endpoint = _redacted(self._client.meta.endpoint_url)
            return DeliveryError(
                f"{where}: cannot reach {endpoint} (after retries): {type(exc).__name__}"
            )
        return DeliveryError(f"{where}: {_redacted(str(exc))}")


def _split(dest: str) -> tuple[str, str]:
    """The bucket and the prefix (no ``/`` at either end) of ``s3://bucket/prefix``."""
    bucket, _, prefix = dest.removeprefix(_SCHEME).partition("/")
    if not dest.startswith(_SCHEME) or not _BUCKET.fullmatch(bucket):
        raise ConfigurationError(f"{dest}: not an S3 destination (s3://bucket/prefix)")
    prefix = prefix.strip("/")
    if prefix:
        try:
            name_parts(dest, prefix)
        except DeliveryError as exc:
            raise ConfigurationError(f"{dest}: the prefix {prefix!r} is no S3 prefix") from exc
    return bucket, prefix


def _check_endpoint(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"--endpoint-url: {_redacted(url)!r} is no http(s) URL")


def _recorded_sha256(metadata: Mapping[str, str], head: Mapping[str, Any]) -> str | None:
    """The hex SHA-256 an upload recorded: the metadata, else a full-object checksum."""
    value = metadata.get(SHA256_METADATA, "").strip().lower()
    if _HEX_SHA256.fullmatch(value):
        return value
    checksum = head.get("ChecksumSHA256")
    if not isinstance(checksum, str) or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    try:
        digest = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == hashlib.sha256().digest_size else None


def _content_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _code(exc: aws.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: aws.ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _redacted(text: str) -> str:
    """``text`` without the secrets of the AWS environment or a URL's user-info."""
    return redact(" ".join(text.split()), [os.environ.get(v, "") for v in _SECRET_VARIABLES])
