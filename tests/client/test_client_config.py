"""Configuration checks: base URLs, the key, the retry policy and Retry-After parsing."""

from __future__ import annotations

import email.utils

import pytest

from seedance_batch._errors import ConfigurationError
from seedance_batch.client import RetryPolicy, SeedanceClient
from seedance_batch.client._retry import parse_retry_after

KEY = "sk-live-SECRET-9f8e7d6c"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.1:8080",
        "http://sseedance.com/",
        "http://localhost.evil.com",
    ],
)
def test_plain_http_is_refused_off_loopback(url: str) -> None:
    """A plain http:// base URL is refused unless its host is loopback; the key is not shown."""
    with pytest.raises(ConfigurationError, match="http://") as caught:
        SeedanceClient(url, KEY)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://sseedance.com",
        "https://sseedance.com/",
        "http://127.0.0.1:8000",
        "http://127.5.6.7",
        "http://localhost:9000/",
        "http://[::1]:8080",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    """https anywhere, and http on loopback hosts, are accepted; the trailing slash goes."""
    client = SeedanceClient(url, KEY)
    assert client.base_url == url.rstrip("/")
    assert KEY not in repr(client)


@pytest.mark.parametrize(
    "url",
    [
        "sseedance.com",
        "ftp://sseedance.com",
        "https://user:s3cr3tpw@sseedance.com",
        "https://sseedance.com/?a=1",
        "https://",
    ],
)
def test_malformed_base_urls(url: str) -> None:
    """A base URL without a scheme or host, or with credentials or a query, is refused."""
    with pytest.raises(ConfigurationError) as caught:
        SeedanceClient(url, KEY)
    assert "s3cr3tpw" not in str(caught.value)


@pytest.mark.parametrize("key", ["", "   ", "has space", "tab\tkey", "new\nline"])
def test_bad_keys(key: str) -> None:
    """An empty key, or one that cannot be a header value, is refused without echoing it."""
    with pytest.raises(ConfigurationError) as caught:
        SeedanceClient("https://sseedance.com", key)
    if key.strip():
        assert key not in str(caught.value)


def test_repr_and_vars_hide_the_key() -> None:
    """Neither repr() of the client nor of any of its attributes shows the key."""
    client = SeedanceClient("https://sseedance.com", KEY)
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert all(KEY not in repr(value) for value in vars(client).values())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0},
        {"cap": 0.5},
        {"max_retries": -1},
        {"retry_after_cap": -1},
        {"base": float("inf")},
    ],
)
def test_retry_policy_validation(kwargs: dict[str, float]) -> None:
    """Nonsense retry policies are refused."""
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_policy_defaults_follow_the_contract() -> None:
    """Base 1 s and cap 60 s, as section 7 says."""
    policy = RetryPolicy()
    assert (policy.base, policy.cap) == (1.0, 60.0)
    assert [policy.ceiling(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("0", 0.0),
        (email.utils.formatdate(1000 + 42, usegmt=True), 42.0),
        (email.utils.formatdate(1000 - 42, usegmt=True), 0.0),
        ("Thu, 01 Jan 1970 00:17:00", 20.0),  # no zone: read as GMT
        ("later", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    """Retry-After reads delta seconds or an HTTP date against the wall clock."""
    assert parse_retry_after(value, now=1000.0) == seconds
