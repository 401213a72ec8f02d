"""The gallery's pages and decisions without a browser: paging and its links, pages left over,
approved first and rejected dimmed with a badge each, the same counts as ``status``, and the
thumbnails made once (never the full file in the grid)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from _support.gallery import DEMO, Campaign, build_campaign, write_manifest

from seedance_batch import load_manifest
from seedance_batch._decisions import Entry, ReviewFileError, render_review
from seedance_batch._gallery import write_gallery
from seedance_batch._status import status
from seedance_batch.cli import main
from seedance_batch.lockfile import default_lockfile_path

BIG = """
version: 1
name: pages
defaults: {model: gpt-image-2-all, size: "1:1"}
jobs:
  - name: first
    prompt: "A {thing}"
    matrix: {thing: [cup, bowl, plate, jug]}
    n: 2
  - name: wide
    prompt: "A lamp"
    n: 4
    repeat: 2
"""


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """Four variants of 2 images, then one variant of 2 repeats x 4 images (16 in all)."""
    manifest = write_manifest(tmp_path, BIG, "pages.yaml")
    return build_campaign(manifest, tmp_path / "out", lockfile=default_lockfile_path(manifest))


def _images(text: str) -> list[str]:
    """The full images a page links its thumbnails to, in order."""
    return re.findall(r"<a href=(\S+?)(?: class=\w+)?><img ", text)


def _review(campaign: Campaign, decisions: dict[str, str]) -> None:
    """Write the review file beside the manifest: these decisions by image path."""
    sha = {i.path: i.sha256 for r in campaign.records.values() for i in r.images}
    entries = [Entry(sha[p], None, p, d) for p, d in decisions.items()]  # type: ignore[arg-type]
    review = campaign.manifest.path.with_name(campaign.manifest.path.stem + ".review.yaml")
    review.write_text(render_review(campaign.manifest.name, entries), encoding="utf-8")


def test_pages_hold_at_most_n_images_and_link_to_each_other(campaign: Campaign) -> None:
    """With 5 a page: whole variants per page, a variant larger than a page continued on the
    next, every image once in plan order, links to the previous and next pages and to each
    job's first page."""
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records, page_size=5)
    pages = sorted(campaign.out.glob("index*.html"), key=lambda p: (len(p.name), p.name))
    assert [p.name for p in pages] == ["index.html", "index-2.html", "index-3.html", "index-4.html"]
    texts = [p.read_text(encoding="utf-8") for p in pages]
    counts = [len(_images(t)) for t in texts]
    assert counts == [4, 4, 5, 3]  # 2+2 | 2+2 | the 8 of "wide": 5, then 3 continued
    every = [path for text in texts for path in _images(text)]
    assert every == [i.path for j in campaign.jobs for i in campaign.records[j.id].images]
    assert "Page 1 of 4:" in texts[0] and '<a rel="next" href="index-2.html">' in texts[0]
    assert 'rel="prev"' not in texts[0]
    assert '<a rel="prev" href="index-2.html">' in texts[2]
    assert '<a rel="next" href="index-4.html">' in texts[2]
    assert 'rel="next"' not in texts[3]
    assert 'wide <span class="mute">(continued)</span>' in texts[3]
    assert "continued: 3 more images" in texts[3]
    for text in texts:
        assert '<a href="index.html#job-first">first</a>' in text
        assert '<a href="index-3.html#job-wide">wide</a>' in text
    assert "pages · seedance-batch gallery · page 2 of 4" in texts[1]


def test_pages_left_over_are_removed(campaign: Campaign) -> None:
    """A gallery that shrinks removes its pages past the last; other files stay."""
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records, page_size=5)
    keep = campaign.out / "index-notes.html"
    keep.write_text("mine")
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records, page_size=8)
    names = sorted(p.name for p in campaign.out.glob("index*.html"))
    assert names == ["index-2.html", "index-notes.html", "index.html"]  # 8 | 8
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records)
    assert sorted(p.name for p in campaign.out.glob("index*.html")) == [
        "index-notes.html",
        "index.html",
    ]


def test_approved_first_rejected_last_with_badges(campaign: Campaign) -> None:
    """Within a variant: favourite, approved, undecided, rejected, each decided one marked; the
    header counts them as status does."""
    wide = [i.path for j in campaign.jobs if j.job == "wide" for i in campaign.records[j.id].images]
    cup = [i.path for i in campaign.records[campaign.jobs[0].id].images]
    _review(
        campaign,
        {wide[0]: "rejected", wide[5]: "approved", wide[7]: "favourite", cup[1]: "approved"},
    )
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records)
    text = campaign.index.read_text(encoding="utf-8")
    figure = re.findall(r"<figure.*?</figure>", text, flags=re.S)[-1]
    order = re.findall(r"<a href=(\S+?)(?: class=(\w+))?><img ", figure)
    assert order[0] == (wide[7], "fav")
    assert order[1] == (wide[5], "ok")
    assert [path for path, _ in order[2:-1]] == [wide[i] for i in (1, 2, 3, 4, 6)]
    assert order[-1] == (wide[0], "no")
    first = re.findall(r"<a href=(\S+?)(?: class=(\w+))?><img ", text)[:2]
    assert first == [(cup[1], "ok"), (cup[0], "")]
    report = status(load_manifest(campaign.manifest.path))
    counts = report.decisions
    assert counts.approved == 3 and counts.rejected == 1 and counts.undecided == 12
    ready = len(report.variants) - len(report.unapproved)
    expected = (
        f"{counts.approved} approved · {counts.rejected} rejected · {counts.undecided} "
        f"undecided; {ready} of {len(report.variants)} variants approved"
    )
    assert f'<dd id="count-review">{expected}</dd>' in text
    assert ".t a.no img,.t a.no .nt{opacity:.3" in text  # rejected: dimmed
    assert 'content:"\\2713  approved"' in text  # the badges are CSS: no script


