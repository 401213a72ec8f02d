"""The paged gallery in a real headless Chromium, offline: page 1 and page 2 open, their images
are thumbnails (never the originals), a rejected image is dimmed and an approved one comes
first in its variant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from _support.gallery import Campaign, build_campaign, write_manifest

from seedance_batch._decisions import Entry, render_review
from seedance_batch._gallery import write_gallery

pytestmark = pytest.mark.timeout(300)

MANIFEST = """
version: 1
name: paged
defaults: {model: gpt-image-2-all}
jobs:
  - name: shoot
    prompt: "A {thing} on a table"
    matrix:
      thing: [cup, bowl, plate, jug, vase, lamp]
      size: ["1:1", "16:9"]
    n: 2
"""
#: Every thumbnail into view (lazy ones load then), then each one's figures.
SCROLL_ALL = """
async () => {
  for (const img of document.querySelectorAll('main img')) {
    img.scrollIntoView({block: 'center'});
    await new Promise(resolve => requestAnimationFrame(() => resolve()));
  }
  window.scrollTo(0, 0);
}
"""
ALL_LOADED = "() => [...document.querySelectorAll('main img')].every(i => i.complete)"
REPORT = """
() => [...document.querySelectorAll('main img')].map(img => ({
  src: img.src,
  href: img.closest('a').href,
  width: img.naturalWidth,
  decision: img.closest('a').className,
  opacity: Number(getComputedStyle(img).opacity),
  badge: getComputedStyle(img.closest('a'), '::after').content,
  first: img.closest('a') === img.closest('.t').firstElementChild,
}))
"""


def _file(url: str) -> Path:
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


@pytest.fixture
def paged(tmp_path: Path) -> Campaign:
    """12 variants of 2 images, 10 a page (3 pages); the first variant's second image
    approved, its first rejected; the seventh's first image a favourite."""
    manifest = write_manifest(tmp_path, MANIFEST, "paged.yaml")
    campaign = build_campaign(manifest, tmp_path / "out dir #2")
    images = [campaign.records[job.id].images for job in campaign.jobs]
    entries = [
        Entry(images[0][0].sha256, None, images[0][0].path, "rejected"),
        Entry(images[0][1].sha256, None, images[0][1].path, "approved"),
        Entry(images[6][1].sha256, None, images[6][1].path, "favourite"),
    ]
    review = manifest.with_name("paged.review.yaml")
    review.write_text(render_review("paged", entries), encoding="utf-8")
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records, page_size=10)
    return campaign


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop page that records every request and page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.requests = []
    tab.errors = []
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


def _open(page: Any, path: Path) -> list[dict[str, Any]]:
    page.goto(path.as_uri(), wait_until="domcontentloaded")
    page.evaluate(SCROLL_ALL)
    page.wait_for_function(ALL_LOADED, timeout=15_000)
    report: list[dict[str, Any]] = page.evaluate(REPORT)
    return report


def test_pages_open_offline_with_thumbnails_and_decisions(
    page: Any, paged: Campaign, artifacts: Path
) -> None:
    """Page 1: 10 thumbnails from .thumbs/, each linking to its original; the approved image
    first in its card, with a badge; the rejected one dimmed. The next-page link opens page 2,
    where the favourite comes first. Nothing but local files is requested, no script runs."""
    out = paged.out
    first = _open(page, paged.index)
    assert len(first) == 10
    images = [paged.records[job.id].images for job in paged.jobs]
    for entry in first:
        assert _file(entry["src"]).parent == out / ".thumbs"
        assert entry["width"] > 0
        assert _file(entry["href"]).is_relative_to(out)
        assert _file(entry["href"]).suffix == ".png"  # the original, behind a click
    assert _file(first[0]["href"]) == out / images[0][1].path
    assert first[0]["decision"] == "ok" and first[0]["first"]
    assert "approved" in first[0]["badge"]
    assert first[1]["decision"] == "no" and first[1]["opacity"] < 0.5
    assert "rejected" in first[1]["badge"]
    assert all(e["opacity"] == 1 for e in first if e["decision"] != "no")
    assert page.evaluate("document.scripts.length") == 0
    assert "Page 1 of 3" in page.inner_text("header")
    page.add_style_tag(content="figure{content-visibility:visible!important}")
    page.screenshot(path=str(artifacts / "gallery-page-1-decisions.png"), full_page=True)

    with page.expect_navigation():
        page.click('header a[rel="next"]')
    assert _file(page.url) == out / "index-2.html"
    second = _open(page, out / "index-2.html")
    assert len(second) == 10
    favourite = next(e for e in second if e["decision"] == "fav")
    assert favourite["first"] and _file(favourite["href"]) == out / images[6][1].path
    assert all(_file(e["src"]).parent == out / ".thumbs" for e in second)
    assert "Page 2 of 3" in page.inner_text("header")
    remote = [u for u in page.requests if not u.startswith(("file://", "data:"))]
    assert remote == []
    assert page.errors == []
    page.screenshot(path=str(artifacts / "gallery-page-2.png"), full_page=True)
