"""The gallery in a real headless Chromium: every image shown as its thumbnail and loaded,
offline, phone width."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from _support.gallery import AWKWARD_DIR, DEMO, Campaign, build_campaign, write_manifest

from seedance_batch._gallery import image_size

#: Generous: the first test may install Chromium (apt-get) before it starts.
pytestmark = pytest.mark.timeout(900)

#: Scrolls every thumbnail into view (lazy images load then), then reports each one.
SCROLL_ALL = """
async () => {
  const images = [...document.querySelectorAll('main img')];
  for (const img of images) {
    img.scrollIntoView({block: 'center'});
    await new Promise(resolve => requestAnimationFrame(() => resolve()));
  }
  window.scrollTo(0, 0);
  return images.length;
}
"""
ALL_LOADED = "() => [...document.querySelectorAll('main img')].every(i => i.complete)"
REPORT = """
() => [...document.querySelectorAll('main img')].map(img => ({
  src: new URL(img.getAttribute('src'), document.baseURI).href,
  href: img.closest('a') ? img.closest('a').href : null,
  complete: img.complete,
  width: img.naturalWidth,
  height: img.naturalHeight,
  loading: img.loading,
}))
"""
NO_OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"
#: Cards off screen skip rendering (content-visibility: auto); a full-page screenshot shows all.
RENDER_ALL = "figure{content-visibility:visible!important}"


def file_path(url: str) -> Path:
    """The file a ``file://`` URL points to."""
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


def results_paths(campaign: Campaign) -> list[Path]:
    lines = campaign.results.read_text(encoding="utf-8").splitlines()
    return [campaign.out / json.loads(line)["path"] for line in lines]


