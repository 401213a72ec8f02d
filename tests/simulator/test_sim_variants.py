"""The answer variants that make a client's tolerance (contract, section 1) tested, not assumed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _support.simulator import KEY, api_client, create, image_urls_of, task_id_of, task_of, web

from seedance_batch.simulator import SimulatorConfig, Variants, serve
from seedance_batch.simulator._config import StatusWords, UrlPlacement

#: The families of contract section 1, written out here: the simulator shares no code with the
#: client, and its tests do not borrow the client's reading.
SUCCESS_STEMS = ("succe", "complet", "done", "finish")
FAILURE_STEMS = (
    "fail", "error", "reject", "cancel", "abort", "expire", "refus",
    "block", "violat", "sensitive", "moderat", "nsfw", "unsafe",
)  # fmt: skip


def family(word: str) -> str:
    folded = "".join(ch for ch in word.lower() if ch not in "_- ")
    if any(stem in folded for stem in FAILURE_STEMS):
        return "failure"
    if any(stem in folded for stem in SUCCESS_STEMS):
        return "success"
    return "running"


WORDS: dict[str, tuple[str, str, str, str]] = {
    "standard": ("pending", "processing", "succeeded", "failed"),
    "alternate": ("queued", "running", "completed", "error"),
    "uppercase": ("PENDING", "IN_PROGRESS", "SUCCESS", "FAILURE"),
    "reseller": ("IN_QUEUE", "GENERATING", "SUCCESS", "GENERATE_FAILED"),
}


@pytest.mark.parametrize("style", sorted(WORDS))
def test_status_words_follow_the_chosen_style(style: StatusWords) -> None:
    """Each style answers its own words for pending, processing, success and failure."""
    pending, processing, success, failure = WORDS[style]
    variants = Variants(status_words=style)
    with serve(SimulatorConfig(latency=0.4, variants=variants)) as sim, api_client(sim) as client:
        created = create(client).json()
        time.sleep(0.2)
        middle = client.get(f"/v1/tasks/{created['id']}").json()
        time.sleep(0.25)
        final = client.get(f"/v1/tasks/{created['id']}").json()
    with serve(SimulatorConfig(fail_rate=1, variants=variants)) as sim, api_client(sim) as client:
        failed = client.get(f"/v1/tasks/{create(client).json()['id']}").json()
    assert [created["status"], middle["status"], final["status"], failed["status"]] == [
        pending, processing, success, failure,
    ]  # fmt: skip
    assert final["data"][0]["status"] == success


def test_mixed_status_words_draw_terminal_words_from_the_contracts_families() -> None:
    """Mixed words vary per task, and every word reads by family as its phase (section 1)."""
    config = SimulatorConfig(seed=1, fail_rate=0.5, variants=Variants(status_words="mixed"))
    with serve(config) as sim, api_client(sim) as client:
        created = [create(client, idempotency_key=f"j{i}").json() for i in range(40)]
        finals = [client.get(f"/v1/tasks/{task['id']}").json() for task in created]
    words = {task["status"] for task in finals}
    assert len(words) >= 6
    for task in finals:
        assert family(task["status"]) == ("failure" if "error" in task else "success")
    assert len({task["status"] for task in created}) >= 3
    assert {family(task["status"]) for task in created} == {"running"}


def test_data_envelope_wraps_the_task() -> None:
    """The data envelope answers {"data": task} on create and poll."""
    config = SimulatorConfig(variants=Variants(envelope="data"))
    with serve(config) as sim, api_client(sim) as client:
        created = create(client).json()
        polled = client.get(f"/v1/tasks/{created['data']['id']}").json()
    assert set(created) == {"data"} and set(polled) == {"data"}
    assert polled["data"]["object"] == "image.generation.task"
    assert len(polled["data"]["data"][0]["imageUrls"]) == 1


def test_task_id_field_names_the_id_task_id() -> None:
    """The task_id variant puts the id under task_id and not under id."""
    config = SimulatorConfig(variants=Variants(id_field="task_id"))
    with serve(config) as sim, api_client(sim) as client:
        created = create(client).json()
        assert "id" not in created
        assert client.get(f"/v1/tasks/{created['task_id']}").json()["task_id"] == created["task_id"]


def test_mixed_envelope_and_id_field_vary_per_task() -> None:
    """Mixed envelope and id field give both forms across tasks, each task keeping its own."""
    config = SimulatorConfig(seed=3, variants=Variants(envelope="mixed", id_field="mixed"))
    with serve(config) as sim, api_client(sim) as client:
        created = [create(client, idempotency_key=f"j{i}").json() for i in range(40)]
        polled = [client.get(f"/v1/tasks/{task_id_of(task)}").json() for task in created]
    shapes = {
        ("data" in task and "object" not in task, "task_id" in task_of(task)) for task in created
    }
    assert shapes == {(False, False), (False, True), (True, False), (True, True)}
    for before, after in zip(created, polled, strict=True):
        assert set(before) == set(after) and set(task_of(before)) <= set(task_of(after))


def _places(task: dict[str, Any]) -> dict[str, list[str]]:
    """Every place of a task that holds image URLs, with the URLs found there."""
    places: dict[str, list[str]] = {}
    items = task["data"]
    if any(item.get("imageUrls") for item in items):
        places["imageUrls"] = [url for item in items for url in item.get("imageUrls", [])]
    if any(isinstance(item.get("url"), str) for item in items):
        places["url"] = [item["url"] for item in items]
    if any(isinstance(item.get("url"), list) for item in items):
        places["url_list"] = [url for item in items for url in item["url"]]
    if task.get("results"):
        places["results"] = task["results"]
    if task.get("imageUrls"):
        places["top_level"] = task["imageUrls"]
    return places


@pytest.mark.parametrize("placement", ["imageUrls", "url", "url_list", "results", "top_level"])
def test_image_urls_sit_where_the_placement_says(placement: UrlPlacement) -> None:
    """Each placement puts the n URLs in its one place, and nowhere else."""
    config = SimulatorConfig(variants=Variants(url_placement=placement))
    with serve(config) as sim, api_client(sim) as client:
        task = client.get(f"/v1/tasks/{create(client, {'prompt': 'p', 'n': 2}).json()['id']}")
        places = _places(task.json())
        assert list(places) == [placement]
        urls = places[placement]
        assert [web.get(url).status_code for url in urls] == [200, 200]
    assert len(set(urls)) == 2 and image_urls_of(task.json()) == urls


def test_duplicated_placement_lists_the_same_urls_twice() -> None:
    """The duplicated placement lists the URLs in data[0].imageUrls and at the top level."""
    config = SimulatorConfig(variants=Variants(url_placement="duplicated"))
    with serve(config) as sim, api_client(sim) as client:
        task = client.get(f"/v1/tasks/{create(client, {'prompt': 'p', 'n': 4}).json()['id']}")
    places = _places(task.json())
    assert list(places) == ["imageUrls", "top_level"]
    assert places["imageUrls"] == places["top_level"] and len(image_urls_of(task.json())) == 4


def test_mixed_placement_varies_per_task() -> None:
    """Mixed placement uses several placements across tasks; each task still has its n URLs."""
    config = SimulatorConfig(seed=2, variants=Variants(url_placement="mixed"))
    with serve(config) as sim, api_client(sim) as client:
        ids = [create(client, {"prompt": "p", "n": 2}, f"j{i}").json()["id"] for i in range(30)]
        tasks = [client.get(f"/v1/tasks/{task_id}").json() for task_id in ids]
    placements = {tuple(_places(task)) for task in tasks}
    assert len(placements) >= 5
    assert all(len(image_urls_of(task)) == 2 for task in tasks)


def test_short_delivery_delivers_fewer_images_than_asked_but_charges_n() -> None:
    """A short delivery succeeds with 1 to n - 1 images, charged for n; n = 1 is unaffected."""
    config = SimulatorConfig(variants=Variants(short_delivery_rate=1.0))
    with serve(config) as sim, api_client(sim) as client:
        short_id = create(client, {"prompt": "p", "n": 4}).json()["id"]
        single_id = create(client, {"prompt": "p", "n": 1}).json()["id"]
        short = client.get(f"/v1/tasks/{short_id}").json()
        single = client.get(f"/v1/tasks/{single_id}").json()
        delivered = len(image_urls_of(short))
        past_end = web.get(f"{sim.image_base_url}/images/{short_id}/{delivered + 1}.png")
    assert short["status"] == "succeeded" and 1 <= delivered <= 3
    assert len(image_urls_of(single)) == 1
    assert past_end.status_code == 404
    assert sim.counters.charges == {KEY: 4 * 2 + 2}


def test_same_image_origin_serves_images_from_the_api_origin() -> None:
    """With the same-origin variant, image URLs point at the API's own host and port."""
    config = SimulatorConfig(variants=Variants(image_origin="same"))
    with serve(config) as sim, api_client(sim) as client:
        task = client.get(f"/v1/tasks/{create(client).json()['id']}").json()
        url = image_urls_of(task)[0]
        assert client.get(url).status_code == 200
    assert sim.image_base_url == sim.base_url and url.startswith(f"{sim.base_url}/images/")
    (request,) = sim.counters.image_requests
    assert request.listener == "api" and request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status_words", "loud"), ("envelope", "box"), ("id_field", "key"),
        ("url_placement", "nowhere"), ("retry_after", "never"), ("image_origin", "far"),
        ("short_delivery_rate", 2.0),
    ],
)  # fmt: skip
def test_unknown_variant_values_are_refused(field: str, value: object) -> None:
    """A variant outside its choices is a ValueError naming the knob."""
    with pytest.raises(ValueError, match=field):
        Variants(**{field: value})  # type: ignore[arg-type]
