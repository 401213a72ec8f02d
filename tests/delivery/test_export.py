"""``export`` and ``verify`` on a campaign run against the simulator: what is delivered, how it
is named and labelled, what a second export does, and what verify finds; the CLI as a real
process for the exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

from _support.delivery import Campaign, exiftool, needs_exiftool
from PIL import Image

from seedance_batch._manifest import load_manifest
from seedance_batch.delivery import export
from seedance_batch.delivery._xmp import DIGITAL_SOURCE_TYPE


def _files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` and its mtime in nanoseconds."""
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _record(dest: Path) -> list[dict[str, object]]:
    files: list[dict[str, object]] = json.loads((dest / "delivery.json").read_text())["files"]
    return files


def test_approved_images_are_delivered_in_every_profile(campaign: Campaign) -> None:
    """Approved and favourite images, and only they, land in DEST/<profile>/ named by the
    template, each in its format and within its largest side."""
    images = campaign.images()
    campaign.decide({images[0][0]: "approved", images[1][0]: "rejected", images[4][0]: "favourite"})
    dest = campaign.folder / "dest"
    summary = export(load_manifest(campaign.manifest), str(dest))
    assert (summary.written, summary.kept, summary.removed) == (6, 0, 0)
    assert sorted(_files(dest)) == sorted(
        [
            "delivery.csv",
            "delivery.json",
            "print/hero/serum_1x1-t1-1.png",
            "print/pair/07cebb6a-t1-1.png",
            "thumb/hero/serum_1x1-t1-1.jpg",
            "thumb/pair/07cebb6a-t1-1.jpg",
            "web/hero/serum_1x1-t1-1.webp",
            "web/pair/07cebb6a-t1-1.webp",
        ]
    )
    for path, fmt, side in (
        ("web/hero/serum_1x1-t1-1.webp", "WEBP", 24),
        ("thumb/hero/serum_1x1-t1-1.jpg", "JPEG", 16),
        ("print/hero/serum_1x1-t1-1.png", "PNG", 32),
    ):
        with Image.open(dest / path) as image:
            assert (image.format, max(image.size)) == (fmt, side)
            xmp = image.info["xmp"]
            assert DIGITAL_SOURCE_TYPE in (xmp.decode() if isinstance(xmp, bytes) else xmp)


