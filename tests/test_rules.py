"""The API's rules, from the provider's page and the contract's section 1."""

from __future__ import annotations

import pytest

from seedance_batch import _rules


@pytest.mark.parametrize("size", ["1:1", "4:5", "16:9", "9:16", "1024x1024", "864x1536"])
def test_common_1k_sizes_pass_silently(size: str) -> None:
    """The page's four 1K presets and their pixel sizes pass without a word."""
    assert _rules.check_size(size, "1k").outcome == "ok"


@pytest.mark.parametrize("size", ["3:2", "21:9", "1:3", "2000x1000"])
def test_other_1k_sizes_pass_with_a_warning(size: str) -> None:
    """Other ratios and pixel sizes at 1K pass with a warning."""
    assert _rules.check_size(size, "1k").outcome == "warning"


@pytest.mark.parametrize("size", ["square", "16/9", "0:1", "1:0", "x", "1024*1024", ""])
def test_malformed_sizes_are_errors(size: str) -> None:
    """A size that is neither W:H nor WxH is an error at any resolution."""
    assert _rules.check_size(size, "1k").outcome == "error"
    assert _rules.check_size(size, "4k").outcome == "error"


def test_4k_takes_exactly_the_fifteen_presets() -> None:
    """At 4K the fifteen presets pass and pixel sizes or other ratios are errors."""
    assert len(_rules.PRESETS_4K) == 15
    for preset in _rules.PRESETS_4K:
        assert _rules.check_size(preset, "4k").outcome == "ok"
    assert _rules.check_size("1024x1024", "4k").outcome == "error"
    assert "pixel size" in _rules.check_size("1024x1024", "4k").message
    assert _rules.check_size("7:5", "4k").outcome == "error"


def test_credits_are_two_per_1k_and_four_per_4k_image() -> None:
    """Credits: 2 per 1K image, 4 per 4K image, times n."""
    assert [_rules.credits_for(n, "1k") for n in _rules.N_VALUES] == [2, 4, 8]
    assert [_rules.credits_for(n, "4k") for n in _rules.N_VALUES] == [4, 8, 16]


def test_resolution_is_case_insensitive() -> None:
    """1K and 4K in any case normalise to lowercase; anything else is not a resolution."""
    assert _rules.normalize_resolution("1K") == "1k"
    assert _rules.normalize_resolution("4k") == "4k"
    assert _rules.normalize_resolution("2k") is None


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        *[(w, "succeeded") for w in ("succeeded", "SUCCESS", "Completed", "done", "finished")],
        *[(w, "failed") for w in ("failed", "ERROR", "cancelled", "canceled", "expired")],
        *[(w, "running") for w in ("pending", "queued", "processing", "in_progress", "weird")],
        (None, "running"),
        (3, "running"),
    ],
)
def test_status_words(word: object, kind: str) -> None:
    """Success and failure words in any case end a task; any other word means still running."""
    assert _rules.classify_status(word) == kind


def test_request_body_maps_fields_per_resolution() -> None:
    """1K sends size; 4K sends resolution and imageSizePreset; unset fields are not sent."""
    assert _rules.request_body({"prompt": "p"}) == {"prompt": "p"}
    assert _rules.request_body({"prompt": "p", "size": "1:1", "resolution": "1K"}) == {
        "prompt": "p",
        "resolution": "1k",
        "size": "1:1",
    }
    assert _rules.request_body({"prompt": "p", "size": "3:1", "resolution": "4K", "n": 4}) == {
        "prompt": "p",
        "n": 4,
        "resolution": "4k",
        "imageSizePreset": "3:1",
    }


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        *[(w, "failed") for w in ("GENERATE_FAILED", "SENSITIVE_WORD_ERROR", "CREATE_TASK_FAILED")],
        *[(w, "failed") for w in ("Refused", "blocked", "content-violation", "NSFW", "unsafe")],
        *[(w, "succeeded") for w in ("TASK_COMPLETED", "Succeeded", "finish")],
        *[(w, "running") for w in ("IN_QUEUE", "GENERATING", "in progress", "submitted")],
    ],
)
def test_status_words_read_by_family(word: str, kind: str) -> None:
    """A word holding a failure or success stem (any case, _ - and spaces ignored) ends a task."""
    assert _rules.classify_status(word) == kind


def test_success_flag_and_policy_names() -> None:
    """successFlag 0/1/2+ and the words that make a failure a policy rejection."""
    assert [_rules.classify_flag(f) for f in (0, 1, 2, 5, True, None)] == [
        "running", "succeeded", "failed", "failed", None, None,
    ]  # fmt: skip
    assert _rules.names_policy("SENSITIVE_WORD_ERROR", None)
    assert _rules.names_policy("failed", "violates the content policy")
    assert not _rules.names_policy("GENERATE_FAILED", "upstream timed out")
