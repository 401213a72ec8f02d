"""The two endpoints, the images, keys, credits and idempotency, as the provider's page says."""

from __future__ import annotations

import time

import httpx
from _support.simulator import KEY, api_client, create, image_urls_of, parse_png, web

from seedance_batch.simulator import Simulator, SimulatorConfig, serve


def test_create_answers_a_pending_task_shaped_as_the_page_shows(sim: Simulator) -> None:
    """A create answers 200 with id, object, status pending and data[0] with empty imageUrls."""
    with api_client(sim) as client:
        answer = create(client, {"prompt": "a red apple", "size": "1:1", "n": 1})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    task = answer.json()
    assert task["id"].startswith("task_")
    assert task["object"] == "image.generation.task"
    assert task["status"] == "pending"
    assert task["data"] == [
        {"id": task["id"], "mediaType": "image", "status": "pending", "imageUrls": []}
    ]


def test_poll_of_a_finished_task_lists_its_image_urls(sim: Simulator) -> None:
    """With no latency the first poll sees the task succeeded, with n image URLs."""
    with api_client(sim) as client:
        task_id = create(client, {"prompt": "p", "n": 4}).json()["id"]
        polled = client.get(f"/v1/tasks/{task_id}")
    assert polled.status_code == 200
    task = polled.json()
    assert task["status"] == "succeeded"
    assert task["data"][0]["status"] == "succeeded"
    urls = task["data"][0]["imageUrls"]
    assert urls == [f"{sim.image_base_url}/images/{task_id}/{k}.png" for k in (1, 2, 3, 4)]
    assert sim.counters.polls == {task_id: 1}


