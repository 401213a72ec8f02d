"""Each hand-written fast path beside its reference version, with a property that they agree.

The fast paths: the canonical-JSON encoder (and the planner's request bodies spliced around the
prompt), the lockfile's pretty printer, the plan JSON built from strings, the lockfile's fast
check beside its schema, the lockfile's fast parse beside json's strict one, the timestamps
beside strptime and strftime, JobRecord.replace beside dataclasses.replace, a download's URL
without its query beside httpx's copy_with, and the journal's put lines (a compact encoder made
once, a job's plan fields encoded once) beside json.dumps of the whole line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from seedance_batch import _planner, _rules, reports
from seedance_batch._clock import TIMESTAMP_FORMAT, parse_timestamp, utc_timestamp
from seedance_batch._errors import ManifestError
from seedance_batch._manifest import load_manifest
from seedance_batch._planner import Plan, canonical_json
from seedance_batch._schemas import load_schema
from seedance_batch.client._client import without_query
from seedance_batch.lockfile import (
    STATES,
    ImageRecord,
    JobRecord,
    Lockfile,
    Spent,
    TakeRecord,
    render_lockfile,
)
from seedance_batch.lockfile._check import document_problem, job_problem
from seedance_batch.lockfile._render import compact, pretty
from seedance_batch.lockfile._strict_json import parse_json_fast, unique_object

SETTINGS = settings(max_examples=150, deadline=None)
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# JSON values

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
TRICKY_TEXT = st.sampled_from(["", "\x00", "\n", '"', "\\", "\u2028", "é", "\U0001f600", "\x7f"])
STRINGS = st.one_of(TEXT, TRICKY_TEXT)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    STRINGS,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(STRINGS, inner, max_size=4)
    ),
    max_leaves=20,
)


def _reference_canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@SETTINGS
@given(JSON_VALUES)
def test_canonical_json_is_json_dumps_sorted_and_compact(value: Any) -> None:
    """canonical_json (json's C encoder, built once) is json.dumps(sort_keys, compact, UTF-8)."""
    assert canonical_json(value) == _reference_canonical(value)


@SETTINGS
@given(JSON_VALUES)
def test_pretty_printer_is_json_dumps_indented(value: Any) -> None:
    """The lockfile's pretty writer writes what json.dumps(indent=2, ensure_ascii=False) writes."""
    out: list[str] = []
    pretty(value, "", out)
    assert "".join(out) == json.dumps(value, indent=2, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# The lockfile's rendering

HEX = "0123456789abcdef"
JOB_IDS = st.text(HEX, min_size=16, max_size=16)
SLUGS = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,10}\Z")
COUNTS = st.integers(0, 2**40)
TIMESTAMPS = st.sampled_from([None, "2025-11-25T16:18:00Z", "2025-11-25T16:18:00.5+00:00"])
IMAGES = st.builds(
    ImageRecord,
    url=STRINGS.filter(bool),
    path=STRINGS.filter(bool),
    sha256=st.text(HEX, min_size=64, max_size=64),
    bytes=COUNTS,
)
TAKES = st.builds(
    TakeRecord,
    take=st.integers(1, 9),
    task_id=st.one_of(st.none(), STRINGS.filter(bool)),
    state=st.sampled_from(STATES),
    attempts=COUNTS,
    submitted_at=TIMESTAMPS,
    finished_at=TIMESTAMPS,
    images=st.lists(IMAGES, max_size=2).map(tuple),
    error=st.one_of(st.none(), STRINGS),
)
REQUESTS = st.fixed_dictionaries(
    {"prompt": STRINGS}, optional={"model": STRINGS, "n": st.sampled_from(_rules.N_VALUES)}
)
RECORDS = st.builds(
    JobRecord,
    id=JOB_IDS,
    job=SLUGS,
    variant=st.dictionaries(STRINGS, STRINGS, max_size=3),
    repeat=COUNTS,
    request=REQUESTS,
    state=st.sampled_from(STATES),
    task_id=st.one_of(st.none(), STRINGS.filter(bool)),
    attempts=COUNTS,
    submitted_at=TIMESTAMPS,
    finished_at=TIMESTAMPS,
    images=st.lists(IMAGES, max_size=2).map(tuple),
    error=st.one_of(st.none(), STRINGS),
    credits_charged=COUNTS,
    possible_double_charges=COUNTS,
    task_missing=COUNTS,
    takes=st.lists(TAKES, max_size=2).map(tuple),
    nonce=st.one_of(st.none(), st.text(HEX, min_size=16, max_size=16)),
)


@FEW
@given(
    name=SLUGS,
    sha=st.text(HEX, min_size=64, max_size=64),
    records=st.lists(RECORDS, max_size=4, unique_by=lambda r: r.id),
    nonce=st.one_of(st.none(), JOB_IDS),
    output=st.one_of(st.none(), STRINGS.filter(bool)),
    spent=st.one_of(st.none(), st.builds(Spent, COUNTS, COUNTS)),
)
def test_render_lockfile_is_json_dumps_of_the_document(
    name: str,
    sha: str,
    records: list[JobRecord],
    nonce: str | None,
    output: str | None,
    spent: Spent | None,
) -> None:
    """render_lockfile's bytes are json.dumps(document, indent=2, ensure_ascii=False) + "\\n",
    with the contract's key order, and read back as the same document."""
    rendered = render_lockfile(name, sha, records, nonce=nonce, output=output, spent=spent)
    document: dict[str, Any] = {"version": 1, "manifest": {"name": name, "sha256": sha}}
    if nonce is not None:
        document["nonce"] = nonce
    document["output"] = output
    document["spent"] = (spent or Spent.over(records)).to_json()
    document["jobs"] = {record.id: record.to_json() for record in records}
    reference = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert rendered == reference.encode("utf-8")
    assert json.loads(rendered) == json.loads(reference)


# ---------------------------------------------------------------------------------------------
# The lockfile's fast check beside its schema


def _ecma_pattern(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: ``$`` ends the string (Python's also matches before
    a final newline, so ``"abc\\n"`` would pass ``^[a-z]+$`` there)."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _pattern(
    validator: Any, pattern: str, instance: object, schema: object
) -> Iterator[jsonschema.ValidationError]:
    if isinstance(instance, str) and re.search(_ecma_pattern(pattern), instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _strict_integer(_checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _reference_validator(schema: dict[str, Any]) -> Any:
    """The lockfile schema under jsonschema, with ECMA anchors and integers that are ints (the
    tool writes counts as ints and refuses ``1.0``, as the manifest's validator does)."""
    base = jsonschema.Draft202012Validator
    cls = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        base,
        validators={"pattern": _pattern},
        type_checker=base.TYPE_CHECKER.redefine("integer", _strict_integer),
    )
    return cls(schema)


LOCK_SCHEMA = load_schema("lockfile")
DOCUMENT_VALIDATOR = _reference_validator(LOCK_SCHEMA)
JOB_VALIDATOR = _reference_validator({"$ref": "#/$defs/job", "$defs": LOCK_SCHEMA["$defs"]})

#: Values near each field's edge, and of every JSON type, to put in place of a good one.
_ODD_VALUES: list[Any] = [None, True, False, 0, -1, 1, 1.0, 2.5, "", "x", "abc\n", "Abc"]
_ODD_VALUES += ["a" * 64, "a" * 65, "0123456789abcdef", "0123456789abcdef\n", "0123456789ABCDEF"]
_ODD_VALUES += ["new", "succeeded", "2025-11-25T16:18:00Z", "2025-11-25T16:18:00Z\n"]
_ODD_VALUES += ["2025-11-25 16:18:00Z", "2025-11-25T16:18:00.1234567890Z", HEX * 4, HEX * 4 + "\n"]
_ODD_VALUES += [[], {}, [1], {"a": 1}, {"prompt": 1}, {"prompt": "p", "api_key": "k"}, {"a": "b"}]
_ODD_VALUES += [["t1"], ["t1", ""]]  # other_tasks, good and bad
ODD = st.one_of(
    st.sampled_from(_ODD_VALUES),
    JSON_VALUES,
)


#: Fields a job entry may add: the optional ones a record leaves out, and one never allowed.
EXTRA_FIELDS = ("task_missing", "other_tasks", "takes", "nonce", "extra")


@st.composite
def job_entries(draw: st.DrawFn) -> dict[str, Any]:
    """A lockfile job entry, mostly good: some fields changed, dropped or added."""
    entry = draw(RECORDS).to_json()
    for name in draw(st.lists(st.sampled_from([*entry, *EXTRA_FIELDS]), max_size=2)):
        action = draw(st.sampled_from(["replace", "replace", "drop"]))
        if action == "drop":
            entry.pop(name, None)
        elif name == "takes" and draw(st.booleans()):
            take = draw(TAKES).to_json()
            for key in draw(st.lists(st.sampled_from([*take, "other"]), max_size=2)):
                if draw(st.booleans()):
                    take.pop(key, None)
                else:
                    take[key] = draw(ODD)
            entry["takes"] = [take]
        elif name == "images" and draw(st.booleans()):
            image = _image_entry(draw(IMAGES))
            for key in draw(st.lists(st.sampled_from([*image, "other"]), max_size=2)):
                if draw(st.booleans()):
                    image.pop(key, None)
                else:
                    image[key] = draw(ODD)
            entry["images"] = [image]
        else:
            entry[name] = draw(ODD)
    return entry


def _image_entry(image: ImageRecord) -> dict[str, Any]:
    return {"url": image.url, "path": image.path, "sha256": image.sha256, "bytes": image.bytes}


@settings(max_examples=400, deadline=None)
@given(job_entries())
def test_job_fast_check_accepts_and_refuses_as_the_schema(entry: dict[str, Any]) -> None:
    """job_problem finds a problem exactly when the schema's $defs/job refuses the entry."""
    assert (job_problem(entry) is None) == JOB_VALIDATOR.is_valid(entry)


@st.composite
def lockfile_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A lockfile document, mostly good: some top-level fields changed, dropped or added."""
    records = draw(st.lists(RECORDS, max_size=2, unique_by=lambda r: r.id))
    document: dict[str, Any] = {
        "version": 1,
        "manifest": {"name": draw(SLUGS), "sha256": draw(st.text(HEX, min_size=64, max_size=64))},
        "nonce": draw(JOB_IDS),
        "output": draw(st.one_of(st.none(), STRINGS.filter(bool))),
        "spent": {"credits": draw(COUNTS), "possible_double_charges": draw(COUNTS)},
        "jobs": {r.id: r.to_json() for r in records},
    }
    fields = [*document, "extra", "manifest.name", "manifest.sha256", "spent.credits", "jobs.id"]
    for name in draw(st.lists(st.sampled_from(fields), max_size=2)):
        drop = draw(st.booleans())
        if name == "jobs.id" and isinstance(document.get("jobs"), dict):
            document["jobs"][draw(ODD.filter(lambda v: isinstance(v, str)))] = draw(job_entries())
        elif "." in name:
            outer, inner = name.split(".")
            if isinstance(document.get(outer), dict):
                document[outer] = dict(document[outer])
                if drop:
                    document[outer].pop(inner, None)
                else:
                    document[outer][inner] = draw(ODD)
        elif drop:
            document.pop(name, None)
        else:
            document[name] = draw(ODD)
    return document


@settings(max_examples=300, deadline=None)
@given(lockfile_documents())
def test_document_fast_check_accepts_and_refuses_as_the_schema(document: dict[str, Any]) -> None:
    """document_problem finds a problem exactly when the lockfile schema refuses the document."""
    assert (document_problem(document) is None) == DOCUMENT_VALIDATOR.is_valid(document)


def test_the_reference_validator_can_refuse_and_accept() -> None:
    """The reference is no rubber stamp: a good entry passes, a trailing newline does not."""
    good = JobRecord("0123456789abcdef", "hero", {}, 0, {"prompt": "p"}).to_json()
    assert JOB_VALIDATOR.is_valid(good) and job_problem(good) is None
    bad = {**good, "job": "hero\n"}
    assert not JOB_VALIDATOR.is_valid(bad) and job_problem(bad) is not None
    assert jsonschema.Draft202012Validator(JOB_VALIDATOR.schema).is_valid(bad)  # Python's `$`


# ---------------------------------------------------------------------------------------------
# The lockfile's fast parse (orjson, duplicates found by counting) beside json's strict one

#: Keys as written in the text: a few, so that duplicates are common, colons and escapes among them.
KEY_TEXTS = st.sampled_from(['"a"', '"b"', '":"', '"a:b"', '"\\u003a"', '"\\u0061"', '"é"'])
LEAF_TEXTS = st.one_of(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        STRINGS,
    ).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.sampled_from(['"\\u003a"', '":"', '"x\\"y"', "1e400", "NaN", "123456789012345678901234"]),
)
JSON_TEXTS = st.recursive(
    LEAF_TEXTS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(KEY_TEXTS, inner), max_size=4).map(
            lambda pairs: "{" + ",\n ".join(f"{k}: {v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=16,
)


def _beyond_64_bits_as_floats(value: Any) -> Any:
    """``value`` as orjson reads it: an integer beyond 64 bits becomes a float (the lean read
    then refuses it as a count, and the strict parse decides)."""
    if isinstance(value, dict):
        return {k: _beyond_64_bits_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_beyond_64_bits_as_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**64:
        return float(value)
    return value


@settings(max_examples=400, deadline=None)
@given(JSON_TEXTS)
def test_fast_parse_is_the_strict_parse_or_declines(text: str) -> None:
    """parse_json_fast gives what json with the duplicate-refusing hook gives, or None: never
    a document the strict parse refuses (a duplicate key anywhere), never another value (but
    integers beyond 64 bits, as floats); and of objects it declines only what it cannot vouch
    for (escaped colons, odd numbers)."""
    data = text.encode("utf-8")
    try:
        expected, strict_ok = json.loads(data, object_pairs_hook=unique_object), True
    except ValueError:
        expected, strict_ok = None, False
    fast = parse_json_fast(data)
    if fast is not None:
        assert strict_ok and fast == _beyond_64_bits_as_floats(expected)
    odd = (b"\\u003", b"NaN", b"e400")
    if isinstance(expected, dict) and not any(part in data for part in odd):
        assert fast is not None


def test_fast_parse_declines_a_duplicate_hidden_by_an_escaped_colon() -> None:
    """A duplicate whose lost pair is made up for by a colon escaped in a string (the counts
    would agree) is declined: the escape is seen."""
    assert parse_json_fast(b'{"a": "x", "a": "\\u003a"}') is None
    assert parse_json_fast(b'{"a": "x", "b": ":"}') == {"a": "x", "b": ":"}


# ---------------------------------------------------------------------------------------------
# The planner's request bodies and the plan JSON

PROMPT_TEXT = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="{}"), min_size=1, max_size=12
)
FIELD_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
    st.sampled_from(["\x00prompt\x00", '"prompt":', "é", "gpt-image-2-all"]),
)


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """Small manifests whose prompts and fields hold any text JSON must escape."""
    jobs = []
    for index in range(draw(st.integers(1, 2))):
        job: dict[str, Any] = {"name": f"job-{index}"}
        if draw(st.booleans()):
            job["prompts"] = draw(
                st.dictionaries(
                    st.from_regex(r"\A[a-z][a-z0-9]{0,4}\Z"),
                    PROMPT_TEXT.map(lambda t: t + " {v}"),
                    min_size=1,
                    max_size=2,
                )
            )
        else:
            job["prompt"] = draw(PROMPT_TEXT) + " {v}"
        matrix: dict[str, list[Any]] = {
            "v": draw(st.lists(st.one_of(PROMPT_TEXT, st.integers(-5, 5)), min_size=1, max_size=3))
        }
        if draw(st.booleans()):
            matrix["model"] = draw(st.lists(FIELD_TEXT, min_size=1, max_size=2, unique=True))
        if draw(st.booleans()):
            job["provider"] = draw(FIELD_TEXT)
        job["matrix"] = matrix
        job["resolution"] = draw(st.sampled_from(["1k", "4K"]))
        job["size"] = draw(st.sampled_from(["1:1", "16:9", "9:21"]))
        job["n"] = draw(st.sampled_from(_rules.N_VALUES))
        job["repeat"] = draw(st.integers(1, 2))
        jobs.append(job)
    return {"version": 1, "name": "fast-paths", "jobs": jobs}


def _plan_of(data: dict[str, Any]) -> Plan:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        try:
            manifest = load_manifest(path)
            result = _planner.plan(manifest)
        except ManifestError:
            assume(False)
            raise
    assume(result.jobs)
    return result


def _reference_request(data: dict[str, Any], job: _planner.Job) -> dict[str, object]:
    """The request of ``job`` made the slow way: its manifest job's fields and its combination
    through the rules' request_body, the prompt filled with str.format."""
    (spec,) = (j for j in data["jobs"] if j["name"] == job.job)
    variant = dict(job.variant)
    template = spec["prompts"][variant["prompt"]] if "prompts" in spec else spec["prompt"]
    fields: dict[str, object] = {"prompt": template.format(v=variant["v"])}
    for name in ("model", "provider", "size", "n"):
        if name in variant:
            fields[name] = variant[name]
        elif name in spec:
            fields[name] = spec[name]
    fields["resolution"] = spec["resolution"].lower()
    return _rules.request_body(fields)


@FEW
@given(manifests())
def test_spliced_request_bodies_are_canonical_json(data: dict[str, Any]) -> None:
    """The planner's body (spliced around the prompt) is canonical JSON of the request the rules
    make, its id is job_id's, and Job.request is that request, in the body's key order."""
    for job in _plan_of(data).jobs:
        request = _reference_request(data, job)
        assert job.body == _reference_canonical(request)
        assert job.request == request == json.loads(job.body)
        assert list(job.request) == list(json.loads(job.body))
        canonical = _reference_canonical({"request": request, "repeat": job.repeat})
        assert job.id == hashlib.sha256(canonical.encode()).hexdigest()[:16]
        assert job.id == _planner.job_id(request, job.repeat)


def _reference_plan_json(plan: Plan) -> str:
    """The plan JSON built with json, value by value, in the contract's layout."""
    manifest = plan.manifest
    lines = []
    for job in plan.jobs:
        fields = {
            "id": json.dumps(job.id, ensure_ascii=False),
            "job": json.dumps(job.job, ensure_ascii=False),
            "variant": json.dumps(dict(job.variant), ensure_ascii=False),
            "repeat": json.dumps(job.repeat),
            "request": _reference_canonical(dict(job.request)),
            "images": json.dumps(job.images),
            "credits": json.dumps(job.credits),
            "output": json.dumps(job.output, ensure_ascii=False),
            "state": json.dumps(plan.state(job.id)),
        }
        lines.append("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}")
    totals = plan.totals
    totals_json = {
        "jobs": totals.jobs,
        "images": totals.images,
        "credits": totals.credits,
        "credits_to_spend": totals.credits_to_spend,
        "credits_to_retry": totals.credits_to_retry,
        "credits_to_reroll": totals.credits_to_reroll,
        "credits_spent": totals.credits_spent,
        "by_state": totals.by_state,
        "by_model": totals.by_model,
        "by_resolution": totals.by_resolution,
    }
    head = json.dumps({"manifest": manifest.file, "name": manifest.name}, ensure_ascii=False)
    jobs = "[\n  " + ",\n  ".join(lines) + "\n ]" if lines else "[]"
    tail = (
        f',\n "totals": {json.dumps(totals_json, ensure_ascii=False)},'
        f'\n "budget": {json.dumps(plan.budget.to_json(), ensure_ascii=False)}}}\n'
    )
    return head[:-1] + ",\n " + '"jobs": ' + jobs + tail


@FEW
@given(manifests(), st.integers(1, 4))
def test_plan_json_from_strings_is_the_json_reference(data: dict[str, Any], chunk: int) -> None:
    """plan_json_chunks (strings joined by hand, in chunks) gives the bytes of the plan built
    with json, which reads back as the same jobs."""
    result = _plan_of(data)
    fast = "".join(reports.plan_json_chunks(result, lines_per_chunk=chunk))
    assert fast == _reference_plan_json(result)
    loaded = json.loads(fast)
    assert [job["id"] for job in loaded["jobs"]] == [job.id for job in result.jobs]
    assert [job["request"] for job in loaded["jobs"]] == [job.request for job in result.jobs]


def test_job_request_is_a_field_made_once(tmp_path: Path) -> None:
    """Job.request is a stored field (no JSON parsed at each access), the body's mapping."""
    assert "request" in _planner.Job._fields
    assert not isinstance(vars(_planner.Job).get("request"), property)
    path = tmp_path / "m.yaml"
    path.write_text(
        'version: 1\nname: one\njobs:\n  - {name: a, prompt: "hi {x}", matrix: {x: [1, 2]}}\n'
    )
    for job in _planner.plan(load_manifest(path)).jobs:
        assert job.request is job.request
        assert job.request == json.loads(job.body)


def _strptime_seconds(text: str) -> float | None:
    try:
        moment = datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc).timestamp()


def _fast_seconds(text: str) -> float | None:
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


_STAMPS = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.strftime(TIMESTAMP_FORMAT)),
    st.from_regex(r"\A\d{4}-\d{1,2}-\d{2}T\d{2}:\d{1,2}:\d{2}Z?\Z"),
    st.text(max_size=24),
)


