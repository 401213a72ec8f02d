"""A job's rows: one combination per row from the manifest or a CSV, JSONL or YAML file,
multiplied by the matrix, every problem at its file's line and column in one pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedance_batch import ManifestError, load_manifest, plan
from seedance_batch._problems import Problems
from seedance_batch._rows import _check_row, _validator
from seedance_batch._yaml import Loaded

Write = Callable[..., Path]

HEAD = "version: 1\nname: t\njobs:\n  - name: packshot\n"
PROMPT = '    prompt: "{title} in {colour}, {light}"\n'
MATRIX = "    matrix:\n      light: [studio, dusk]\n"
ROWS = [
    {"id": "sku-1", "title": "Serum", "colour": "amber", "size": "1:1"},
    {"id": "sku-2", "title": "Night, cream", "colour": "blue", "size": "4:5"},
]
CSV = 'id,title,colour,size\nsku-1,Serum,amber,1:1\nsku-2,"Night, cream",blue,4:5\n'


def _errors(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path))
    return [str(d) for d in caught.value.diagnostics if d.severity == "error"]


def _jobs(path: Path) -> list[tuple[str, dict[str, str], dict[str, object], str]]:
    return [
        (j.id, dict(j.variant), dict(j.request), j.output) for j in plan(load_manifest(path)).jobs
    ]


def test_rows_pair_values_and_the_matrix_multiplies_them(write_manifest: Write) -> None:
    """Rows come first in file order, each row's values paired, the matrix axes fastest."""
    path = write_manifest(HEAD + PROMPT + f"    rows: {json.dumps(ROWS)}\n" + MATRIX)
    jobs = _jobs(path)
    assert [(v, r["prompt"], r["size"]) for _, v, r, _ in jobs] == [
        ({"id": "sku-1", "light": "studio"}, "Serum in amber, studio", "1:1"),
        ({"id": "sku-1", "light": "dusk"}, "Serum in amber, dusk", "1:1"),
        ({"id": "sku-2", "light": "studio"}, "Night, cream in blue, studio", "4:5"),
        ({"id": "sku-2", "light": "dusk"}, "Night, cream in blue, dusk", "4:5"),
    ]
    assert jobs[0][3].startswith("packshot/sku-1_studio-")


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "yaml"])
def test_a_rows_file_plans_as_the_same_rows_inline(
    write_manifest: Write, tmp_path: Path, suffix: str
) -> None:
    """A .csv, .jsonl or .yaml file beside the manifest gives the same jobs as inline rows."""
    inline = _jobs(write_manifest(HEAD + PROMPT + f"    rows: {json.dumps(ROWS)}\n" + MATRIX))
    text = {
        "csv": CSV,
        "jsonl": "".join(json.dumps(r) + "\n" for r in ROWS),
        "yaml": "".join(f"- {json.dumps(r)}\n" for r in ROWS),
    }[suffix]
    (tmp_path / f"products.{suffix}").write_text(text, encoding="utf-8")
    path = write_manifest(HEAD + PROMPT + f"    rows: products.{suffix}\n" + MATRIX, "f.yaml")
    assert _jobs(path) == inline


def test_csv_errors_name_the_cell_and_the_manifest_line(
    write_manifest: Write, tmp_path: Path
) -> None:
    """Missing and extra cells, an empty cell a prompt names and a duplicate id each get one
    line at the CSV's line and 1-based column, naming the manifest line; with the manifest's
    own problems, in one pass."""
    (tmp_path / "p.csv").write_text(
        "id,title,colour\n"
        "a,Serum\n"  # line 2: a missing cell
        'b,"Tall, thin",red,extra\n'  # line 3: an extra cell
        "c,Toner,\n"  # line 4: an empty cell a prompt names
        "c,Oil,green\n",  # line 5: a duplicate id
        encoding="utf-8",
    )
    text = HEAD + '    prompt: "{title} in {colour}"\n    rows: p.csv\n    vars: {unused: 1}\n'
    path = write_manifest(text)
    via = f"(brought in by {path}:6:11: jobs[0].rows)"
    csv = str(tmp_path / "p.csv")
    assert _errors(path) == [
        f"{path}:7:12: jobs[0].vars.unused: variable 'unused' is not named by any prompt of "
        "the job",
        f"{csv}:2:8: rows[0]: missing 'colour': the header has 3 columns {via}",
        f"{csv}:3:20: rows[1]: an extra cell: the header has 3 columns {via}",
        f"{csv}:4:9: rows[2].colour: empty cell: a prompt names 'colour' {via}",
        f"{csv}:5:1: rows[3].id: id 'c' is already the id of rows[2] (line 4) {via}",
    ]


def test_a_quoted_multiline_cell_keeps_the_columns_after_it(
    write_manifest: Write, tmp_path: Path
) -> None:
    """Columns are counted in characters on the cell's own line, through quotes and newlines."""
    (tmp_path / "p.csv").write_text(
        'title,size\n"Crème ""brûlée"", two\nlines",huge\n', encoding="utf-8"
    )
    path = write_manifest(HEAD + '    prompt: "{title}"\n    rows: p.csv\n')
    (error,) = _errors(path)
    assert error.startswith(f"{tmp_path / 'p.csv'}:3:8: rows[0].size: 'huge' is not a size")


