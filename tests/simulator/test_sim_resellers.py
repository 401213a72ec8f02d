"""The resellers' answer variants (contract sections 1 and 8): wrappers, ids, URL places,
successFlag, waits only in a body, policy rejections; each reproducible with a seed."""

from __future__ import annotations

from typing import Any

import pytest
from _support.simulator import api_client, create, image_urls_of, task_id_of, task_of, web

from seedance_batch.simulator import SimulatorConfig, Variants, serve
from seedance_batch.simulator._config import Envelope, UrlPlacement


def finished(variants: Variants, body: dict[str, Any] | None = None, **config: Any) -> Any:
    """The create answer and the finished poll answer of one task."""
    with serve(SimulatorConfig(variants=variants, **config)) as sim, api_client(sim) as client:
        created = create(client, body).json()
        polled = client.get(f"/v1/tasks/{task_id_of(created)}").json()
        urls = image_urls_of(polled)
        assert all(web.get(url).status_code == 200 for url in urls)
    return created, polled


def test_code_wrapper() -> None:
    """The code envelope answers {"code": 200, "msg": "success", "data": task}."""
    created, polled = finished(Variants(envelope="code"))
    for answer in (created, polled):
        assert (answer["code"], answer["msg"]) == (200, "success")
        assert answer["data"]["object"] == "image.generation.task"


def test_data_list_wrapper() -> None:
    """The data_list envelope answers the task as the only item of a data list."""
    _, polled = finished(Variants(envelope="data_list"))
    assert list(polled) == ["data"] and len(polled["data"]) == 1
    assert polled["data"][0]["status"] == "succeeded"


def test_task_id_camel_case() -> None:
    """The taskId variant names the id taskId and nothing else."""
    created, polled = finished(Variants(id_field="taskId"))
    assert "id" not in created and created["taskId"] == polled["taskId"]


@pytest.mark.parametrize(
    ("placement", "path"),
    [
        ("result_images", ("result", "images")),
        ("response_resultUrls", ("response", "resultUrls")),
        ("output", ("output",)),
        ("images", ("images",)),
    ],
)
def test_reseller_url_places(placement: UrlPlacement, path: tuple[str, ...]) -> None:
    """Each reseller placement puts the n URLs where its name says, and nowhere the page does."""
    _, polled = finished(Variants(url_placement=placement), {"prompt": "p", "n": 2})
    place: Any = polled
    for key in path:
        place = place[key]
    assert len(place) == 2
    assert polled["data"][0].get("imageUrls") is None and "imageUrls" not in polled
    assert len(image_urls_of(polled)) == 2
    if placement == "images":
        assert polled["has_nsfw_concepts"] == [False, False]


def test_success_flag_beside_the_word_and_alone() -> None:
    """successFlag is 0 while running, 1 on success, 2 on failure; "only" sends no word."""
    _, done = finished(Variants(success_flag="with_status"))
    assert (done["successFlag"], done["status"]) == (1, "succeeded")
    _, failed = finished(Variants(success_flag="only"), fail_rate=1.0)
    assert failed["successFlag"] == 2 and "status" not in failed
    assert all("status" not in item for item in failed["data"])
    created, _ = finished(Variants(success_flag="only"), latency=5.0)
    assert created["successFlag"] == 0


@pytest.mark.parametrize("form", ["body_text", "body_field"])
def test_waits_only_in_the_body(form: str) -> None:
    """With a body wait, a 429 carries no Retry-After; its wait is in words or a field."""
    config = SimulatorConfig(rate_limit=1, variants=Variants(retry_after=form))  # type: ignore[arg-type]
    with serve(config) as sim, api_client(sim) as client:
        create(client)
        limited = create(client)
    assert limited.status_code == 429 and "retry-after" not in limited.headers
    error = limited.json()["error"]
    if form == "body_text":
        assert "resets in ~1s" in error["message"]
    else:
        assert error["retry_after"] == 1


def test_policy_rejections_use_reseller_words_and_messages() -> None:
    """policy_rate rejects tasks with SENSITIVE_WORD_ERROR-like words and moderation messages."""
    variants = Variants(policy_rate=0.5, status_words="reseller")
    with serve(SimulatorConfig(seed=4, variants=variants)) as sim, api_client(sim) as client:
        ids = [task_id_of(create(client, idempotency_key=f"j{i}").json()) for i in range(20)]
        finals = [client.get(f"/v1/tasks/{task_id}").json() for task_id in ids]
    words = {task["status"] for task in finals}
    assert "SUCCESS" in words
    assert words - {"SUCCESS"} <= {
        "SENSITIVE_WORD_ERROR",
        "CONTENT_POLICY_VIOLATION",
        "NSFW_BLOCKED",
    }
    rejected = [task for task in finals if task["status"] != "SUCCESS"]
    assert 3 <= len(rejected) <= 17
    assert all("error" in task for task in rejected)


def test_variants_are_reproducible_with_the_seed() -> None:
    """The same seed and requests give the same mixed shapes and the same rejections."""

    def shapes(seed: int) -> list[str]:
        variants = Variants(
            envelope="mixed",
            url_placement="mixed",
            status_words="mixed",
            id_field="mixed",
            policy_rate=0.3,
        )
        with serve(SimulatorConfig(seed=seed, variants=variants)) as sim, api_client(sim) as c:
            answers = [create(c, idempotency_key=f"j{i}").json() for i in range(12)]
            polled = [c.get(f"/v1/tasks/{task_id_of(a)}").json() for a in answers]
        return [str(sorted(task_of(p))) + str(task_of(p).get("status")) for p in polled]

    assert shapes(5) == shapes(5)
    assert shapes(5) != shapes(6)


@pytest.mark.parametrize("envelope", ["bare", "data", "code", "data_list"])
def test_every_envelope_keeps_the_task_whole(envelope: Envelope) -> None:
    """Whatever the envelope, the task inside is the same object with its id and URLs."""
    _, polled = finished(Variants(envelope=envelope))
    assert task_of(polled)["object"] == "image.generation.task"
    assert len(image_urls_of(polled)) == 1
