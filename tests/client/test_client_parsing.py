"""The tolerant reading of task answers (contract, section 1), on plain JSON values."""

from __future__ import annotations

import pytest

from seedance_batch._errors import ApiProtocolError
from seedance_batch._rules import FAILURE_WORDS, SUCCESS_WORDS
from seedance_batch.client._answers import parse_task

PAGE_EXAMPLE = {
    "id": "task_id",
    "object": "image.generation.task",
    "status": "pending",
    "data": [{"id": "task_id", "mediaType": "image", "status": "pending", "imageUrls": []}],
}


def test_page_example_reads_as_running() -> None:
    """The provider page's own example is a running task with no images."""
    task = parse_task(PAGE_EXAMPLE)
    assert (task.id, task.status, task.status_word, task.image_urls) == (
        "task_id",
        "running",
        "pending",
        (),
    )
    assert task.error is None
    assert task.raw["object"] == "image.generation.task"


@pytest.mark.parametrize("word", sorted(SUCCESS_WORDS))
@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_success_words(word: str, case: object) -> None:
    """Every success word, in any case, means succeeded; the word is kept as sent."""
    sent = case(word)  # type: ignore[operator]
    task = parse_task({"id": "t", "status": sent})
    assert task.status == "succeeded"
    assert task.status_word == sent


@pytest.mark.parametrize("word", sorted(FAILURE_WORDS))
@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_failure_words(word: str, case: object) -> None:
    """Every failure word, in any case, means failed."""
    task = parse_task({"id": "t", "status": case(word)})  # type: ignore[operator]
    assert task.status == "failed"


@pytest.mark.parametrize(
    "word", ["pending", "queued", "processing", "running", "in_progress", "IN_PROGRESS", "weird"]
)
def test_other_words_mean_running(word: str) -> None:
    """Any other status word means the task is still running."""
    assert parse_task({"id": "t", "status": word}).status == "running"


def test_missing_status_means_running() -> None:
    """A task with no status word at all is still running, with an empty word."""
    task = parse_task({"id": "t"})
    assert (task.status, task.status_word) == ("running", "")


def test_status_from_first_data_item_when_no_top_level() -> None:
    """Without a top-level status, the first data item's status is used."""
    task = parse_task({"id": "t", "data": [{"status": "SUCCESS", "imageUrls": ["https://i/1"]}]})
    assert (task.status, task.status_word) == ("succeeded", "SUCCESS")


def test_wrapped_task_with_task_id() -> None:
    """A task wrapped as {"data": {...}} with its id as task_id is unwrapped."""
    task = parse_task(
        {
            "code": 0,
            "data": {
                "task_id": "abc",
                "status": "completed",
                "data": [{"imageUrls": ["https://img.example/a.png"]}],
            },
        }
    )
    assert (task.id, task.status, task.image_urls) == (
        "abc",
        "succeeded",
        ("https://img.example/a.png",),
    )
    assert task.raw["task_id"] == "abc"


def test_inner_id_wins_over_wrapper_id() -> None:
    """The innermost layer's id is the task's, not a wrapper's request id."""
    assert parse_task({"id": "request-1", "data": {"id": "task-1"}}).id == "task-1"


def test_integer_id_becomes_text() -> None:
    """A numeric id is kept as its decimal text."""
    assert parse_task({"id": 42, "status": "queued"}).id == "42"


def test_data_item_id_is_the_last_resort() -> None:
    """With no top-level id, data[0].id (the page shows the task id there) is used."""
    assert parse_task({"data": [{"id": "from-item", "status": "pending"}]}).id == "from-item"


def test_fallback_id() -> None:
    """A poll answer without any id keeps the id that was asked for."""
    assert parse_task({"status": "running"}, fallback_id="asked").id == "asked"


