"""The lockfile's bytes: round trip, stable pretty JSON, the schema, validation errors, paths."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _support.lockfiles import MANIFEST_SHA, finished, job_id, make_record

from seedance_batch._errors import LockfileError
from seedance_batch.lockfile import (
    JobRecord,
    Lockfile,
    default_lockfile_path,
    journal_path,
    read_lockfile,
    render_lockfile,
    schema_path,
)
from seedance_batch.lockfile._check import document_problem, job_problem

SCHEMA = json.loads(schema_path().read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def write_campaign(path: Path, records: list[JobRecord]) -> None:
    """Open ``path``, put ``records``, close."""
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        for record in records:
            lockfile.put(record)


def valid_document() -> dict[str, Any]:
    """A valid document with a new, a submitted, a succeeded and a failed job."""
    records = [
        make_record(0),
        make_record(1, state="submitted", task_id="t1", attempts=1),
        finished(make_record(2)),
        make_record(3, state="failed", attempts=3, error="HTTP 400: bad size"),
    ]
    doc: dict[str, Any] = json.loads(render_lockfile("spring", MANIFEST_SHA, records))
    return doc


def test_schema_is_valid_draft_2020_12() -> None:
    """The schema file itself is a valid JSON Schema 2020-12 document with descriptions."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert all(
        "description" in SCHEMA["$defs"]["job"]["properties"][k] for k in ("state", "attempts")
    )


def test_schema_reachable_from_the_package() -> None:
    """The module reads the schema as the package's own file, which is the repo's schemas/ one."""
    import seedance_batch.lockfile

    package = Path(seedance_batch.lockfile.__file__).parent.parent
    inside = package / "schemas" / "lockfile.schema.json"
    assert not inside.is_symlink() and inside.is_file()
    assert Path(str(schema_path())).resolve() == inside.resolve()
    repo_file = package.parent / "schemas" / "lockfile.schema.json"
    assert json.loads(repo_file.read_text("utf-8")) == SCHEMA


def test_default_lockfile_path() -> None:
    """``spring.yaml`` -> ``spring.lock.json`` beside it; the journal name matches .gitignore."""
    assert default_lockfile_path(Path("manifests/spring.yaml")) == Path(
        "manifests/spring.lock.json"
    )
    assert default_lockfile_path("a/b.c.yml") == Path("a/b.c.lock.json")
    assert journal_path(Path("m/spring.lock.json")) == Path("m/spring.lock.json.journal")
    assert journal_path("m/spring.lock.json").name.endswith(".lock.json.journal")


def test_round_trip(tmp_path: Path) -> None:
    """Records put in a run come back equal from read_lockfile and from the next open."""
    path = tmp_path / "spring.lock.json"
    records = [make_record(0), finished(make_record(1)), make_record(2, state="failed", error="x")]
    write_campaign(path, records)
    snapshot = read_lockfile(path)
    assert snapshot is not None
    assert snapshot.manifest_name == "spring" and snapshot.manifest_sha256 == MANIFEST_SHA
    assert list(snapshot.jobs.values()) == records
    assert snapshot.journal_entries == 0
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        assert list(lockfile.jobs.values()) == records
        assert lockfile.get(records[1].id) == records[1]


def test_absent_lockfile_reads_as_none(tmp_path: Path) -> None:
    """No lockfile and no journal: read_lockfile returns None and creates nothing."""
    assert read_lockfile(tmp_path / "spring.lock.json") is None
    assert list(tmp_path.iterdir()) == []