def test_a_broken_review_file_is_refused_by_the_gallery_command(
    campaign: Campaign, capsys: pytest.CaptureFixture[str]
) -> None:
    """gallery with a broken review file: one line naming it, exit 2; write_gallery raises."""
    review = campaign.manifest.path.with_name("pages.review.yaml")
    review.write_text("version: 2\ncampaign: pages\ndecisions: {}\n")
    with pytest.raises(ReviewFileError):
        write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records)
    assert main(["gallery", str(campaign.manifest.path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{review}:1:10: version: ") and len(err.strip().splitlines()) == 1


def test_thumbnails_are_made_once_and_an_unreadable_image_has_none(tmp_path: Path) -> None:
    """The gallery makes each missing thumbnail once (kept on the next write); an image Pillow
    cannot read links to itself with no preview, and no full image is ever an img."""
    out = tmp_path / "out"
    campaign = build_campaign(DEMO, out)
    thumbs = sorted((out / ".thumbs").iterdir())
    assert len(thumbs) == 9
    before = {t.name: t.stat().st_mtime_ns for t in thumbs}
    broken = campaign.records[campaign.jobs[0].id].images[0]
    shutil.rmtree(out / ".thumbs")
    header = (out / broken.path).read_bytes()[:33]  # the signature and IHDR: its size reads
    (out / broken.path).write_bytes(header.ljust(broken.bytes, b"\0"))  # no image data
    write_gallery(out, campaign.manifest, campaign.jobs, campaign.records)
    assert len(list((out / ".thumbs").iterdir())) == 8
    again = {t.name: t.stat().st_mtime_ns for t in (out / ".thumbs").iterdir()}
    write_gallery(out, campaign.manifest, campaign.jobs, campaign.records)
    assert {t.name: t.stat().st_mtime_ns for t in (out / ".thumbs").iterdir()} == again
    assert set(again) <= set(before)
    text = campaign.index.read_text(encoding="utf-8")
    assert f'<a href={broken.path}><span class="nt">no preview</span></a>' in text
    sources = re.findall(r"<img src=(\S+)", text)
    assert len(sources) == 8 and all(s.startswith(".thumbs/") for s in sources)


def test_thumbnails_that_cannot_be_made_leave_a_gallery_without_them(campaign: Campaign) -> None:
    """A file where .thumbs/ should be: the pages are written all the same, each image a link
    with no preview, and the header says why."""
    shutil.rmtree(campaign.out / ".thumbs")
    (campaign.out / ".thumbs").write_text("not a folder")
    write_gallery(campaign.out, campaign.manifest, campaign.jobs, campaign.records)
    text = campaign.index.read_text(encoding="utf-8")
    assert "<img " not in text
    assert text.count('<span class="nt">no preview</span>') == 16
    assert "Some thumbnails could not be made (" in text
    assert "cannot make the thumbnails&#x27; folder" in text


def test_a_run_with_a_broken_review_file_warns_and_writes_the_gallery(tmp_path: Path) -> None:
    """After a run, a broken review file is a warning (the run's work is done); the gallery is
    written without decisions."""
    from seedance_batch import RunOptions, run
    from seedance_batch._events import Notice
    from seedance_batch.simulator import SimulatorConfig, serve

    manifest_path = tmp_path / "demo.yaml"
    shutil.copy(DEMO, manifest_path)
    (tmp_path / "demo.review.yaml").write_text("<<<<<<< HEAD\n")
    events: list[object] = []
    with serve(SimulatorConfig(seed=9)) as simulator:
        options = RunOptions(
            base_url=simulator.base_url,
            out=tmp_path / "out",
            poll_interval=0.05,
            poll_max=0.2,
            requests_per_second=200,
        )
        summary = run(
            load_manifest(manifest_path), options, api_key="sk-test", on_event=events.append
        )
    assert summary.outputs_written
    warnings = [e.message for e in events if isinstance(e, Notice) and e.level == "warning"]
    assert [w for w in warnings if "review" in w] == [
        f"the gallery shows no decisions: {tmp_path / 'demo.review.yaml'}:1:1: "
        "git conflict markers: resolve the merge first"
    ]
    assert "0 approved · 0 rejected · 9 undecided" in summary.gallery.read_text(encoding="utf-8")