def test_a_rows_file_that_is_not_utf8_points_at_the_byte(
    write_manifest: Write, tmp_path: Path
) -> None:
    """A byte that is not UTF-8 is one line at its line and column, naming the manifest line."""
    (tmp_path / "p.csv").write_bytes(b"title\nCr\xe8me\n")
    path = write_manifest(HEAD + '    prompt: "{title}"\n    rows: p.csv\n')
    assert _errors(path) == [
        f"{tmp_path / 'p.csv'}:2:3: not UTF-8 text (brought in by {path}:6:11: jobs[0].rows)"
    ]


def test_extra_columns_are_allowed_and_not_sent_unless_a_near_miss(
    write_manifest: Write, tmp_path: Path
) -> None:
    """A column no prompt names is not sent; one that misspells a field is an error."""
    (tmp_path / "p.csv").write_text("title,Product Notes,price\nSerum,keep cold,12\n", "utf-8")
    path = write_manifest(HEAD + '    prompt: "{title}"\n    rows: p.csv\n')
    ((_, variant, request, _),) = _jobs(path)
    assert request == {"prompt": "Serum"}
    assert variant == {"title": "Serum"}
    (tmp_path / "p.csv").write_text("title,sizes\nSerum,1:1\n", "utf-8")
    (error,) = _errors(path)
    assert ":1:7: rows[0].sizes: column 'sizes' is no field" in error
    assert "did you mean 'size'?" in error


def test_field_columns_are_checked_as_fields(write_manifest: Write, tmp_path: Path) -> None:
    """A CSV ``n`` column is an integer; ``two`` is refused at its cell."""
    (tmp_path / "p.csv").write_text("title,n\nSerum,2\nToner,two\n", "utf-8")
    path = write_manifest(HEAD + '    prompt: "{title}"\n    rows: p.csv\n')
    (error,) = _errors(path)
    assert ":3:7: rows[1].n: expected an integer, got the string 'two'" in error
    (tmp_path / "p.csv").write_text("title,n\nSerum,2\n", "utf-8")
    ((_, _, request, _),) = _jobs(path)
    assert request["n"] == 2


def test_exclude_names_a_row_by_its_id_and_id_is_no_variable(write_manifest: Write) -> None:
    """``exclude: [{id: ...}]`` drops a row's combinations; ``{id}`` in a prompt has no value."""
    rows = f"    rows: {json.dumps(ROWS)}\n"
    path = write_manifest(HEAD + PROMPT + rows + MATRIX + "    exclude: [{id: sku-1}]\n")
    assert [v["id"] for _, v, _, _ in _jobs(path)] == ["sku-2", "sku-2"]
    path = write_manifest(HEAD + '    prompt: "{id} {title} {colour}"\n' + rows)
    (error,) = _errors(path)
    assert "placeholder {id} has no value" in error


def test_renaming_a_row_id_keeps_the_job_ids(write_manifest: Write) -> None:
    """A row's id is its name in paths, not part of the request: renaming it costs nothing."""
    before = _jobs(write_manifest(HEAD + PROMPT + f"    rows: {json.dumps(ROWS)}\n" + MATRIX))
    renamed = [{**r, "id": f"new-{r['id']}"} for r in ROWS]
    after = _jobs(write_manifest(HEAD + PROMPT + f"    rows: {json.dumps(renamed)}\n" + MATRIX))
    assert [j[0] for j in before] == [j[0] for j in after]
    assert after[0][3].startswith("packshot/new-sku-1_studio-")


@pytest.mark.parametrize("name", ["../p.csv", "/etc/p.csv"])
def test_a_rows_file_lies_in_the_manifests_folder(write_manifest: Write, name: str) -> None:
    """A rows path that leaves the manifest's folder is refused at the manifest's line."""
    path = write_manifest(HEAD + '    prompt: "{title}"\n' + f"    rows: {name}\n")
    (error,) = _errors(path)
    assert f"{path}:6:11: jobs[0].rows: '{name}' leaves the manifest's folder" in error


def test_rows_without_an_id_are_named_by_their_values(write_manifest: Write) -> None:
    """Without an id column the row's values are its labels and its slug."""
    path = write_manifest(HEAD + '    prompt: "{title}"\n    rows: [{title: Night Cream}]\n')
    ((_, variant, _, output),) = _jobs(path)
    assert variant == {"title": "Night Cream"}
    assert output.startswith("packshot/night-cream-")


_CELLS = st.one_of(
    st.sampled_from(["1:1", "16:9", "1k", "4K", "8k", "", "gpt-image-2-all", "x"]),
    st.integers(-1, 5),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=1),
)


@settings(deadline=None)  # the first example builds the validators
@given(
    st.dictionaries(
        st.sampled_from(["id", "size", "n", "resolution", "model", "title"]), _CELLS, min_size=1
    )
)
def test_the_rows_fast_check_agrees_with_the_schema(row: dict[str, object]) -> None:
    """A rows file's row passes the per-value check exactly when the schema's ``row`` passes."""
    out = Problems("r.csv", Loaded(data=None))
    _check_row(row, ("rows", 0), out)
    assert (out.items == []) == _validator("$defs/row").is_valid(row)
