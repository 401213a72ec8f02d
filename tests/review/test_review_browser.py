"""The review app in a real headless Chromium: decisions by click and by key, filters in the URL,
the grid view and the lightbox, every decision checked in the review file on disk."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from _support.review import IMAGES, Campaign

from seedance_batch._decisions import read_review
from seedance_batch.review import ReviewServer

pytestmark = pytest.mark.timeout(300)

CARDS = "main .card[data-sha256]"
#: Scrolls every thumbnail into view (lazy images load then), back to the top, and answers
#: whether each one has loaded.
THUMBS_LOADED = """
async () => {
  const images = [...document.querySelectorAll('main .card img')];
  for (const img of images) {
    img.scrollIntoView({block: 'center'});
    await new Promise(resolve => requestAnimationFrame(() => resolve()));
  }
  window.scrollTo(0, 0);
  return images.every(img => img.complete && img.naturalWidth > 0);
}
"""
#: Groups off screen skip rendering (content-visibility: auto); a full-page screenshot shows all.
RENDER_ALL = ".variant,section.job{content-visibility:visible!important}"


@pytest.fixture
def page_of(browser: Any) -> Iterator[Callable[..., Any]]:
    """Opens pages in a fresh context; records each request's URL and each page error."""
    contexts = []

    def open_page(url: str, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        contexts.append(context)
        page = context.new_page()
        page.requests, page.errors = [], []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(url)
        page.wait_for_function("() => document.body.dataset.ready === '1'")
        return page

    yield open_page
    for context in contexts:
        context.close()


def decisions_on_disk(campaign: Campaign, expected: dict[str, str], timeout: float = 5) -> None:
    """Wait until the review file holds exactly ``expected`` (hash -> decision)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {sha: e.decision for sha, e in read_review(campaign.review_file).items()}
        if found == expected or time.monotonic() > deadline:
            assert found == expected
            return
        time.sleep(0.05)


def assert_only_its_own_origin(page: Any, server: ReviewServer) -> None:
    own = urlparse(server.url).netloc
    assert {urlparse(url).netloc for url in page.requests} == {own}
    assert page.errors == []


def test_the_app_shows_every_image_with_its_decision_controls(
    page_of: Callable[..., Any], server: ReviewServer, artifacts: Path
) -> None:
    """Every image is a card with data-sha256, three data-decision controls inside it, and a
    loaded thumbnail, grouped by job (2) and variant (9); nothing is fetched elsewhere."""
    page = page_of(server.url, bypass_csp=True)  # the screenshot's style below is inline
    cards = page.locator(CARDS)
    assert cards.count() == IMAGES
    for index in range(IMAGES):
        controls = cards.nth(index).locator("[data-decision]")
        assert [controls.nth(k).get_attribute("data-decision") for k in range(3)] == [
            "approved", "favourite", "rejected",
        ]  # fmt: skip
    page.wait_for_function(THUMBS_LOADED)
    assert page.locator("main section.job h2").all_inner_texts() == ["hero", "pair"]
    assert page.locator("main .variant").count() == 9
    assert "review-test" in page.inner_text("header")
    assert_only_its_own_origin(page, server)
    page.add_style_tag(content=RENDER_ALL)
    page.screenshot(path=str(artifacts / "review-app.png"), full_page=True)


def test_an_image_approved_by_click_is_in_the_review_file(
    page_of: Callable[..., Any], server: ReviewServer, campaign: Campaign
) -> None:
    """A click on a card's approve control: the card shows it and the file on disk has it,
    with who decided."""
    page = page_of(server.url)
    card = page.locator(CARDS).nth(2)
    sha256 = card.get_attribute("data-sha256")
    card.locator('[data-decision="approved"]').click()
    page.wait_for_function(
        f"() => document.querySelector('main [data-sha256=\"{sha256}\"]')"
        ".classList.contains('approved')"
    )
    decisions_on_disk(campaign, {sha256: "approved"})
    assert read_review(campaign.review_file)[sha256].by == "Ada Tester"
    assert "1 approved" in page.inner_text("#counts")


def test_keys_decide_walk_and_undo_in_the_lightbox(
    page_of: Callable[..., Any], server: ReviewServer, campaign: Campaign, artifacts: Path
) -> None:
    """Right selects, `a` approves the selected card; Enter opens the lightbox with the full
    image, its prompt and settings; right walks on, `r` rejects, `u` undoes it, `f` makes it a
    favourite, left walks back; every step is on disk."""
    page = page_of(server.url)
    shas = [page.locator(CARDS).nth(k).get_attribute("data-sha256") for k in range(IMAGES)]
    page.keyboard.press("ArrowRight")  # selects the first
    page.keyboard.press("ArrowRight")
    page.keyboard.press("a")
    decisions_on_disk(campaign, {shas[1]: "approved"})
    page.keyboard.press("Enter")
    lightbox = page.locator("#lightbox.open")
    lightbox.wait_for()
    assert page.get_attribute("#lb-panel", "data-sha256") == shas[1]
    page.wait_for_function("() => document.getElementById('lb-image').naturalWidth > 0")
    assert "A serum bottle by Lumen on a pedestal" in page.inner_text("#lb-prompt")
    settings = page.inner_text("#lb-settings")
    assert "gpt-image-1.5-all" in settings and "1:1" in settings and shas[1] in settings
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#lb-panel", "data-sha256") == shas[2]
    page.keyboard.press("r")
    decisions_on_disk(campaign, {shas[1]: "approved", shas[2]: "rejected"})
    page.keyboard.press("u")
    decisions_on_disk(campaign, {shas[1]: "approved"})
    page.keyboard.press("f")
    decisions_on_disk(campaign, {shas[1]: "approved", shas[2]: "favourite"})
    page.screenshot(path=str(artifacts / "review-lightbox.png"))
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#lb-panel", "data-sha256") == shas[1]
    page.keyboard.press("Escape")
    assert page.locator("#lightbox.open").count() == 0
    assert page.locator(f'main [data-sha256="{shas[2]}"].favourite').count() == 1
    assert_only_its_own_origin(page, server)


def test_a_filter_is_kept_in_the_url_and_a_shared_link_opens_it(
    page_of: Callable[..., Any], server: ReviewServer
) -> None:
    """Choosing product=serum and a model narrows the cards and lands in the URL; the same URL
    in a new tab opens with the same filters and cards; a decision filter works alike."""
    page = page_of(server.url)
    page.select_option('[data-filter="v.product"]', "serum")
    page.wait_for_function(f"() => document.querySelectorAll('{CARDS}').length === 4")
    page.select_option('[data-filter="v.model"]', "gpt-image-2-all")
    page.wait_for_function(f"() => document.querySelectorAll('{CARDS}').length === 2")
    url = page.url
    assert "v.product=serum" in url and "v.model=gpt-image-2-all" in url
    shown = page.locator(CARDS).evaluate_all("cards => cards.map(c => c.dataset.sha256)")
    shared = page_of(url)
    assert shared.locator(CARDS).evaluate_all("c => c.map(x => x.dataset.sha256)") == shown
    assert shared.input_value('[data-filter="v.product"]') == "serum"
    assert shared.input_value('[data-filter="v.model"]') == "gpt-image-2-all"
    shared.locator(CARDS).first.locator('[data-decision="rejected"]').click()
    shared.wait_for_function("() => document.querySelector('main .card.rejected') !== null")
    shared.select_option('[data-filter="decision"]', "rejected")
    shared.wait_for_function(f"() => document.querySelectorAll('{CARDS}').length === 1")
    assert "decision=rejected" in shared.url


def test_the_grid_lays_two_axes_out_as_rows_and_columns(
    page_of: Callable[..., Any], server: ReviewServer, artifacts: Path
) -> None:
    """The grid view with rows=product and columns=model: a 2 x 2 table whose every cell holds
    the images of its row's and column's values; the choice is in the URL."""
    page = page_of(server.url + "#job=hero")
    page.select_option("#view", "grid")
    page.wait_for_selector("table.grid")
    page.select_option("#rows", "v.product")
    page.wait_for_function(
        "() => document.querySelector('table.grid')?.dataset.rows === 'v.product'"
    )
    page.select_option("#cols", "v.model")
    page.wait_for_function("() => document.querySelector('table.grid')?.dataset.cols === 'v.model'")
    assert "view=grid" in page.url and "rows=v.product" in page.url and "cols=v.model" in page.url
    header = page.locator("table.grid thead th").all_inner_texts()[1:]
    assert header == ["gpt-image-2-all", "gpt-image-1.5-all"]
    assert page.locator("table.grid tbody th").all_inner_texts() == ["serum", "cream"]
    cells = page.locator("table.grid td")
    assert cells.count() == 4
    images = page.evaluate(
        """() => [...document.querySelectorAll('table.grid td')].map(td => ({
            row: td.dataset.row, col: td.dataset.col,
            cards: [...td.querySelectorAll('[data-sha256]')].map(c => c.dataset.sha256)}))"""
    )
    answer = page.evaluate(
        "async () => (await (await fetch('/api/images?job=hero')).json()).images"
    )
    for cell in images:
        expected = [
            i["sha256"]
            for i in answer
            if i["variant"]["product"] == cell["row"] and i["variant"]["model"] == cell["col"]
        ]
        assert cell["cards"] == expected and len(expected) == 2
    page.wait_for_function(THUMBS_LOADED)
    page.screenshot(path=str(artifacts / "review-grid.png"), full_page=True)
    assert_only_its_own_origin(page, server)