@needs_exiftool
def test_exiftool_reads_the_provenance_of_each_profile(campaign: Campaign) -> None:
    """exiftool reads the digital source type, the prompt, the model, the campaign, the job id
    and the tool in every delivered format."""
    campaign.decide({campaign.images()[0][0]: "approved"})
    dest = campaign.folder / "dest"
    export(load_manifest(campaign.manifest), str(dest))
    job_id = _record(dest)[0]["job_id"]
    for path in sorted(dest.rglob("serum_1x1-t1-1.*")):
        tags = exiftool(path)
        assert tags["XMP-iptcExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE, path
        assert tags["XMP-dc:Description"] == "A serum bottle by Lumen on a pedestal"
        assert tags["XMP-sdb:Model"] == "gpt-image-2-all"
        assert tags["XMP-sdb:Campaign"] == "delivery-test"
        assert tags["XMP-sdb:JobId"] == job_id
        assert str(tags["XMP-xmp:CreatorTool"]).startswith("seedance-batch ")


def test_all_with_the_original_profile_keeps_the_pixels(campaign: Campaign) -> None:
    """``--all --profile original`` delivers every succeeded image, approved or not, with the
    very pixels of the file under <out>, straight into DEST."""
    dest = campaign.folder / "dest"
    manifest = load_manifest(campaign.manifest)
    summary = export(manifest, str(dest), profiles=["original"], everything=True)
    assert summary.written == 6
    for entry in _record(dest):
        source = campaign.out / next(p for s, p in campaign.images() if s == entry["source_sha256"])
        with Image.open(dest / str(entry["name"])) as got, Image.open(source) as want:
            assert got.tobytes() == want.tobytes()
    names = [e["name"] for e in _record(dest)]
    assert "hero/night-cream_16x9-t1-1.png" in names
    assert names.count("pair/07cebb6a-t1-1.png") == 1 and "pair/07cebb6a-t1-2.png" in names


def test_an_unchanged_export_writes_nothing(campaign: Campaign) -> None:
    """A second export of the same approvals writes no file (every mtime kept, the record's
    too) and says every file was unchanged."""
    campaign.decide({sha: "approved" for sha, _ in campaign.images()})
    dest = campaign.folder / "dest"
    manifest = load_manifest(campaign.manifest)
    export(manifest, str(dest))
    before = _files(dest)
    again = export(manifest, str(dest))
    assert (again.written, again.kept, again.removed) == (0, 18, 0)
    assert _files(dest) == before


def test_a_changed_approval_adds_and_removes_exactly_its_files(campaign: Campaign) -> None:
    """Rejecting one image and approving another removes the first one's files and adds the
    second's; a file the export did not write stays, and so do the others."""
    images = campaign.images()
    campaign.decide({images[0][0]: "approved", images[2][0]: "approved"})
    dest = campaign.folder / "dest"
    manifest = load_manifest(campaign.manifest)
    export(manifest, str(dest), profiles=["web"])
    (dest / "hero").mkdir(exist_ok=True)
    (dest / "hero" / "notes.txt").write_text("the designer's own file")
    kept = dest / "hero" / "night-cream_1x1-t1-1.webp"
    assert kept.exists()
    kept_mtime = kept.stat().st_mtime_ns
    campaign.decide({images[0][0]: "rejected", images[2][0]: "approved", images[3][0]: "favourite"})
    summary = export(manifest, str(dest), profiles=["web"])
    assert (summary.written, summary.kept, summary.removed) == (1, 1, 1)
    assert sorted(_files(dest)) == [
        "delivery.csv",
        "delivery.json",
        "hero/night-cream_16x9-t1-1.webp",
        "hero/night-cream_1x1-t1-1.webp",
        "hero/notes.txt",
    ]
    assert kept.stat().st_mtime_ns == kept_mtime
    assert [e["name"] for e in _record(dest)] == [
        "hero/night-cream_1x1-t1-1.webp",
        "hero/night-cream_16x9-t1-1.webp",
    ]


def test_the_record_lists_each_file_in_plan_order(campaign: Campaign) -> None:
    """delivery.json and delivery.csv list each file with its source's SHA-256, job, job id,
    variant, take, prompt, profile, name, and its own SHA-256 and size, as on disk."""
    import csv
    import hashlib

    campaign.decide({sha: "approved" for sha, _ in campaign.images()})
    dest = campaign.folder / "dest"
    export(load_manifest(campaign.manifest), str(dest), profiles=["thumb"])
    entries = _record(dest)
    assert [(e["job"], e["index"]) for e in entries] == [
        ("hero", 1),
        ("hero", 1),
        ("hero", 1),
        ("hero", 1),
        ("pair", 1),
        ("pair", 2),
    ]
    for entry in entries:
        data = (dest / str(entry["name"])).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["profile"] == "thumb" and entry["take"] == 1
    assert entries[0]["variant"] == {"product": "serum", "size": "1:1"}
    rows = list(csv.DictReader(io.StringIO((dest / "delivery.csv").read_text())))
    assert [r["name"] for r in rows] == [e["name"] for e in entries]
    assert rows[0]["variant"] == "product=serum, size=1:1"
    assert rows[0]["prompt"] == "A serum bottle by Lumen on a pedestal"
    assert rows[0]["source_sha256"] == entries[0]["source_sha256"]


def test_verify_finds_changed_and_missing_files(campaign: Campaign) -> None:
    """verify says ok with its counts, then one line per changed or missing file (exit 1):
    an image under <out>, and a delivered file at a destination export remembered."""
    campaign.decide({campaign.images()[0][0]: "approved"})
    dest = campaign.folder / "dest"
    assert campaign.cli("export", "--to", str(dest), "--profile", "web").returncode == 0
    ok = campaign.cli("verify")
    assert (ok.returncode, ok.stdout) == (0, "ok: 6 images, 1 delivered files in 1 destinations\n")
    delivered = dest / "hero" / "serum_1x1-t1-1.webp"
    delivered.write_bytes(delivered.read_bytes() + b"x")
    gone = campaign.out / campaign.images()[5][1]
    gone.unlink()
    bad = campaign.cli("verify")
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0] == f"missing: {gone}"
    assert lines[1].startswith(f"changed: {dest}/hero/serum_1x1-t1-1.webp: SHA-256 ")
    assert lines[2] == "2 problems"


def test_the_command_line_says_one_line_and_its_exit_code(campaign: Campaign) -> None:
    """An unknown profile is bad input (2), a campaign that never ran is a failure (1), both
    one line without a traceback."""
    dest = str(campaign.folder / "dest")
    unknown = campaign.cli("export", "--to", dest, "--profile", "poster")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "seedance-batch: error: --profile poster: no such profile "
        "(the profiles: original, web, thumb, print)"
    ]
    campaign.lockfile.unlink()
    never = campaign.cli("export", "--to", dest)
    assert never.returncode == 1
    assert "nothing has run, nothing to export" in never.stderr
    assert len(never.stderr.strip().splitlines()) == 1


def test_a_link_out_of_dest_is_refused(campaign: Campaign, tmp_path: Path) -> None:
    """A symbolic link inside DEST that leads out of it is refused in one line (exit 1), and
    nothing lands where it points."""
    campaign.decide({campaign.images()[0][0]: "approved"})
    dest = campaign.folder / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    (dest / "hero").symlink_to(outside, target_is_directory=True)
    done = campaign.cli("export", "--to", str(dest), "--profile", "web")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"seedance-batch: error: {dest}: 'hero/serum_1x1-t1-1.webp' leads outside the "
        "destination (a symbolic link)"
    ]
    assert list(outside.iterdir()) == []


