"""render_gallery and write_gallery without a browser: escaping, paths, order, determinism,
thumbnails."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _support.gallery import (
    DEMO,
    Campaign,
    build_campaign,
    png_bytes,
    succeeded,
    write_manifest,
)

from seedance_batch import load_manifest, plan
from seedance_batch._gallery import image_size, render_gallery, write_gallery
from seedance_batch.lockfile import ImageRecord, JobRecord, read_lockfile


class Page(HTMLParser):
    """The tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def images(self) -> list[str]:
        """The full images the thumbnails link to, in page order."""
        links: list[str] = []
        for (tag, attrs), (after, _) in zip(self.tags, [*self.tags[1:], ("", {})], strict=True):
            if tag == "a" and after == "img":
                links.append(str(attrs["href"]))
        return links

    def thumbnails(self) -> list[str]:
        return [str(attrs["src"]) for attrs in self.all("img")]


def one_page(pages: list[str]) -> str:
    """The only page of a small gallery."""
    assert len(pages) == 1
    return pages[0]


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """demo.yaml laid out on disk: job 2 failed, job 6 pending, one orphan, job 3 delivered 0."""
    return build_campaign(
        DEMO, tmp_path / "out", fail=[2], pending=[6], with_orphan=True, lockfile=None
    )


def result_paths(campaign: Campaign) -> list[str]:
    lines = campaign.results.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["path"] for line in lines]


HOSTILE = """
version: 1
name: hostile
description: "<script>alert('d')</script>"
defaults: {model: gpt-image-2-all, size: "1:1"}
jobs:
  - name: xss
    description: "<img src=x onerror=alert('job')>"
    prompt: "<script>alert(1)</script> & \\"{style}\\" '{{x}}'"
    matrix:
      style: ["<b onmouseover=alert(3)>", "\\" onerror=\\"alert(4)"]
"""


def test_prompt_with_script_is_escaped(tmp_path: Path) -> None:
    """A prompt with <script>alert(1)</script> appears escaped, as text, never as markup."""
    manifest = load_manifest(write_manifest(tmp_path, HOSTILE))
    jobs = plan(manifest).jobs
    records = {job.id: succeeded(job, tmp_path / "out", write=False) for job in jobs}
    text = one_page(render_gallery(manifest, jobs, records))
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;" in text
    assert "<b onmouseover" not in text
    page = Page(text)
    assert page.all("script") == []
    assert all(not key.startswith("on") for _, attrs in page.tags for key in attrs), (
        "an event handler attribute got in"
    )
    shown = "".join(page.text)
    assert "<script>alert(1)</script> & \"<b onmouseover=alert(3)>\" '{x}'" in shown
    assert "<script>alert('d')</script>" in shown
    assert "<img src=x onerror=alert('job')>" in shown
    assert len(page.all("img")) == 2  # only the thumbnails are images


def test_image_paths_are_relative_and_url_escaped(tmp_path: Path) -> None:
    """src and href are relative to <out>, %-escaped; a path leaving <out> is never linked."""
    manifest = load_manifest(DEMO)
    job = plan(manifest).jobs[0]
    odd = "hero/a b#c?d%e&f:g'h\"ü/1.png"
    images = (
        ImageRecord("https://img.example.com/1", odd, "0" * 64, 1),
        ImageRecord("https://img.example.com/2", "../outside/2.png", "0" * 64, 1),
        ImageRecord("https://img.example.com/3", "/etc/passwd", "0" * 64, 1),
    )
    record = succeeded(job, tmp_path, write=False).replace(images=images)
    page = Page(one_page(render_gallery(manifest, [job], {job.id: record})))
    expected = "hero/a%20b%23c%3Fd%25e%26f%3Ag%27h%22%C3%BC/1.png"
    assert page.images() == [expected]
    assert page.thumbnails() == [".thumbs/" + "0" * 32 + ".webp"]
    links = [str(a.get("href")) for a in page.all("a")]
    assert [href for href in links if href.startswith("hero/")] == [expected]
    text = "".join(page.text)
    assert "missing: ../outside/2.png" in text
    assert "missing: /etc/passwd" in text