@pytest.mark.parametrize(
    ("answer", "urls"),
    [
        ({"data": [{"imageUrls": ["https://h/1", "https://h/2"]}]}, ["https://h/1", "https://h/2"]),
        (
            {"data": [{"url": "https://h/1"}, {"url": "https://h/2"}]},
            ["https://h/1", "https://h/2"],
        ),
        ({"data": [{"url": ["https://h/1", "https://h/2"]}]}, ["https://h/1", "https://h/2"]),
        ({"results": ["https://h/1", "https://h/2"]}, ["https://h/1", "https://h/2"]),
        (
            {"results": [{"url": "https://h/1"}, {"url": "https://h/2"}]},
            ["https://h/1", "https://h/2"],
        ),
        ({"imageUrls": ["https://h/1", "https://h/2"]}, ["https://h/1", "https://h/2"]),
        (
            {
                "data": [{"imageUrls": ["https://h/1", "https://h/2"]}],
                "imageUrls": ["https://h/1", "https://h/2"],
            },
            ["https://h/1", "https://h/2"],
        ),
        (
            {"data": {"id": "t", "results": ["https://h/1"], "imageUrls": ["https://h/2"]}},
            ["https://h/1", "https://h/2"],
        ),
    ],
    ids=[
        "imageUrls",
        "url",
        "url_list",
        "results",
        "results_objects",
        "top_level",
        "duplicated",
        "wrapped",
    ],
)
def test_image_url_places(answer: dict[str, object], urls: list[str]) -> None:
    """Image URLs are found in every place the contract lists, in order, without duplicates."""
    payload = {"id": "t", "status": "succeeded", **answer}
    assert parse_task(payload).image_urls == tuple(urls)


def test_urls_collected_across_places_in_order() -> None:
    """URLs from several places are all collected, depth first in document order, once each."""
    task = parse_task(
        {
            "id": "t",
            "status": "done",
            "imageUrls": ["https://h/4", "https://h/1"],
            "results": ["https://h/3"],
            "data": [{"imageUrls": ["https://h/1"]}, {"url": "https://h/2"}],
        }
    )
    assert task.image_urls == ("https://h/4", "https://h/1", "https://h/3", "https://h/2")


def test_relative_urls_resolve_against_base_and_junk_is_dropped() -> None:
    """A relative URL is resolved against the API's base; non-http(s) values are left out."""
    task = parse_task(
        {
            "id": "t",
            "status": "succeeded",
            "imageUrls": ["/files/1.png", "data:image/png;base64,AAAA", "", 7, "ftp://h/x"],
        },
        base_url="https://api.example",
    )
    assert task.image_urls == ("https://api.example/files/1.png",)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"error": "content policy"}, "content policy"),
        ({"error": {"message": "nsfw  prompt\nrefused"}}, "nsfw prompt refused"),
        ({"fail_reason": "upstream timeout"}, "upstream timeout"),
        ({"message": "model overloaded"}, "model overloaded"),
        ({"data": [{"status": "failed", "error": "bad seed"}]}, "bad seed"),
        ({}, None),
    ],
)
def test_failure_message(answer: dict[str, object], message: str | None) -> None:
    """A failed task carries its message from error, error.message, fail_reason or message."""
    task = parse_task({"id": "t", "status": "failed", **answer})
    assert task.status == "failed"
    assert task.error == message


def test_running_task_has_no_error() -> None:
    """A message on a task that has not failed is not reported as an error."""
    assert parse_task({"id": "t", "status": "running", "message": "ok"}).error is None


@pytest.mark.parametrize("payload", [[], "text", None, 3])
def test_not_an_object(payload: object) -> None:
    """An answer that is not a JSON object cannot be read."""
    with pytest.raises(ApiProtocolError, match="not a JSON object"):
        parse_task(payload)


def test_no_id() -> None:
    """An answer without any task id (and no fallback) cannot be read."""
    with pytest.raises(ApiProtocolError, match="no task id"):
        parse_task({"status": "pending", "data": []})