def test_a_failure_keeps_what_was_delivered_listed(campaign: Campaign) -> None:
    """An image changed on disk since the run stops the export (one line, exit 1) with the
    files delivered before it listed; once it is put back, the next export keeps those and
    delivers the rest."""
    images = campaign.images()
    campaign.decide({sha: "approved" for sha, _ in images})
    dest = campaign.folder / "dest"
    changed = campaign.out / images[3][1]
    good = changed.read_bytes()
    changed.write_bytes(good + b"tampered")
    done = campaign.cli("export", "--to", str(dest), "--profile", "original")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"seedance-batch: error: {changed}: the image is not the one the lockfile recorded "
        "(its SHA-256 differs); `seedance-batch verify` lists every such file"
    ]
    assert [e["source_sha256"] for e in _record(dest)] == [sha for sha, _ in images[:3]]
    changed.write_bytes(good)
    summary = export(load_manifest(campaign.manifest), str(dest), profiles=["original"])
    assert (summary.written, summary.kept, summary.removed) == (3, 3, 0)


def test_verify_reaches_a_destination_named_with_to(campaign: Campaign) -> None:
    """``verify --to DEST`` checks a destination export did not remember (its record moved
    with the files), and says when a destination has no record."""
    campaign.decide({campaign.images()[0][0]: "approved"})
    dest = campaign.folder / "dest"
    export(load_manifest(campaign.manifest), str(dest), profiles=["thumb"])
    (campaign.out / ".deliveries.json").unlink()
    moved = campaign.folder / "moved"
    dest.rename(moved)
    ok = campaign.cli("verify", "--to", str(moved))
    assert (ok.returncode, ok.stdout) == (0, "ok: 6 images, 1 delivered files in 1 destinations\n")
    empty = campaign.folder / "empty"
    empty.mkdir()
    bad = campaign.cli("verify", "--to", str(empty))
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"missing: {empty}/delivery.json (no record there)",
        "1 problems",
    ]


def test_an_endpoint_is_remembered_without_credentials(tmp_path: Path) -> None:
    """An S3 endpoint URL is remembered for verify without its user, password or query."""
    from seedance_batch.delivery._destinations import (
        Destination,
        read_destinations,
        remember_destination,
    )

    endpoint = "https://AKIAEXAMPLE:s3cr3t@minio.example:9000/?X-Amz-Signature=abc"
    remember_destination(tmp_path, Destination("s3://bucket/prefix", endpoint))
    text = (tmp_path / ".deliveries.json").read_text()
    assert "AKIAEXAMPLE" not in text and "s3cr3t" not in text and "Signature" not in text
    assert read_destinations(tmp_path) == [
        Destination("s3://bucket/prefix", "https://minio.example:9000/")
    ]


def test_no_review_file_is_refused_unless_all(campaign: Campaign) -> None:
    """Without a review file nothing is approved: export refuses (exit 2, one line naming
    the file and the way out) rather than deliver nothing; ``--all`` needs none."""
    dest = str(campaign.folder / "dest")
    done = campaign.cli("export", "--to", dest)
    assert done.returncode == 2
    review = campaign.folder / "delivery-test.review.yaml"
    assert done.stderr.splitlines() == [
        f"seedance-batch: error: {review}: no review file: approve images first "
        "(seedance-batch review), or deliver every succeeded image with --all"
    ]
    assert campaign.cli("export", "--to", dest, "--all", "--profile", "web").returncode == 0


def test_a_file_no_export_wrote_is_never_replaced(campaign: Campaign) -> None:
    """A file of someone else's at a name the export would write stops it (exit 1), untouched;
    the same bytes an export killed before its record left there are taken as they are."""
    campaign.decide({campaign.images()[0][0]: "approved"})
    dest = campaign.folder / "dest"
    manifest = load_manifest(campaign.manifest)
    export(manifest, str(dest), profiles=["original"])
    delivered = dest / "hero" / "serum_1x1-t1-1.png"
    ours = delivered.read_bytes()
    for name in ("delivery.json", "delivery.csv"):
        (dest / name).unlink()  # as if killed before the record was written
    again = export(manifest, str(dest), profiles=["original"])
    assert (again.written, again.kept) == (1, 0) and delivered.read_bytes() == ours
    for name in ("delivery.json", "delivery.csv"):
        (dest / name).unlink()
    delivered.write_bytes(b"the designer's own file")
    done = campaign.cli("export", "--to", str(dest), "--profile", "original")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"seedance-batch: error: {delivered}: a file no export wrote is in the way; move it "
        "away (or change delivery.name)"
    ]
    assert delivered.read_bytes() == b"the designer's own file"
