"""Resellers' answers (contract section 1, issue 10 point 8), read as the contract says."""

from __future__ import annotations

import pytest

from seedance_batch._rules import classify_flag, classify_status, names_policy
from seedance_batch.client._answers import parse_task

URL1 = "https://cdn.example/1.png"
URL2 = "https://cdn.example/2.png"


@pytest.mark.parametrize(
    ("word", "outcome"),
    [
        ("GENERATE_FAILED", "failed"),
        ("SENSITIVE_WORD_ERROR", "failed"),
        ("CREATE_TASK_FAILED", "failed"),
        ("content-violation", "failed"),
        ("Refused", "failed"),
        ("NSFW", "failed"),
        ("moderation blocked", "failed"),
        ("FAILED_TO_COMPLETE", "failed"),
        ("SUCCESS", "succeeded"),
        ("Succeeded", "succeeded"),
        ("task_completed", "succeeded"),
        ("FINISHED", "succeeded"),
        ("IN_QUEUE", "running"),
        ("GENERATING", "running"),
        ("in progress", "running"),
        ("submitted", "running"),
    ],
)
def test_status_words_by_family(word: str, outcome: str) -> None:
    """Any word holding a success or failure stem ends the task so; others mean running."""
    assert classify_status(word) == outcome


@pytest.mark.parametrize(
    ("flag", "outcome"),
    [
        (0, "running"),
        (1, "succeeded"),
        (2, "failed"),
        (3, "failed"),
        ("1", "succeeded"),
        (True, None),
        (-1, None),
        ("x", None),
    ],
)
def test_success_flag(flag: object, outcome: str | None) -> None:
    """successFlag: 0 running, 1 success, 2 or more failure; anything else is no flag."""
    assert classify_flag(flag) == outcome


def test_generate_failed_ends_the_task_with_its_message() -> None:
    """GENERATE_FAILED is a failure, taken with the task's failReason (seen: polled 900 s)."""
    task = parse_task(
        {
            "code": 200,
            "msg": "success",
            "data": {"taskId": "t", "status": "GENERATE_FAILED", "failReason": "upstream crashed"},
        }
    )
    assert (task.id, task.status, task.error) == ("t", "failed", "upstream crashed")
    assert not task.policy_rejection


def test_sensitive_word_error_is_a_policy_rejection() -> None:
    """A reseller's SENSITIVE_WORD_ERROR is a final policy rejection."""
    task = parse_task({"task_id": "t", "status": "SENSITIVE_WORD_ERROR", "errorMessage": "no"})
    assert (task.status, task.error, task.policy_rejection) == ("failed", "no", True)


@pytest.mark.parametrize(
    "message",
    [
        "Your prompt violates our content policy",
        "blocked by the safety system",
        "NSFW content detected",
        "moderation flagged the request",
    ],
)
def test_policy_named_in_the_message(message: str) -> None:
    """A failure whose message names policy, safety, NSFW or moderation is a policy rejection."""
    task = parse_task({"id": "t", "status": "failed", "error": {"message": message}})
    assert task.policy_rejection
    assert names_policy(None, message)


def test_success_flag_decides_without_a_word() -> None:
    """A task with successFlag but no status word reads the flag."""
    assert (
        parse_task({"taskId": "t", "successFlag": 1, "response": {"resultUrls": [URL1]}}).status
        == "succeeded"
    )
    task = parse_task({"taskId": "t", "successFlag": 2, "errorMessage": "bad"})
    assert (task.status, task.error) == ("failed", "bad")
    assert parse_task({"taskId": "t", "successFlag": 0}).status == "running"


@pytest.mark.parametrize(
    "payload",
    [
        {"data": {"id": "t", "status": "SUCCESS", "imageUrls": [URL1]}},
        {
            "code": 200,
            "msg": "success",
            "data": {"taskId": "t", "status": "SUCCESS", "result": {"images": [{"url": URL1}]}},
        },
        {"data": [{"task_id": "t", "state": "completed", "output": [URL1]}]},
        {
            "code": 0,
            "message": "ok",
            "data": [{"taskId": "t", "successFlag": 1, "response": {"resultUrls": [URL1]}}],
        },
    ],
    ids=["data", "code-wrapper", "data-list", "data-list-flag"],
)
def test_wrappers(payload: dict[str, object]) -> None:
    """The task may be bare, in data, in a code wrapper or the only item of a data list."""
    task = parse_task(payload)
    assert (task.id, task.status, task.image_urls) == ("t", "succeeded", (URL1,))


def test_wrapper_message_is_no_status_or_error() -> None:
    """A wrapper's msg ("success") is neither a status word nor a failure's message."""
    task = parse_task({"code": 200, "msg": "success", "data": {"taskId": "t", "status": "FAILED"}})
    assert (task.status, task.error) == ("failed", None)
    running = parse_task({"code": 200, "msg": "success", "data": {"taskId": "t"}})
    assert (running.status, running.status_word) == ("running", "")


def test_nsfw_flag_saying_nothing_unsafe_is_no_failure() -> None:
    """has_nsfw_concepts: [false] on a finished task is no failure."""
    task = parse_task(
        {"id": "t", "status": "COMPLETED", "has_nsfw_concepts": [False], "images": [{"url": URL1}]}
    )
    assert (task.status, task.policy_rejection, task.image_urls) == ("succeeded", False, (URL1,))


@pytest.mark.parametrize(
    ("payload", "urls"),
    [
        ({"data": {"result": {"images": [{"url": URL1}, {"url": URL2}]}}}, (URL1, URL2)),
        ({"response": {"resultUrls": [URL1, URL2]}}, (URL1, URL2)),
        ({"output": URL1}, (URL1,)),
        ({"output": {"image_url": URL1}}, (URL1,)),
        (
            {"images": [{"url": URL1, "thumbnail": "https://cdn.example/t.png"}]},
            (URL1, "https://cdn.example/t.png"),
        ),
        ({"result": {"url": [URL1, URL1, URL2]}}, (URL1, URL2)),
        (
            {"data": [{"url": URL1}], "result_url": "ftp://x/y.png", "prompt_image": "not a url"},
            (URL1,),
        ),
        ({"note": URL2, "result": URL1}, (URL1,)),
    ],
    ids=[
        "result.images",
        "response.resultUrls",
        "output",
        "output.image_url",
        "images",
        "dedup",
        "http-only",
        "only-image-keys",
    ],
)
def test_urls_anywhere_under_image_keys(payload: dict[str, object], urls: tuple[str, ...]) -> None:
    """URLs under keys holding url/image/result/output, depth first, once each, http(s) only."""
    task = parse_task({"id": "t", "status": "SUCCESS", **payload})
    assert task.image_urls == urls


def test_success_without_url_names_the_keys_it_saw() -> None:
    """A success with no URL the client can find says which keys the answer had."""
    task = parse_task({"id": "t", "status": "SUCCESS", "data": {"pictures": [{"href": "x"}]}})
    assert task.image_urls == ()
    assert task.warning is not None
    assert "data.pictures" in task.warning and "href" in task.warning
