"""``delivery`` in the manifest, checked at ``validate`` in one pass with the other errors, at
the template's line: a placeholder some job lacks, names two images share, names that would
leave DEST; values always go in as slugs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from _support.campaign import run_cli

from seedance_batch._manifest import load_manifest
from seedance_batch._planner import plan
from seedance_batch.delivery._names import Namer, check_name

HEAD = """\
version: 1
name: names
jobs:
  - name: hero
    prompt: "A {product} bottle"
    matrix:
      product: [serum, Night Cream, "a/b", ".."]
      size: ["1:1", "16:9"]
  - name: pair
    prompt: "Two bottles"
    n: 2
"""


def _validate(tmp_path: Path, delivery: str) -> tuple[int, list[str]]:
    path = tmp_path / "names.yaml"
    path.write_text(HEAD + textwrap.dedent(delivery), encoding="utf-8")
    done = run_cli("validate", str(path))
    return done.returncode, [line.replace(str(path), "M") for line in done.stderr.splitlines()]


def test_a_placeholder_a_job_lacks_is_an_error_at_the_template(tmp_path: Path) -> None:
    """{product} has no value in job pair: one line at the template's line and column."""
    code, lines = _validate(
        tmp_path, 'delivery:\n  name: "{job}/{variant}-{product}-{index}.{ext}"\n'
    )
    assert code == 2
    assert lines == [
        "M:13:9: delivery.name: {product} has no value in job 'pair'; placeholders are job, "
        "variant, id8, take, index, ext and the names of the job's axes or row keys"
    ]


def test_names_two_images_share_are_an_error(tmp_path: Path) -> None:
    """A template without the size gives two images of hero the same name: an error that
    names both images, reported with the schema's errors in one pass."""
    code, lines = _validate(
        tmp_path,
        """\
        delivery:
          name: "{job}/{variant}-{index}.{ext}"
          profiles:
            web: {format: gif}
        """,
    )
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("M:15:19: delivery.profiles.web.format: ")
    code, lines = _validate(tmp_path, 'delivery:\n  name: "{job}/{product}-{index}.{ext}"\n')
    assert code == 2
    code, lines = _validate(
        tmp_path,
        """\
        delivery:
          name: "{job}/{size}-{index}.{ext}"
        """,
    )
    assert code == 2
    assert "M:13:9: delivery.name: {size} has no value in job 'pair'" in lines[-1]
    assert (
        "M:13:9: delivery.name: job 'hero' (product=serum, size=1:1) image 1 and job 'hero' "
        "(product=Night Cream, size=1:1) image 1 would both be named 'hero/1x1-1.ext'; add "
        "placeholders that tell them apart ({variant}, {id8}, {index})"
    ) in lines


def test_a_template_that_leaves_dest_is_an_error(tmp_path: Path) -> None:
    """A template that climbs out of DEST (``../``) or is absolute is refused at validate."""
    for template in ("../{job}-{variant}-{index}.{ext}", "/{job}/{variant}-{index}.{ext}"):
        code, lines = _validate(tmp_path, f'delivery:\n  name: "{template}"\n')
        assert code == 2, template
        assert lines[0].startswith("M:13:9: delivery.name: "), lines


def test_only_plain_placeholders_and_no_original_profile(tmp_path: Path) -> None:
    """A format spec or conversion in the template, and a profile named ``original``, are
    errors."""
    code, lines = _validate(
        tmp_path,
        """\
        delivery:
          name: "{job!r}/{variant:>10}.{ext}"
          profiles:
            original: {format: png}
        """,
    )
    assert code == 2
    assert lines == [
        "M:13:9: delivery.name: {job!r}: only plain {name} placeholders are allowed",
        "M:15:5: delivery.profiles.original: 'original' is the profile of the original bytes; "
        "name yours otherwise",
    ]


def test_the_default_template_validates(tmp_path: Path) -> None:
    """A manifest without ``delivery`` (the default template) validates: every name differs."""
    code, lines = _validate(tmp_path, "")
    assert (code, lines) == (0, [])


@pytest.mark.parametrize(
    "name",
    ["", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", "a\x00b", "delivery.json", "x" * 300],
)
def test_check_name_refuses_names_outside_dest(name: str) -> None:
    """Empty, absolute, climbing, backslashed, control-character, over-long names and the
    record's own names are refused."""
    assert check_name(name) is not None


def test_values_go_in_as_slugs(tmp_path: Path) -> None:
    """A value with a slash, dots or spaces becomes a slug: the name stays one part."""
    path = tmp_path / "names.yaml"
    path.write_text(HEAD, encoding="utf-8")
    manifest = load_manifest(path)
    namer = Namer(manifest.delivery)
    hero = [job for job in plan(manifest).jobs if job.job == "hero"]
    names = [namer.name(job, 1, 1, "png") for job in hero]
    assert names[:2] == ["hero/serum_1x1-t1-1.png", "hero/serum_16x9-t1-1.png"]
    assert names[2] == "hero/night-cream_1x1-t1-1.png"
    assert all(check_name(n) is None and n.count("/") == 1 for n in names)
    values = [namer.values(job)["product"] for job in hero]
    assert values[4:] == ["a-b", "a-b", "product-" + values[6][-4:], values[6]]


def test_a_fragment_brings_profiles_and_the_manifest_its_template(tmp_path: Path) -> None:
    """A brand kit's ``delivery.profiles`` and the manifest's own ``delivery.name`` are merged
    key by key, as the other sections of a fragment are."""
    (tmp_path / "kit.yaml").write_text(
        "delivery:\n  profiles:\n    web: {format: webp, max_size: 1600}\n", encoding="utf-8"
    )
    path = tmp_path / "names.yaml"
    path.write_text(
        HEAD.replace("name: names\n", "name: names\nextends: kit.yaml\n")
        + 'delivery:\n  name: "{job}/{variant}-{index}.{ext}"\n',
        encoding="utf-8",
    )
    delivery = load_manifest(path).delivery
    assert delivery.name == "{job}/{variant}-{index}.{ext}"
    assert [(p.name, p.format, p.max_size, p.quality) for p in delivery.profiles] == [
        ("web", "webp", 1600, 85)
    ]
    assert delivery.profile_names == ("original", "web")
