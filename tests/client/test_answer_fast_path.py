"""The answer reader's fast path for the API's own shape beside its reference walk."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from seedance_batch.client._answers import parse_task, read_any_shape, read_common_shape

BASE = "http://127.0.0.1:9"
URLS = st.sampled_from(
    [
        "https://img.test/a.png",
        " https://img.test/b.png ",
        "/images/c.png",
        "//img.test/d.png",
        "http://",
        "https://img.test/a b.png",
        "not a url",
        "https://sk-secret-key@img.test/e.png",
        "",
    ]
)
WORDS = st.sampled_from(["succeeded", "running", " pending ", "", "FAILED", "done", "x"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), WORDS, URLS, st.text(max_size=4))
VALUES = st.recursive(
    st.one_of(SCALARS, st.lists(URLS, max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["url", "x"]), inner)
    ),
    max_leaves=6,
)
ITEM_KEYS = ["id", "mediaType", "status", "imageUrls", "url", "successFlag", "state", "image"]
TOP_KEYS = ["id", "object", "status", "model", "n", "created", "data", "task_id", "error"]
ITEMS = st.one_of(
    st.fixed_dictionaries(
        {"id": WORDS, "status": WORDS},
        optional={"mediaType": WORDS, "imageUrls": st.lists(URLS, max_size=3)},
    ),
    st.dictionaries(st.sampled_from(ITEM_KEYS), VALUES, max_size=4),
    SCALARS,
)
COMMON = st.fixed_dictionaries(
    {"id": st.one_of(WORDS, st.integers(0, 9)), "status": st.one_of(WORDS, st.none())},
    optional={
        "object": WORDS,
        "model": WORDS,
        "n": st.integers(1, 4),
        "created": st.integers(0, 9),
        "data": st.one_of(st.lists(ITEMS, max_size=3), VALUES),
    },
)
ANSWERS = st.one_of(
    COMMON,
    st.builds(lambda a, b: {**a, **b}, COMMON, st.dictionaries(st.sampled_from(TOP_KEYS), VALUES)),
    st.dictionaries(st.sampled_from(TOP_KEYS), VALUES, max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(ANSWERS)
def test_the_common_shape_reads_as_the_reference_or_declines(answer: dict[str, Any]) -> None:
    """read_common_shape gives read_any_shape's reading, or None (the walk reads it then)."""
    fast = read_common_shape(answer, BASE)
    if fast is not None:
        assert fast == read_any_shape(answer, BASE)


def test_the_api_own_answers_take_the_fast_path() -> None:
    """The page's answers (a create's, a finished poll's) are read without the walk, and read
    the same; a wrapped or failed answer goes to the walk."""
    created = {"id": "t-1", "object": "image.generation.task", "status": "pending", "data": []}
    done = {
        "id": "t-1",
        "object": "image.generation.task",
        "status": "succeeded",
        "model": "seedance-2.1",
        "n": 1,
        "created": 1,
        "data": [{"id": "t-1", "mediaType": "image", "status": "succeeded", "imageUrls": [
            "https://img.test/1.png"
        ]}],
    }  # fmt: skip
    for answer in (created, done):
        assert read_common_shape(answer, BASE) == read_any_shape(answer, BASE)
    assert parse_task(done, base_url=BASE).image_urls == ("https://img.test/1.png",)
    assert read_common_shape({"data": done}, BASE) is None
    assert read_common_shape({**done, "error": {"message": "no"}}, BASE) is None