@pytest.fixture
def page_of(browser: Any) -> Iterator[Any]:
    """Opens a page with a viewport; records every request, dialog and page error."""
    contexts = []

    def open_page(**options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.requests = []
        page.dialogs = []
        page.errors = []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("pageerror", lambda error: page.errors.append(str(error)))

        def on_dialog(dialog: Any) -> None:
            page.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    yield open_page
    for context in contexts:
        context.close()


def load_all(page: Any, campaign: Campaign) -> list[dict[str, Any]]:
    """Open the campaign's gallery, scroll every image into view, wait for them all."""
    page.goto(campaign.index.as_uri(), wait_until="domcontentloaded")
    page.evaluate(SCROLL_ALL)
    page.wait_for_function(ALL_LOADED, timeout=15_000)
    report: list[dict[str, Any]] = page.evaluate(REPORT)
    return report


def assert_thumbnails(report: list[dict[str, Any]], campaign: Campaign) -> None:
    """Each image is its thumbnail under .thumbs/ (same aspect ratio as the image), loaded,
    inside a link to the image itself, in the order of results.jsonl."""
    expected = results_paths(campaign)
    assert [file_path(str(r["href"])) for r in report] == expected
    for entry, path in zip(report, expected, strict=True):
        assert file_path(entry["src"]).parent == campaign.out / ".thumbs", path
        assert entry["complete"] and entry["width"] > 0, path
        width, height = image_size(path) or (0, 0)
        assert abs(entry["width"] / entry["height"] - width / height) < 0.02, path


def assert_offline(page: Any) -> None:
    """Nothing but local files was requested."""
    remote = [u for u in page.requests if not u.startswith(("file://", "data:"))]
    assert remote == []


def test_every_image_of_results_is_shown_and_loads(
    page_of: Any, demo_campaign: Campaign, artifacts: Path
) -> None:
    """Desktop: every image of results.jsonl is a loaded lazy thumbnail, nothing else is shown."""
    page = page_of(viewport={"width": 1280, "height": 900})
    report = load_all(page, demo_campaign)
    assert len(results_paths(demo_campaign)) == 7  # 9 planned jobs, one failed, one pending
    assert_thumbnails(report, demo_campaign)
    assert all(entry["loading"] == "lazy" for entry in report)
    header = page.inner_text("header")
    assert "7 of 9 jobs done" in header
    assert "1 failed" in header
    assert "1 pending" in header
    assert "20 planned, 20 charged" in header
    assert "old-variant" not in page.content()  # the orphan is left out
    assert page.eval_on_selector_all("section h2", "hs => hs.map(h => h.textContent)") == [
        "hero",
        "lifestyle",
        "macro",
    ]
    assert_offline(page)
    assert page.errors == []
    page.add_style_tag(content=RENDER_ALL)
    page.screenshot(path=str(artifacts / "gallery-desktop.png"), full_page=True)


def test_click_on_a_thumbnail_opens_the_full_image(page_of: Any, demo_campaign: Campaign) -> None:
    """A click on a thumbnail navigates to the full image file."""
    page = page_of(viewport={"width": 1280, "height": 900})
    page.goto(demo_campaign.index.as_uri())
    thumbnail = page.locator("main a:has(img)").nth(3)
    target = demo_campaign.out / thumbnail.get_attribute("href")
    with page.expect_navigation():
        thumbnail.click()
    assert file_path(page.url) == target
    width = page.wait_for_function(
        "() => document.images.length === 1 && document.images[0].naturalWidth"
    ).json_value()
    assert width == image_size(target)[0]  # type: ignore[index]
    page.go_back()
    assert file_path(page.url) == demo_campaign.index


def test_phone_width_has_no_horizontal_scroll(
    page_of: Any, demo_campaign: Campaign, artifacts: Path
) -> None:
    """Phone (390x844): one or two columns, no horizontal overflow, every image still loads."""
    page = page_of(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    report = load_all(page, demo_campaign)
    assert_thumbnails(report, demo_campaign)
    scroll_width, inner_width = page.evaluate(NO_OVERFLOW)
    assert inner_width == 390
    assert scroll_width <= inner_width
    columns = page.eval_on_selector_all(
        ".grid", "gs => gs.map(g => getComputedStyle(g).gridTemplateColumns.split(' ').length)"
    )
    assert columns and all(1 <= c <= 2 for c in columns)
    assert_offline(page)
    page.add_style_tag(content=RENDER_ALL)
    page.screenshot(path=str(artifacts / "gallery-phone.png"), full_page=True)


HOSTILE = """
version: 1
name: hostile
description: "<script>alert('description')</script> & \\"quotes\\""
defaults: {model: gpt-image-2-all, size: "16:9"}
jobs:
  - name: xss
    description: "<img src=x onerror=alert('job')>"
    prompt: "<script>alert(1)</script> <img src=x onerror=alert(2)> {style} {{braces}} \
averyveryverylongwordwithoutanyspaceaveryveryverylongwordwithoutanyspaceaveryverylongword"
    matrix:
      style: ["<b onmouseover=alert(3)>bold</b>", "' onerror='alert(4)"]
    n: 2
"""


def test_hostile_text_stays_text(page_of: Any, tmp_path: Path) -> None:
    """Prompts, names and values with HTML run no script and do not widen a phone's page."""
    manifest = write_manifest(tmp_path, HOSTILE)
    campaign = build_campaign(manifest, tmp_path / "out")
    page = page_of(viewport={"width": 390, "height": 844}, is_mobile=True)
    report = load_all(page, campaign)
    assert_thumbnails(report, campaign)
    page.hover("main img")
    assert page.dialogs == []
    assert page.errors == []
    assert page.evaluate("document.scripts.length") == 0
    text = page.inner_text("body")
    assert "<script>alert(1)</script> <img src=x onerror=alert(2)>" in text
    assert "<b onmouseover=alert(3)>bold</b>" in text
    assert "{braces}" in text
    scroll_width, inner_width = page.evaluate(NO_OVERFLOW)
    assert scroll_width <= inner_width
    assert_offline(page)


def test_gallery_of_a_real_run_against_the_simulator(
    page_of: Any, tmp_path: Path, artifacts: Path
) -> None:
    """demo.yaml run end to end against the simulator: its gallery shows every image, loaded."""
    from seedance_batch import RunOptions, load_manifest, run
    from seedance_batch.simulator import SimulatorConfig, serve

    manifest_path = tmp_path / "demo.yaml"
    shutil.copy(DEMO, manifest_path)
    out = tmp_path / AWKWARD_DIR
    with serve(SimulatorConfig(seed=5)) as simulator:
        options = RunOptions(
            base_url=simulator.base_url,
            out=out,
            poll_interval=0.05,
            poll_max=0.2,
            requests_per_second=200,
        )
        # In a thread: Playwright's sync API already runs an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            manifest = load_manifest(manifest_path)
            summary = pool.submit(run, manifest, options, api_key="sk-gallery-test").result()
    assert summary.gallery == out / "index.html"
    campaign = Campaign(
        load_manifest(manifest_path), (), {}, out, summary.gallery, out / "results.jsonl"
    )
    page = page_of(viewport={"width": 1280, "height": 900})
    report = load_all(page, campaign)
    assert len(results_paths(campaign)) == 9
    assert_thumbnails(report, campaign)
    assert "9 of 9 jobs done" in page.inner_text("header")
    assert_offline(page)
    page.add_style_tag(content=RENDER_ALL)
    page.screenshot(path=str(artifacts / "gallery-simulator-run.png"), full_page=True)
