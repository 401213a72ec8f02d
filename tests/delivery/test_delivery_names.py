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


ROWS_TEMPLATE = 'delivery:\n  name: "{job}/{sku_name}-{title}-{size}-{id}-{index}.{ext}"\n'
ROWS_JOB = 'jobs:\n  - name: packshot\n    prompt: "A {title} bottle"\n    rows: p.csv\n'
ROWS_MANIFEST = "version: 1\nname: rows\n" + ROWS_TEMPLATE + ROWS_JOB
#: A catalogue export: a prompt variable, a field, two columns not sent (one blank cell).
CATALOGUE = "id,title,size,sku_name,notes\nsku-1,Serum,1:1,Serum Ten,\nsku-2,Night Cream,4:5,N5,x\n"


def _validate_rows(
    tmp_path: Path, csv: str, manifest: str = ROWS_MANIFEST
) -> tuple[int, list[str]]:
    path = tmp_path / "rows.yaml"
    path.write_text(manifest, encoding="utf-8")
    (tmp_path / "p.csv").write_text(csv, encoding="utf-8")
    done = run_cli("validate", str(path))
    lines = done.stderr.splitlines()
    return done.returncode, [
        line.replace(str(path), "M").replace(str(tmp_path), "T") for line in lines
    ]


def test_every_rows_column_names_delivered_files(tmp_path: Path) -> None:
    """A row with an id gives the template its id, its prompt variable, its field and a column
    no prompt names, as slugs; the jobs (ids, variants, requests, folders) stay as they were
    without those columns."""
    code, lines = _validate_rows(tmp_path, CATALOGUE)
    assert (code, lines) == (0, [])
    manifest = load_manifest(tmp_path / "rows.yaml")
    namer = Namer(manifest.delivery, manifest.jobs)
    jobs = plan(manifest).jobs
    assert [namer.name(job, 1, 1, "png") for job in jobs] == [
        "packshot/serum-ten-serum-1x1-sku-1-1.png",
        "packshot/n5-night-cream-4x5-sku-2-1.png",
    ]
    (tmp_path / "p.csv").write_text("id,title,size\nsku-1,Serum,1:1\nsku-2,Night Cream,4:5\n")
    (tmp_path / "bare.yaml").write_text(ROWS_MANIFEST.replace(ROWS_TEMPLATE, ""))
    bare = plan(load_manifest(tmp_path / "bare.yaml")).jobs
    assert [(j.id, j.variant, j.body, j.output) for j in jobs] == [
        (j.id, j.variant, j.body, j.output) for j in bare
    ]


def test_rows_without_ids_give_their_columns_too(tmp_path: Path) -> None:
    """Without an id column a row is found by its values: its column no prompt names still
    names the file."""
    manifest = ROWS_MANIFEST.replace("-{size}-{id}-", "-{size}-")
    code, lines = _validate_rows(tmp_path, "title,size,sku_name\nSerum,1:1,S 10\n", manifest)
    assert (code, lines) == (0, [])
    loaded = load_manifest(tmp_path / "rows.yaml")
    (job,) = plan(loaded).jobs
    assert (
        Namer(loaded.delivery, loaded.jobs).name(job, 1, 1, "png")
        == "packshot/s-10-serum-1x1-1.png"
    )


def test_an_empty_cell_the_template_names_is_an_error_at_the_template(tmp_path: Path) -> None:
    """A blank cell of a column no prompt names is allowed until the template names it: then
    one line at the template's line that points at the cell; a near miss of a field and an
    empty cell a prompt names stay errors, in the same pass."""
    code, lines = _validate_rows(tmp_path, CATALOGUE.replace("N5", ""))
    assert code == 2
    assert lines == [
        "M:4:9: delivery.name: {sku_name} is empty for job 'packshot' (id=sku-2): the cell "
        "rows[1].sku_name at T/p.csv:3:23; a delivered name needs every value it names"
    ]
    code, lines = _validate_rows(
        tmp_path, "id,title,sizes,sku_name\nsku-1,,1:1,S\n", ROWS_MANIFEST.replace("-{size}", "")
    )
    assert code == 2
    assert [line.split(" (brought in by ")[0] for line in lines] == [
        "T/p.csv:1:10: rows[0].sizes: column 'sizes' is no field and no prompt names it; "
        "did you mean 'size'?",
        "T/p.csv:2:7: rows[0].title: empty cell: a prompt names 'title'",
    ]


def test_an_include_without_a_rows_column_is_an_error_at_the_template(tmp_path: Path) -> None:
    """An ``include`` entry of a rows job is no row: a column it lacks has no value for it,
    reported at validate rather than at export."""
    manifest = ROWS_MANIFEST + '    include:\n      - {id: new-1, title: Toner, size: "1:1"}\n'
    code, lines = _validate_rows(tmp_path, CATALOGUE, manifest)
    assert code == 2
    assert lines == [
        "M:4:9: delivery.name: {sku_name} has no value for job 'packshot' "
        "(id=new-1, title=Toner, size=1:1)"
    ]