def test_groups_follow_the_plan_order(tmp_path: Path) -> None:
    """Sections per job in manifest order, a figure per variant holding its repeats in order."""
    manifest_path = write_manifest(
        tmp_path,
        """
        version: 1
        name: order
        defaults: {model: gpt-image-2-all, size: "1:1"}
        jobs:
          - name: zeta
            description: The first job, whatever its name
            prompt: "A {thing}"
            matrix: {thing: [cup, bowl, plate]}
            repeat: 2
            n: 2
          - name: alpha
            prompt: "A lamp"
            size: "16:9"
        """,
    )
    result = build_campaign(manifest_path, tmp_path / "out")
    text = result.index.read_text(encoding="utf-8")
    page = Page(text)
    assert [a["id"] for a in page.all("section")] == ["job-zeta", "job-alpha"]
    assert page.images() == result_paths(result)  # the same order as results.jsonl
    assert len(page.images()) == 3 * 2 * 2 + 1
    figures = re.findall(r"<figure.*?</figure>", text, flags=re.S)
    assert len(figures) == 4  # one per variant: the repeats share a card
    first = Page(figures[0])
    assert first.images() == [p for p in result_paths(result) if p.startswith("zeta/cup_r")]
    assert "The first job, whatever its name" in text
    caption = "".join(first.text)
    assert "thing cup" in caption
    assert "A cup" in caption
    sections = re.findall(r"<section.*?</section>", text, flags=re.S)
    head = "".join(Page(sections[0].split('<div class="grid">')[0]).text)
    assert "gpt-image-2-all · 1:1 · 1k · 2 images per task" in head  # shared by its variants
    assert "gpt-image-2-all · 16:9 · 1k · 1 image per task" in sections[1]


def test_output_is_deterministic(campaign: Campaign) -> None:
    """The same campaign renders byte for byte, also from a lockfile read back from disk."""
    first = render_gallery(campaign.manifest, campaign.jobs, campaign.records)
    assert render_gallery(campaign.manifest, campaign.jobs, campaign.records) == first
    lockfile = campaign.out.parent / "demo.lock.json"
    build_campaign(DEMO, campaign.out, fail=[2], pending=[6], with_orphan=True, lockfile=lockfile)
    snapshot = read_lockfile(lockfile)
    assert snapshot is not None
    replanned = plan(load_manifest(DEMO), snapshot)
    again = render_gallery(load_manifest(DEMO), replanned.jobs, snapshot.jobs)
    assert again == first
    assert not re.search(r"20\d\d-\d\d-\d\d", "".join(first))  # no timestamps (records have)


def test_unchanged_campaign_is_not_rewritten(campaign: Campaign) -> None:
    """write_gallery skips the write when the bytes are the same, and replaces them otherwise."""
    before = campaign.index.stat()
    time.sleep(0.01)
    assert write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records) == (
        campaign.index
    )
    after = campaign.index.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    first = campaign.jobs[0]
    changed = dict(campaign.records)
    changed[first.id] = changed[first.id].replace(state="failed", error="gone")
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, changed)
    assert campaign.index.stat().st_ino != before.st_ino  # a new file, renamed into place
    hidden = [p.name for p in campaign.out.iterdir() if p.name.startswith(".")]
    assert hidden == [".thumbs"]  # no temporary left beside the page


def test_orphans_are_left_out(campaign: Campaign) -> None:
    """A lockfile entry the manifest no longer plans is counted in the header, not shown."""
    text = campaign.index.read_text(encoding="utf-8")
    assert "old-variant" not in text
    assert "0123abcd0123abcd" not in text
    assert "an edited-away prompt" not in text
    assert "1 lockfile entry the manifest no longer plans (1 image) not shown" in text
    assert Page(text).images() == result_paths(campaign)


