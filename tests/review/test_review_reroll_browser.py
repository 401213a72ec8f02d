"""A reroll seen in a real headless Chromium: both images of a variant rejected in the app (one
by click, one by key), ``run --reroll-rejected`` against the simulator, the second take shown."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from _support.campaign import run_cli
from _support.review import IMAGES, Campaign

from seedance_batch._decisions import read_review
from seedance_batch.review import ReviewServer
from seedance_batch.simulator import SimulatorConfig, serve

pytestmark = pytest.mark.timeout(300)

CARDS = "main .card[data-sha256]"
PAIR = 'main .card[data-sha256]:has(img[alt^="pair/"])'


def _open(browser: Any, url: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    return page


def _rejected_on_disk(campaign: Campaign, shas: list[str], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = {sha: e.decision for sha, e in read_review(campaign.review_file).items()}
        if found == dict.fromkeys(shas, "rejected") or time.monotonic() > deadline:
            assert found == dict.fromkeys(shas, "rejected")
            return
        time.sleep(0.05)


def test_a_variant_rejected_in_the_app_is_rerolled_and_its_second_take_shown(
    browser: Any, server: ReviewServer, campaign: Campaign, artifacts: Path
) -> None:
    """Reject pair's two images (a click, then `r` on the next card), run --reroll-rejected:
    after a reload the app shows two more images, the new take's, undecided, beside the
    rejected first take, and the lightbox names take 2."""
    page = _open(browser, server.url)
    assert page.locator(CARDS).count() == IMAGES
    first_take = [c.get_attribute("data-sha256") for c in page.locator(PAIR).all()]
    assert len(first_take) == 2
    page.locator(PAIR).first.locator('[data-decision="rejected"]').click()
    page.keyboard.press("ArrowRight")  # the click selected the first: on to the second
    page.keyboard.press("r")
    _rejected_on_disk(campaign, first_take)
    with serve(SimulatorConfig(seed=5)) as simulator:
        done = run_cli(
            "run", str(campaign.manifest), "--base-url", simulator.base_url, "--reroll-rejected"
        )
        creates = simulator.counters.creates
    assert done.returncode == 0, done.stderr
    assert "reroll: a new take for 1 job whose images are all rejected (4 credits)" in done.stderr
    assert creates == 1
    page.reload()
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    page.wait_for_function(f"() => document.querySelectorAll('{CARDS}').length === {IMAGES + 2}")
    pair = [c.get_attribute("data-sha256") for c in page.locator(PAIR).all()]
    assert pair[:2] == first_take and len(set(pair)) == 4  # the first take first, then take 2
    second_take = pair[2:]
    for sha in first_take:
        assert page.locator(f'main [data-sha256="{sha}"].rejected').count() == 1
    for sha in second_take:
        card = page.locator(f'main [data-sha256="{sha}"]')
        assert "-t2-" in (card.locator("img").get_attribute("alt") or "")
        assert (card.locator(".badge").text_content() or "").startswith("r0 t2")
        assert "rejected" not in (card.get_attribute("class") or "")
    page.locator(f'main [data-sha256="{second_take[-1]}"]').scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "review-reroll-takes.png"))  # take 1 dimmed, take 2
    page.locator(f'main [data-sha256="{second_take[0]}"] img').click()
    page.locator("#lightbox.open").wait_for()
    assert page.get_attribute("#lb-panel", "data-sha256") == second_take[0]
    page.wait_for_function("() => document.getElementById('lb-image').naturalWidth > 0")
    settings = page.inner_text("#lb-settings")
    assert "take\n2" in settings or "take 2" in settings.replace("\t", " ")
    page.screenshot(path=str(artifacts / "review-reroll-lightbox.png"))
    assert page.errors == []