@SETTINGS
@given(_STAMPS)
def test_timestamp_fast_parse_is_strptime(text: str) -> None:
    """parse_timestamp reads what strptime reads, to the same instant, and refuses the rest."""
    assert _fast_seconds(text) == _strptime_seconds(text)


@SETTINGS
@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False))
def test_timestamp_of_a_second_formatted_once_is_strftime(at: float) -> None:
    """utc_timestamp (each second formatted once) writes what strftime writes."""
    expected = datetime.fromtimestamp(at, timezone.utc).strftime(TIMESTAMP_FORMAT)
    assert utc_timestamp(at) == expected


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "state": st.sampled_from(sorted(STATES)),
            "task_id": st.none() | st.text(max_size=8),
            "attempts": st.integers(0, 9),
            "error": st.none() | st.text(max_size=8),
            "images": st.just((ImageRecord("u", "a/b.png", "0" * 64, 3),)),
        },
    )
)
def test_job_record_replace_is_dataclasses_replace(changes: dict[str, Any]) -> None:
    """JobRecord.replace gives the record dataclasses.replace gives."""
    record = JobRecord(id="0" * 16, job="j", variant={"a": "b"}, repeat=1, request={"p": 1})
    assert record.replace(**changes) == dataclasses.replace(record, **changes)


