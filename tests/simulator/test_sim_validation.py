"""Create bodies checked as the provider's page says: 400 with a message naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from _support.simulator import api_client, create, image_urls_of, parse_png, web

from seedance_batch.simulator import Simulator

PRESETS_4K = [
    "1:1", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16",
    "2:1", "1:2", "3:1", "1:3", "21:9", "9:21",
]  # fmt: skip

INVALID_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"size": "1:1"}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": 42}, "prompt"),
    ({"prompt": "p", "model": "dall-e-9"}, "model"),
    ({"prompt": "p", "model": 2}, "model"),
    ({"prompt": "p", "provider": ["x"]}, "provider"),
    ({"prompt": "p", "n": 3}, "n"),
    ({"prompt": "p", "n": 0}, "n"),
    ({"prompt": "p", "n": "2"}, "n"),
    ({"prompt": "p", "n": True}, "n"),
    ({"prompt": "p", "n": 1.5}, "n"),
    ({"prompt": "p", "resolution": "8k"}, "resolution"),
    ({"prompt": "p", "resolution": 4}, "resolution"),
    ({"prompt": "p", "imageResolution": "2k"}, "imageResolution"),
    ({"prompt": "p", "resolution": "1k", "imageResolution": "4k"}, "imageResolution"),
    ({"prompt": "p", "size": "big"}, "size"),
    ({"prompt": "p", "size": "1024x"}, "size"),
    ({"prompt": "p", "size": "0:1"}, "size"),
    ({"prompt": "p", "size": "16/9"}, "size"),
    ({"prompt": "p", "size": 1}, "size"),
    ({"prompt": "p", "imageSizePreset": "7:5"}, "imageSizePreset"),
    ({"prompt": "p", "resolution": "4k", "imageSizePreset": "5:7"}, "imageSizePreset"),
    ({"prompt": "p", "resolution": "4k", "size": "4096x4096"}, "size"),
    ({"prompt": "p", "resolution": "4k", "size": "7:5"}, "size"),
]


@pytest.mark.parametrize(("body", "field"), INVALID_BODIES)
def test_invalid_bodies_answer_400_naming_the_field(
    sim: Simulator, body: dict[str, Any], field: str
) -> None:
    """Each invalid field answers 400 whose error.message and error.param name that field."""
    with api_client(sim) as client:
        answer = create(client, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["message"].startswith(f"{field}: ")
    assert error["param"] == field
    assert error["type"] == "invalid_request_error"
    assert sim.counters.creates == 0 and sim.counters.charges == {}


@pytest.mark.parametrize("payload", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"prompt"'])
def test_bodies_that_are_not_a_json_object_answer_400(sim: Simulator, payload: bytes) -> None:
    """Malformed JSON, an empty body or a JSON value that is not an object answer 400."""
    with api_client(sim) as client:
        answer = client.post(
            "/v1/images/generations", content=payload, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400
    assert "JSON" in answer.json()["error"]["message"]


def test_a_body_that_is_not_json_typed_answers_415(sim: Simulator) -> None:
    """A Content-Type other than JSON answers 415 (the page requires application/json)."""
    with api_client(sim) as client:
        answer = client.post(
            "/v1/images/generations", content=b"prompt=p", headers={"Content-Type": "text/plain"}
        )
    assert answer.status_code == 415


VALID_BODIES: list[tuple[dict[str, Any], tuple[int, int]]] = [
    ({"prompt": "p"}, (32, 32)),
    ({"prompt": "p", "size": "1:1"}, (32, 32)),
    ({"prompt": "p", "size": "4:5"}, (32, 40)),
    ({"prompt": "p", "size": "16:9"}, (48, 27)),
    ({"prompt": "p", "size": "9:16"}, (27, 48)),
    ({"prompt": "p", "size": "1024x1024"}, (32, 32)),
    ({"prompt": "p", "size": "1536x1024"}, (48, 32)),
    ({"prompt": "p", "size": "3:1"}, (55, 18)),
    ({"prompt": "p", "imageSizePreset": "16:9"}, (48, 27)),
    ({"prompt": "p", "resolution": "1K", "model": "gpt-image-1.5-all"}, (32, 32)),
    ({"prompt": "p", "resolution": "4K"}, (128, 128)),
    ({"prompt": "p", "imageResolution": "4k", "imageSizePreset": "21:9"}, (128, 55)),
    ({"prompt": "p", "resolution": "4k", "imageResolution": "4K", "size": "9:16"}, (72, 128)),
    ({"prompt": "p", "n": 2.0, "provider": "seedance", "extra": "ignored"}, (32, 32)),
]


@pytest.mark.parametrize(("body", "served"), VALID_BODIES)
def test_valid_bodies_create_tasks_with_images_sized_as_asked(
    sim: Simulator, body: dict[str, Any], served: tuple[int, int]
) -> None:
    """Valid bodies are accepted; the images follow the size asked, at 1/32 of its pixels."""
    with api_client(sim) as client:
        answer = create(client, body)
        assert answer.status_code == 200, answer.text
        urls = image_urls_of(client.get(f"/v1/tasks/{answer.json()['id']}").json())
    png = parse_png(web.get(urls[0]).content)
    assert (png.width, png.height) == served


@pytest.mark.parametrize("preset", PRESETS_4K)
def test_every_4k_preset_is_accepted(sim: Simulator, preset: str) -> None:
    """Each of the fifteen 4K presets is accepted and charged 4 credits per image."""
    with api_client(sim) as client:
        answer = create(client, {"prompt": "p", "resolution": "4k", "imageSizePreset": preset})
    assert answer.status_code == 200
    assert sim.counters.credits_charged == 4


@pytest.mark.parametrize("n", [1, 2, 4])
def test_every_allowed_n_is_accepted_and_delivered(sim: Simulator, n: int) -> None:
    """n = 1, 2 and 4 are accepted, charged n x 2 at 1K, and deliver n images."""
    with api_client(sim) as client:
        task_id = create(client, {"prompt": "p", "n": n}).json()["id"]
        urls = image_urls_of(client.get(f"/v1/tasks/{task_id}").json())
    assert len(urls) == n and sim.counters.credits_charged == 2 * n