def test_task_moves_through_pending_processing_and_succeeded() -> None:
    """A task is pending, then processing after 30% of its latency, then succeeded at it."""
    with serve(SimulatorConfig(latency=0.6)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        seen = [client.get(f"/v1/tasks/{task_id}").json()["status"]]
        time.sleep(0.3)
        seen.append(client.get(f"/v1/tasks/{task_id}").json()["status"])
        time.sleep(0.4)
        final = client.get(f"/v1/tasks/{task_id}").json()
    assert [*seen, final["status"]] == ["pending", "processing", "succeeded"]
    assert len(final["data"][0]["imageUrls"]) == 1


def test_images_are_valid_pngs_served_without_a_key(sim: Simulator) -> None:
    """An image URL answers a valid PNG with its Content-Type and Content-Length, no key needed."""
    with api_client(sim) as client:
        task_id = create(client, {"prompt": "p", "n": 2}).json()["id"]
        urls = image_urls_of(client.get(f"/v1/tasks/{task_id}").json())
    images = [web.get(url) for url in urls]
    assert [image.status_code for image in images] == [200, 200]
    for image in images:
        assert image.headers["content-type"] == "image/png"
        assert int(image.headers["content-length"]) == len(image.content)
        png = parse_png(image.content)
        assert (png.width, png.height) == (32, 32)
    assert images[0].content != images[1].content


def test_images_are_deterministic_per_task_and_index() -> None:
    """The same seed and request give the same task id and the same image bytes."""
    contents = []
    for _ in range(2):
        with serve(SimulatorConfig(seed=3)) as sim, api_client(sim) as client:
            task_id = create(client, idempotency_key="job-1").json()["id"]
            contents.append((task_id, web.get(f"{sim.image_base_url}/images/{task_id}/1.png")))
    assert contents[0][0] == contents[1][0]
    assert contents[0][1].content == contents[1][1].content


def test_head_of_an_image_gives_its_length_without_a_body(sim: Simulator) -> None:
    """HEAD on an image answers the headers of the GET and no body."""
    with api_client(sim) as client:
        task_id = create(client).json()["id"]
    url = f"{sim.image_base_url}/images/{task_id}/1.png"
    head, get = web.head(url), web.get(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


def test_image_requests_and_their_headers_are_counted(sim: Simulator) -> None:
    """Each image request is recorded with its path, its listener and its headers."""
    with api_client(sim) as client:
        task_id = create(client).json()["id"]
    web.get(f"{sim.image_base_url}/images/{task_id}/1.png", headers={"Authorization": "x"})
    web.get(f"{sim.image_base_url}/images/{task_id}/1.png")
    requests = sim.counters.image_requests
    assert [r.path for r in requests] == [f"/images/{task_id}/1.png"] * 2
    assert [r.listener for r in requests] == ["images", "images"]
    assert requests[0].headers["authorization"] == "x"
    assert "authorization" not in requests[1].headers


def test_image_origin_differs_from_the_api_origin(sim: Simulator) -> None:
    """By default images are served from another port: a different origin from the API's."""
    assert sim.image_base_url != sim.base_url
    assert sim.image_base_url.startswith("http://127.0.0.1:")


def test_missing_images_answer_404(sim: Simulator) -> None:
    """Unknown tasks, indexes past n and malformed image names answer 404."""
    with api_client(sim) as client:
        task_id = create(client, {"prompt": "p", "n": 2}).json()["id"]
    base = f"{sim.image_base_url}/images"
    for path in (f"{task_id}/3.png", f"{task_id}/0.png", f"{task_id}/1.jpg", "task_nope/1.png"):
        assert web.get(f"{base}/{path}").status_code == 404, path


def test_images_of_an_unfinished_task_answer_404() -> None:
    """A task still running has no images yet."""
    with serve(SimulatorConfig(latency=5)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        assert web.get(f"{sim.image_base_url}/images/{task_id}/1.png").status_code == 404


def test_expired_image_urls_answer_410() -> None:
    """With image_ttl, a finished task's images answer 410 once the ttl has passed."""
    with serve(SimulatorConfig(image_ttl=0.2)) as sim, api_client(sim) as client:
        task_id = create(client).json()["id"]
        url = f"{sim.image_base_url}/images/{task_id}/1.png"
        assert web.get(url).status_code == 200
        time.sleep(0.3)
        gone = web.get(url)
    assert gone.status_code == 410
    assert "expired" in gone.json()["error"]["message"]


def test_unknown_task_and_other_keys_task_answer_404(sim: Simulator) -> None:
    """Polling an unknown id, or another key's task, answers 404."""
    with api_client(sim) as client, api_client(sim, "other") as other:
        task_id = create(client).json()["id"]
        assert client.get("/v1/tasks/task_unknown").status_code == 404
        assert other.get(f"/v1/tasks/{task_id}").status_code == 404
        assert client.get(f"/v1/tasks/{task_id}").status_code == 200


def test_unknown_paths_answer_404_and_wrong_methods_405(sim: Simulator) -> None:
    """Other paths answer 404; a GET on the create endpoint or a POST on a task answer 405."""
    with api_client(sim) as client:
        assert client.get("/v1/images").status_code == 404
        assert client.get("/v1/tasks/a/b").status_code == 404
        wrong = client.get("/v1/images/generations")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert client.post("/v1/tasks/task_x").status_code == 405
    assert web.get(f"{sim.image_base_url}/v1/tasks/task_x").status_code == 404


def test_requests_without_a_valid_bearer_key_answer_401(sim: Simulator) -> None:
    """No Authorization, another scheme or an empty key answer 401 and nothing is created."""
    with httpx.Client(base_url=sim.base_url) as client:
        for headers in ({}, {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer"}):
            answer = client.post("/v1/images/generations", json={"prompt": "p"}, headers=headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "API key" in answer.json()["error"]["message"]
        assert client.get("/v1/tasks/task_x").status_code == 401
    assert sim.counters.creates == 0 and sim.counters.charges == {}


def test_keys_outside_the_allow_list_answer_401_invalid_api_key() -> None:
    """With an allow-list, other keys answer 401 "invalid API key"; listed keys work."""
    config = SimulatorConfig(keys=frozenset({"good"}))
    with serve(config) as sim, api_client(sim, "bad") as bad, api_client(sim, "good") as good:
        refused = create(bad)
        assert create(good).status_code == 200
    assert refused.status_code == 401
    assert refused.json() == {
        "error": {"message": "invalid API key", "type": "authentication_error"}
    }
    assert sim.counters.creates == 1


def test_credits_are_charged_per_image_and_resolution(sim: Simulator) -> None:
    """1K costs 2 per image and 4K costs 4, times n, charged to the key at creation."""
    with api_client(sim) as client, api_client(sim, "second") as second:
        create(client, {"prompt": "p", "n": 2})
        create(client, {"prompt": "p", "n": 4, "resolution": "4k"})
        create(second, {"prompt": "p"})
    assert sim.counters.charges == {KEY: 2 * 2 + 4 * 4, "second": 2}
    assert sim.counters.credits_charged == 22
    assert sim.balance(KEY) is None


def test_an_exhausted_balance_answers_402_without_a_charge() -> None:
    """A task the balance cannot cover answers 402; the balance is per key."""
    config = SimulatorConfig(credits=6)
    with serve(config) as sim, api_client(sim) as client, api_client(sim, "second") as second:
        assert create(client, {"prompt": "p", "n": 2}).status_code == 200
        refused = create(client, {"prompt": "p", "n": 1, "resolution": "4k"})
        assert create(client, {"prompt": "p", "n": 1}).status_code == 200
        spent = create(client, {"prompt": "p", "n": 1})
        assert create(second, {"prompt": "p", "n": 2}).status_code == 200
    assert refused.status_code == 402
    assert refused.json()["error"]["message"] == (
        "insufficient credits: this task costs 4, the balance is 2"
    )
    assert spent.status_code == 402
    assert sim.balance(KEY) == 0 and sim.balance("second") == 2
    assert sim.counters.charges == {KEY: 6, "second": 4}
    assert sim.counters.creates == 3


def test_failed_tasks_are_charged() -> None:
    """A task that fails was charged at creation (the conservative reading of the page)."""
    with serve(SimulatorConfig(fail_rate=1.0)) as sim, api_client(sim) as client:
        task_id = create(client, {"prompt": "p", "n": 2}).json()["id"]
        assert client.get(f"/v1/tasks/{task_id}").json()["status"] == "failed"
    assert sim.counters.charges == {KEY: 4}


def test_a_repeated_idempotency_key_returns_the_same_task_without_a_charge(
    sim: Simulator,
) -> None:
    """The same Idempotency-Key and body answer the same task, marked replayed, charged once."""
    with api_client(sim) as client:
        first = create(client, {"prompt": "p", "n": 2}, idempotency_key="job-a#1")
        again = create(client, {"prompt": "p", "n": 2}, idempotency_key="job-a#1")
        other = create(client, {"prompt": "p", "n": 2}, idempotency_key="job-a#2")
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["status"] == "succeeded"  # the task as it stands now
    assert sim.counters.charges == {KEY: 8}
    assert sim.counters.creates == 2 and sim.counters.idempotent_replays == 1


def test_a_replay_is_answered_even_when_the_balance_is_spent() -> None:
    """A replay charges nothing, so an empty balance does not refuse it."""
    with serve(SimulatorConfig(credits=2)) as sim, api_client(sim) as client:
        first = create(client, idempotency_key="k")
        again = create(client, idempotency_key="k")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


def test_an_idempotency_key_reused_with_another_body_answers_422(sim: Simulator) -> None:
    """Reusing a key with a different body is refused with 422 naming the header."""
    with api_client(sim) as client:
        create(client, {"prompt": "one"}, idempotency_key="k")
        clash = create(client, {"prompt": "two"}, idempotency_key="k")
    assert clash.status_code == 422
    assert "Idempotency-Key" in clash.json()["error"]["message"]
    assert sim.counters.creates == 1


def test_idempotency_keys_are_scoped_per_api_key(sim: Simulator) -> None:
    """Two API keys sending the same Idempotency-Key get two tasks."""
    with api_client(sim) as client, api_client(sim, "second") as second:
        mine = create(client, idempotency_key="k").json()["id"]
        theirs = create(second, idempotency_key="k").json()["id"]
    assert mine != theirs and sim.counters.creates == 2


def test_reset_counters_keeps_tasks_and_balances() -> None:
    """reset_counters zeroes what was seen but keeps tasks, balances and idempotency keys."""
    with serve(SimulatorConfig(credits=10)) as sim, api_client(sim) as client:
        task_id = create(client, idempotency_key="k").json()["id"]
        sim.reset_counters()
        assert sim.counters.requests == 0 and sim.counters.charges == {}
        assert client.get(f"/v1/tasks/{task_id}").status_code == 200
        assert create(client, idempotency_key="k").json()["id"] == task_id
    assert sim.balance(KEY) == 8
    assert sim.counters.idempotent_replays == 1 and sim.counters.creates == 0


def test_status_counters_count_every_answer(sim: Simulator) -> None:
    """Counters tally requests and the statuses answered."""
    with api_client(sim) as client:
        create(client)
        create(client, {"prompt": ""})
        client.get("/nowhere")
    counters = sim.counters
    assert counters.requests == 3
    assert counters.statuses == {200: 1, 400: 1, 404: 1}
    assert counters.create_requests == 2