def test_job_record_replace_refuses_an_unknown_field() -> None:
    """A field JobRecord lacks is a TypeError, as dataclasses.replace raises."""
    record = JobRecord(id="0" * 16, job="j", variant={}, repeat=1, request={})
    with pytest.raises(TypeError, match="stat"):
        record.replace(stat="new")


_URL_PARTS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@SETTINGS
@given(
    st.sampled_from(["http://h.test", "https://u:p@127.0.0.1:8443", "https://xn--bcher-kva.ch"]),
    _URL_PARTS,
    st.none() | _URL_PARTS,
    st.none() | _URL_PARTS,
)
def test_url_without_query_is_httpx_copy_with(
    origin: str, path: str, query: str | None, fragment: str | None
) -> None:
    """A download's named URL, cut at its first ? or #, is httpx's URL without query and
    fragment."""
    text = f"{origin}/{path}" + (f"?{query}" if query is not None else "")
    text += f"#{fragment}" if fragment is not None else ""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        assume(False)
        raise
    assert without_query(url) == str(url.copy_with(query=None, fragment=None))


# ---------------------------------------------------------------------------------------------
# The journal's put lines


@SETTINGS
@given(JSON_VALUES)
def test_compact_is_json_dumps_compact(value: Any) -> None:
    """The journal's compact encoder writes what json.dumps(separators, ensure_ascii=False) does."""
    assert compact(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


PROGRESS = st.fixed_dictionaries(
    {
        "state": st.sampled_from(["submitting", "submitted", "succeeded", "failed"]),
        "attempts": st.integers(0, 9),
        "error": st.none() | STRINGS,
        "credits_charged": st.integers(0, 99),
        "task_missing": st.integers(0, 3),
        "nonce": st.none() | st.text("0123456789abcdef", min_size=16, max_size=16),
        "images": st.lists(
            st.builds(
                ImageRecord,
                STRINGS.filter(bool),
                STRINGS.filter(bool),
                st.just("0" * 64),
                st.integers(0, 9),
            ),
            max_size=2,
        ).map(tuple),
    }
)


@FEW
@given(st.lists(PROGRESS, min_size=1, max_size=4), STRINGS, STRINGS)
def test_journal_put_lines_are_json_dumps_of_the_line(
    changes: list[dict[str, Any]], prompt: str, value: str
) -> None:
    """Each put line (its plan fields encoded once a job) is json.dumps of the whole line."""
    with tempfile.TemporaryDirectory() as folder:
        lock = Lockfile.open(
            Path(folder) / "m.lock.json", manifest_name="m", manifest_sha256="0" * 64
        )
        record = JobRecord("0123456789abcdef", "hero", {"v": value}, 0, {"prompt": prompt})
        lines = []
        with lock:
            for change in [{}, *changes]:
                change = {**change, "task_id": "t-1" if change.get("state") else None}
                record = record.replace(**change)
                lock.put(record)
                spent = lock.spent.to_json()
                lines.append(
                    json.dumps(
                        {"put": record.id, "record": record.to_json(), "spent": spent},
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                )
            written = lock.journal_path.read_bytes().decode().split("\n")[1:-1]
        assert written == list(dict.fromkeys(lines))