def test_committed_json_is_pretty_stable_and_valid(tmp_path: Path) -> None:
    """The file is indented JSON in a fixed key order, byte-identical for the same content
    (but for the nonce each new lockfile makes), ends with a newline, and validates against the
    schema with Draft202012Validator."""
    records = [finished(make_record(i)) for i in range(5)] + [make_record(5)]
    one, two = tmp_path / "one.lock.json", tmp_path / "two.lock.json"
    write_campaign(one, records)
    write_campaign(two, list(reversed(records)))
    with Lockfile.open(two, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        lockfile.compact([r.id for r in records])
    data = one.read_bytes()
    nonce = json.loads(data)["nonce"]
    assert data == two.read_bytes().replace(
        json.loads(two.read_bytes())["nonce"].encode(), nonce.encode()
    )
    doc = json.loads(data)
    assert data == (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    assert "—" in data.decode("utf-8")  # non-ASCII characters as themselves
    VALIDATOR.validate(doc)
    assert list(doc) == ["version", "manifest", "nonce", "output", "spent", "jobs"]
    assert list(doc["jobs"]) == [r.id for r in records]
    entry = doc["jobs"][records[0].id]
    assert list(entry)[:11] == [
        "job",
        "variant",
        "repeat",
        "request",
        "state",
        "task_id",
        "attempts",
        "submitted_at",
        "finished_at",
        "images",
        "error",
    ]
    assert list(entry["images"][0]) == ["url", "path", "sha256", "bytes"]


def test_render_matches_json_dumps_for_empty_and_odd_values() -> None:
    """render_lockfile equals json.dumps(indent=2) also for no jobs, empty maps and odd text."""
    odd = make_record(
        7,
        variant={},
        request={
            "prompt": 'quote " backslash \\ tab \t snow ☃',
            "n": 1,
            "x": [],
            "y": {},
            "z": 1.5,
        },
        error="line\nbreak",
    )
    for records in ([], [odd]):
        doc = {
            "version": 1,
            "manifest": {"name": "spring", "sha256": MANIFEST_SHA},
            "output": None,
            "spent": {"credits": 0, "possible_double_charges": 0},
            "jobs": {r.id: r.to_json() for r in records},
        }
        expected = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        assert render_lockfile("spring", MANIFEST_SHA, records) == expected
        doc = {**doc, "output": "../out ☃"}
        doc = {"version": 1, "manifest": doc["manifest"], "nonce": "0123456789abcdef", **doc}
        expected = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        rendered = render_lockfile(
            "spring", MANIFEST_SHA, records, nonce="0123456789abcdef", output="../out ☃"
        )
        assert rendered == expected


def test_no_credentials_are_stored(tmp_path: Path) -> None:
    """An ordinary record round-trips with no Authorization or key in the file; a request
    carrying one is refused before anything is written."""
    path = tmp_path / "spring.lock.json"
    record = finished(make_record(0))
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        lockfile.put(record)
        bad = make_record(1, request={"prompt": "p", "Authorization": "Bearer sk-secret"})
        with pytest.raises(ValueError, match="credential"):
            lockfile.put(bad)
        assert bad.id not in lockfile.jobs
        journal_text = journal_path(path).read_text("utf-8")
    text = path.read_text("utf-8")
    for needle in ("Authorization", "Bearer", "sk-secret", "api_key", "SEEDANCE_API_KEY"):
        assert needle not in text and needle not in journal_text
    snapshot = read_lockfile(path)
    assert snapshot is not None and snapshot.jobs[record.id] == record
    doc = valid_document()
    next(iter(doc["jobs"].values()))["request"]["Authorization"] = "Bearer x"
    assert not VALIDATOR.is_valid(doc)


def test_put_refuses_records_the_schema_refuses(tmp_path: Path) -> None:
    """put raises ValueError for a record the schema would refuse, and writes nothing."""
    path = tmp_path / "spring.lock.json"
    with Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA) as lockfile:
        size = journal_path(path).stat().st_size
        for bad in (
            make_record(0, state="done"),
            make_record(0, state="submitted"),  # no task id
            make_record(0, submitted_at="2025-11-25 16:18"),
            make_record(0, attempts=-1),
            make_record(0).replace(id="not-an-id"),
        ):
            with pytest.raises(ValueError):
                lockfile.put(bad)
        assert journal_path(path).stat().st_size == size
        assert dict(lockfile.jobs) == {}


def test_invalid_json_is_a_lockfile_error(tmp_path: Path) -> None:
    """A lockfile that is not JSON: LockfileError naming the file and the JSON error."""
    path = tmp_path / "spring.lock.json"
    path.write_text('{"version": 1,\n  "jobs": {\n', encoding="utf-8")
    with pytest.raises(LockfileError, match=r"spring\.lock\.json: not valid JSON: .*line"):
        read_lockfile(path)
    with pytest.raises(LockfileError, match="not valid JSON"):
        Lockfile.open(path, manifest_name="spring", manifest_sha256=MANIFEST_SHA)
    # the failed open released the lock and left the file alone
    assert path.read_text("utf-8").startswith('{"version": 1')


def _mutations() -> list[tuple[str, Any, str]]:
    """(name, mutate(doc), expected words) of schema violations."""
    first = job_id(0)

    def on_job(change: Any) -> Any:
        def mutate(doc: dict[str, Any]) -> None:
            change(doc["jobs"][first])

        return mutate

    def set_job(key: str, value: Any) -> Any:
        return on_job(lambda e: e.__setitem__(key, value))

    def drop_job(key: str) -> Any:
        return on_job(lambda e: e.pop(key))

    second = job_id(2)

    def on_image(key: str, value: Any) -> Any:
        def mutate(doc: dict[str, Any]) -> None:
            doc["jobs"][second]["images"][0][key] = value

        return mutate

    return [
        ("bad state", set_job("state", "done"), "'done' is not one of"),
        ("missing field", drop_job("attempts"), "'attempts' is a required property"),
        ("extra field", set_job("colour", "red"), "colour"),
        ("negative attempts", set_job("attempts", -1), "-1 is less than the minimum of 0"),
        ("string repeat", set_job("repeat", "0"), "'0' is not of type 'integer'"),
        ("bad timestamp", set_job("finished_at", "yesterday"), "yesterday"),
        ("variant of numbers", set_job("variant", {"n": 2}), "2 is not of type 'string'"),
        ("request without prompt", set_job("request", {"n": 1}), "'prompt' is a required"),
        ("bad job name", set_job("job", "Hero Shot"), "Hero Shot"),
        ("empty task id", set_job("task_id", ""), "task_id"),
        ("submitted without task id", set_job("state", "submitted"), "task_id"),
        ("bad image hash", on_image("sha256", "abc"), "'abc' does not match"),
        ("negative image size", on_image("bytes", -5), "bytes"),
        ("bad job id", lambda d: d["jobs"].__setitem__("XYZ", d["jobs"].pop(first)), "XYZ"),
        ("version 2", lambda d: d.__setitem__("version", 2), "version"),
        ("manifest without sha", lambda d: d["manifest"].pop("sha256"), "sha256"),
        ("jobs a list", lambda d: d.__setitem__("jobs", []), "jobs"),
        ("extra top-level key", lambda d: d.__setitem__("extra", 1), "extra"),
        ("not an object", lambda d: d.clear() or d.__setitem__("x", 1), "required property"),
    ]


@pytest.mark.parametrize(("name", "mutate", "words"), _mutations(), ids=lambda v: v)
def test_schema_violations_name_the_file_and_the_problem(
    tmp_path: Path, name: str, mutate: Any, words: str
) -> None:
    """Each schema violation is a LockfileError naming the file and what is wrong."""
    doc = valid_document()
    mutate(doc)
    assert not VALIDATOR.is_valid(doc), name
    path = tmp_path / "spring.lock.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    with pytest.raises(LockfileError) as caught:
        read_lockfile(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert words in message


def test_fast_check_agrees_with_jsonschema() -> None:
    """The hand-written check that loading uses accepts and refuses what the schema does."""
    base = valid_document()
    assert document_problem(base) is None and VALIDATOR.is_valid(base)
    for name, mutate, _words in _mutations():
        doc = copy.deepcopy(base)
        mutate(doc)
        assert document_problem(doc) is not None, name
        assert not VALIDATOR.is_valid(doc), name
    job_validator = jsonschema.Draft202012Validator(
        {"$ref": "#/$defs/job", "$defs": SCHEMA["$defs"]}
    )
    entry = base["jobs"][job_id(2)]
    variants: list[tuple[str, Any]] = [
        ("task_id", None),
        ("state", "failed"),
        ("state", ["new"]),
        ("job", 5),
        ("error", None),
        ("error", 5),
        ("images", []),
        ("images", [{}]),
        ("images", "x"),
        ("submitted_at", None),
        ("submitted_at", "2025-11-25T16:18:00.123+00:00"),
        ("submitted_at", "2025-11-25T16:18:00+02:00"),
        ("credits_charged", 0),
        ("credits_charged", -1),
        ("possible_double_charges", True),
        ("request", {"prompt": "p", "apiKey": "k"}),
        ("request", {"prompt": 3}),
        ("variant", {}),
        ("variant", []),
        ("repeat", True),
        ("attempts", 2.5),
    ]
    for key, value in variants:
        changed = {**entry, key: value}
        fast_ok = job_problem(changed) is None
        assert fast_ok == job_validator.is_valid(changed), (key, value)
    optional_missing = {k: v for k, v in entry.items() if k != "credits_charged"}
    assert job_problem(optional_missing) is None and job_validator.is_valid(optional_missing)


def test_an_entry_without_the_optional_fields_loads(tmp_path: Path) -> None:
    """An entry with the contract's fields only (no credits_charged, ...) loads with defaults."""
    doc = valid_document()
    for entry in doc["jobs"].values():
        del entry["credits_charged"], entry["possible_double_charges"]
    path = tmp_path / "spring.lock.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    snapshot = read_lockfile(path)
    assert snapshot is not None
    assert {r.credits_charged for r in snapshot.jobs.values()} == {0}


def test_record_helpers() -> None:
    """replace() makes a changed copy that round-trips through to_json/from_json."""
    record = make_record(0)
    submitting = record.replace(state="submitting", attempts=2)
    assert record.state == "new" and submitting.state == "submitting"
    assert JobRecord.from_json(record.id, submitting.to_json()) == submitting
