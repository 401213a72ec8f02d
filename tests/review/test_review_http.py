"""The review app over HTTP: its API, its refusals (Host, Origin, paths, links) and two tabs."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import httpx
import pytest
from _support.review import IMAGES, Campaign, host_of

from seedance_batch._decisions import read_review
from seedance_batch._thumbs import thumb_path
from seedance_batch.review import ReviewServer, load_campaign, serve


def _client(server: ReviewServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10)


def _images(server: ReviewServer, **query: str | list[str]) -> dict:  # type: ignore[type-arg]
    with _client(server) as client:
        answer = client.get("/api/images", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _post(client: httpx.Client, body: object, **headers: str) -> httpx.Response:
    return client.post(
        "/api/decisions",
        content=json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )


def test_the_app_binds_loopback_only(server: ReviewServer) -> None:
    """The URL is http://127.0.0.1:<port>/ with the port the OS gave (port 0 asked)."""
    assert server.url == f"http://127.0.0.1:{server.port}/"
    assert server.port > 0


def test_api_images_answers_every_image_in_plan_order_with_its_facets(
    server: ReviewServer, campaign: Campaign
) -> None:
    """GET /api/images: the campaign's 10 images in results.jsonl's order, undecided, with the
    values each filter can take."""
    answer = _images(server)
    results = [
        json.loads(line) for line in (campaign.out / "results.jsonl").read_text().splitlines()
    ]
    assert answer["total"] == IMAGES
    assert [i["sha256"] for i in answer["images"]] == [r["sha256"] for r in results]
    assert [i["path"] for i in answer["images"]] == [r["path"] for r in results]
    assert {i["decision"] for i in answer["images"]} == {None}
    facets = answer["facets"]
    assert facets["jobs"] == ["hero", "pair"]
    assert facets["axes"] == {
        "product": ["serum", "cream"],
        "size": ["1:1", "16:9"],
        "model": ["gpt-image-2-all", "gpt-image-1.5-all"],
    }
    assert answer["counts"]["undecided"] == IMAGES


def test_filters_and_pages_combine(server: ReviewServer) -> None:
    """Filters of different names all apply; values of one name are alternatives; pages cut."""
    assert _images(server, job="pair")["total"] == 2
    serum = _images(server, **{"v.product": "serum", "model": "gpt-image-1.5-all"})
    assert serum["total"] == 2
    assert {i["variant"]["product"] for i in serum["images"]} == {"serum"}
    both = _images(server, **{"v.size": ["1:1", "16:9"], "job": "hero"})
    assert both["total"] == 8
    page = _images(server, offset="3", limit="4")
    assert (page["total"], page["offset"], len(page["images"])) == (IMAGES, 3, 4)
    assert _images(server, q="two bottles")["total"] == 2
    with _client(server) as client:
        assert client.get("/api/images", params={"limit": "-1"}).status_code == 400


def test_a_decision_is_on_disk_at_once_and_filters_by_decision(
    server: ReviewServer, campaign: Campaign
) -> None:
    """POST /api/decisions writes the review file before it answers; favourite counts as
    approved; null undoes (the entry goes); decision filters follow."""
    first, second, third = _images(server)["images"][:3]
    with _client(server) as client:
        assert (
            _post(client, {"sha256": first["sha256"], "decision": "favourite"}).status_code == 200
        )
        entries = read_review(campaign.review_file)
        assert entries[first["sha256"]].decision == "favourite"
        assert entries[first["sha256"]].by == "Ada Tester"
        _post(client, {"sha256": second["sha256"], "decision": "approved", "note": "warm"})
        _post(client, {"sha256": third["sha256"], "decision": "rejected"})
        assert _images(server, decision="approved")["total"] == 2
        assert _images(server, decision="favourite")["total"] == 1
        assert _images(server, decision="undecided")["total"] == IMAGES - 3
        undone = _post(client, {"sha256": third["sha256"], "decision": None})
        assert undone.json()["decision"] is None
    assert list(read_review(campaign.review_file)) == [first["sha256"], second["sha256"]]
    assert read_review(campaign.review_file)[second["sha256"]].note == "warm"


def test_bad_decisions_are_refused(server: ReviewServer) -> None:
    """An unknown hash is 404, a decision outside the three is 400, a form post is 415."""
    sha256 = _images(server)["images"][0]["sha256"]
    with _client(server) as client:
        assert _post(client, {"sha256": "0" * 64, "decision": "approved"}).status_code == 404
        assert _post(client, {"sha256": sha256, "decision": "maybe"}).status_code == 400
        assert (
            _post(client, {"sha256": sha256, "decision": "approved", "note": 3}).status_code == 400
        )
        form = client.post("/api/decisions", data={"sha256": sha256, "decision": "approved"})
        assert form.status_code == 415