def test_no_network_assets(campaign: Campaign) -> None:
    """No http(s) reference anywhere: every src and href is a relative path or an anchor."""
    text = campaign.index.read_text(encoding="utf-8")
    assert "http://" not in text
    assert "https://" not in text
    assert "//" not in re.sub(r"<p class=\"prompt\">.*?</p>", "", text)
    page = Page(text)
    assert page.all("script") == []
    assert page.all("link") == []
    assert "@import" not in text
    assert "url(" not in text
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert not re.match(r"^[a-z][a-z0-9+.-]*:|^/", value), (tag, value)
    csp = [
        m["content"] for m in page.all("meta") if m.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in str(csp[0])


def test_header_counts_and_credits(campaign: Campaign) -> None:
    """The header gives the name, description, jobs done/failed/pending, images and credits."""
    text = campaign.index.read_text(encoding="utf-8")
    header = "".join(Page(text[: text.index("</header>")]).text)
    assert "demo" in header
    assert "A small skincare shoot to try seedance-batch end to end" in header
    assert "7 of 9 jobs done, 1 failed, 1 pending" in header
    assert "7 images shown" in header
    assert "20 planned, 20 charged" in header  # 9 jobs; charged: 7 done + 1 failed + 1 orphan
    assert "400 Bad Request: the prompt was refused" in header
    failed, pending = campaign.jobs[2], campaign.jobs[6]
    assert failed.id in header and pending.id in header
    assert "submitted" in header


def test_thumbnails_are_lazy_links_to_the_full_image(campaign: Campaign) -> None:
    """Every image: its thumbnail (made when the gallery was written, a small WebP under
    .thumbs/, never the full file), lazy, inside a link to the full image; the card has the
    images' aspect ratio so the layout does not move."""
    text = campaign.index.read_text(encoding="utf-8")
    pairs = re.findall(r"<a href=(\S+?)(?: class=\w+)?><img ([^>]+)></a>", text)
    assert [href for href, _ in pairs] == result_paths(campaign)
    by_path = {i.path: i.sha256 for r in campaign.records.values() for i in r.images}
    for href, attributes in pairs:
        attrs = dict(re.findall(r"(\w+)=(\S+)", attributes))
        assert attrs["src"] == f".thumbs/{by_path[href][:32]}.webp"
        thumb = campaign.out / attrs["src"]
        assert thumb.read_bytes()[8:12] == b"WEBP"
        assert attrs["loading"] == "lazy"
        assert attrs["alt"]
    assert len(re.findall(r"<img ", text)) == 7
    ratios = re.findall(r"<figure style=--r:(\d+)/(\d+)>", text)  # square ones need none
    assert ("4", "5") in ratios  # a 60x75 image (4:5 asked), in lowest terms
    assert ("60", "107") in ratios  # a 60x107 image (9:16 asked)


def test_fewer_images_and_missing_files_are_reported(tmp_path: Path) -> None:
    """A task that delivered fewer images and a file gone from disk are both said."""
    result = build_campaign(DEMO, tmp_path / "out", short={0: 0})
    (result.out / result_paths(result)[0]).unlink()
    write_gallery(result.out, result.manifest, result.jobs, result.records)
    text = result.index.read_text(encoding="utf-8")
    header = "".join(Page(text[: text.index("</header>")]).text)
    assert "7 images shown (1 missing on disk; 8 of 9 asked delivered; 9 planned)" in header
    assert "0 of 1 images delivered" in text
    assert f"missing: {result_paths(result)[0]}" in "".join(Page(text).text)


def test_image_size_reads_png_jpeg_and_webp(tmp_path: Path) -> None:
    """Pixel sizes come from PNG, JPEG (after other segments) and WebP headers."""
    png = tmp_path / "a.png"
    png.write_bytes(png_bytes(30, 20, (1, 2, 3)))
    jpeg = tmp_path / "a.jpg"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 480, 640, 1) + bytes(3)
    jpeg.write_bytes(b"\xff\xd8" + app0 + sof + b"\xff\xd9")
    lossy = tmp_path / "a.webp"
    vp8 = b"VP8 " + struct.pack("<I", 10) + b"\x00" * 6 + struct.pack("<HH", 800, 600)
    lossy.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(vp8)) + b"WEBP" + vp8)
    extended = tmp_path / "b.webp"
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (99).to_bytes(3, "little")
    vp8x += (49).to_bytes(3, "little")
    extended.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n")
    assert image_size(png) == (30, 20)
    assert image_size(jpeg) == (640, 480)
    assert image_size(lossy) == (800, 600)
    assert image_size(extended) == (100, 50)
    assert image_size(broken) is None
    assert image_size(tmp_path / "absent.png") is None


def test_five_thousand_images_render_quickly(tmp_path: Path) -> None:
    """5,000 images render in well under the time a browser takes to open them."""
    manifest = load_manifest(
        write_manifest(
            tmp_path,
            """
            version: 1
            name: big
            defaults: {model: gpt-image-2-all, n: 4, size: "1:1"}
            jobs:
              - name: grid
                prompt: "A {a} on a {b}"
                matrix:
                  a: [a00, a01, a02, a03, a04, a05, a06, a07, a08, a09, a10, a11, a12, a13, a14,
                      a15, a16, a17, a18, a19, a20, a21, a22, a23, a24]
                  b: [b00, b01, b02, b03, b04, b05, b06, b07, b08, b09, b10, b11, b12, b13, b14,
                      b15, b16, b17, b18, b19, b20, b21, b22, b23, b24, b25, b26, b27, b28, b29,
                      b30, b31, b32, b33, b34, b35, b36, b37, b38, b39, b40, b41, b42, b43, b44,
                      b45, b46, b47, b48, b49]
            """,
        )
    )
    jobs = plan(manifest).jobs
    digest = hashlib.sha256(b"x").hexdigest()
    records = {
        job.id: JobRecord(
            id=job.id,
            job=job.job,
            variant=dict(job.variant),
            repeat=job.repeat,
            request=dict(job.request),
            state="succeeded",
            task_id="t",
            images=tuple(ImageRecord("u", f"{job.output}/{k}.png", digest, 1) for k in range(1, 5)),
        )
        for job in jobs
    }
    started = time.perf_counter()
    pages = render_gallery(manifest, jobs, records)
    elapsed = time.perf_counter() - started
    assert sum(page.count("<img ") for page in pages) == 5_000
    assert len(pages) == 10
    limit = 5.0 if os.environ.get("CI") else 3.0  # about 0.1 s on a laptop; a shared CI is slow
    assert elapsed < limit