def test_two_tabs_posting_at_once_keep_both_decisions(
    server: ReviewServer, campaign: Campaign
) -> None:
    """Ten concurrent POSTs from ten connections (tabs): every decision is in the file."""
    images = _images(server)["images"]
    barrier = threading.Barrier(len(images))
    codes: list[int] = []

    def decide(sha256: str) -> None:
        with _client(server) as client:
            barrier.wait()
            codes.append(_post(client, {"sha256": sha256, "decision": "rejected"}).status_code)

    threads = [threading.Thread(target=decide, args=(i["sha256"],)) for i in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * len(images)
    entries = read_review(campaign.review_file)
    assert list(entries) == [i["sha256"] for i in images]  # plan order, not arrival order


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:80", "127.0.0.1", "127.0.0.1:1", "localhost.evil.example"],
)
def test_a_foreign_host_is_refused(server: ReviewServer, host: str) -> None:
    """A Host other than 127.0.0.1:<port> or localhost:<port> (DNS rebinding) is 403."""
    with _client(server) as client:
        for path in ("/", "/api/images"):
            assert client.get(path, headers={"Host": host}).status_code == 403
        sha256 = _images(server)["images"][0]["sha256"]
        refused = _post(client, {"sha256": sha256, "decision": "approved"}, Host=host)
        assert refused.status_code == 403


def test_its_own_hosts_are_answered(server: ReviewServer) -> None:
    """Both names of the app's own address work: 127.0.0.1:<port> and localhost:<port>."""
    with _client(server) as client:
        for host in (host_of(server.url), f"localhost:{server.port}"):
            assert client.get("/", headers={"Host": host}).status_code == 200


def test_a_foreign_origin_cannot_post_or_read(server: ReviewServer, campaign: Campaign) -> None:
    """A page elsewhere (another Origin, or a browser's cross-site mark) gets 403, and the
    review file is not written; the app's own Origin is accepted."""
    sha256 = _images(server)["images"][0]["sha256"]
    with _client(server) as client:
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": f"http://127.0.0.1:{server.port + 1}"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            assert (
                _post(client, {"sha256": sha256, "decision": "approved"}, **headers).status_code
                == 403
            )
            assert client.get("/api/images", headers=headers).status_code == 403
        assert not campaign.review_file.exists()
        own = _post(
            client, {"sha256": sha256, "decision": "approved"}, Origin=server.url.rstrip("/")
        )
        assert own.status_code == 200


def test_only_recorded_images_are_served(server: ReviewServer, campaign: Campaign) -> None:
    """/images/ serves a recorded image's bytes; any other path, a traversal or an encoded
    traversal, is 404; so is /thumbs/ of a hash the campaign does not have."""
    image = _images(server)["images"][0]
    (campaign.out / "secret.txt").write_text("not an image")
    with _client(server) as client:
        served = client.get(f"/images/{image['path']}")
        assert served.status_code == 200
        assert served.content == (campaign.out / image["path"]).read_bytes()
        assert served.headers["content-type"] == "image/png"
        for path in (
            "/images/secret.txt",
            "/images/results.jsonl",
            "/images/../review-test.yaml",
            "/images/%2e%2e/review-test.yaml",
            "/images/..%2freview-test.yaml",
            f"/images/{image['path']}/../../../../review-test.yaml",
            f"/images//{image['path']}",
            "/thumbs/" + "0" * 64,
            "/thumbs/../review-test.yaml",
        ):
            assert client.get(path).status_code == 404, path


def test_a_recorded_image_replaced_by_a_link_is_not_served(
    campaign: Campaign, tmp_path: Path
) -> None:
    """A recorded image that is now a symlink (to a file outside <out>), or that sits in a
    folder that is now a link, is 404, image and thumbnail alike (none is made through it)."""
    first, second = load_campaign(campaign.manifest).images[:2]
    shutil.rmtree(campaign.out / ".thumbs")  # the gallery made them before the links came
    outside = tmp_path / "outside.png"
    outside.write_bytes((campaign.out / first.path).read_bytes())
    os.replace(campaign.out / first.path, tmp_path / "moved.png")
    os.symlink(outside, campaign.out / first.path)
    folder = (campaign.out / second.path).parent
    os.replace(folder, tmp_path / "real-folder")
    os.symlink(tmp_path / "real-folder", folder)
    with serve(ReviewServer(campaign.manifest, prefill=False)) as server, _client(server) as client:
        for image in (first, second):
            assert client.get(f"/images/{image.path}").status_code == 404
            assert client.get(f"/thumbs/{image.sha256}").status_code == 404
            assert not thumb_path(campaign.out, image.sha256).exists()


def test_thumbnails_are_served_small_and_cached(server: ReviewServer, campaign: Campaign) -> None:
    """/thumbs/<sha256> answers a WebP, made into <out>/.thumbs/ (thumb_path), cacheable."""
    image = _images(server)["images"][0]
    with _client(server) as client:
        answer = client.get(f"/thumbs/{image['sha256']}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/webp"
    assert "immutable" in answer.headers["cache-control"]
    on_disk = thumb_path(campaign.out, image["sha256"])
    assert on_disk.read_bytes() == answer.content


def test_the_page_is_self_contained_and_locked_down(server: ReviewServer) -> None:
    """GET / is one HTML page with no network asset; its CSP allows its own inline script by
    hash only, and nothing from elsewhere; frames and sniffing are refused."""
    with _client(server) as client:
        page = client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert "script-src 'sha256-" in csp and "connect-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert "http://" not in page.text and "https://" not in page.text
