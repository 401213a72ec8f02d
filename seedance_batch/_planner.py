"""The planner: a manifest expanded into jobs, ids and credits (contract, section 3).

Jobs as written; within a job its rows times the product of its axes (the last fastest),
minus ``exclude``, then ``include``; each combination followed by its repeats. A job's id:
the first 16 hex digits of SHA-256 over the canonical JSON of ``{"request", "repeat"}``.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple, Protocol

from seedance_batch import _rules
from seedance_batch._budget import Budget, campaign_budget
from seedance_batch._errors import Diagnostic, ManifestError, SelectionError
from seedance_batch._gc import no_cycle_collection
from seedance_batch._job_spec import Axis, Combination, JobSpec, Origin, Scalar
from seedance_batch._labels import variant_text
from seedance_batch._layout import fit_slug, readable_part
from seedance_batch._manifest import Manifest
from seedance_batch._shards import CARRIED, Shard, shard_of
from seedance_batch._states import STATES, TO_SPEND, needs_work

__all__ = [
    "Job",
    "LockfileView",
    "Plan",
    "Totals",
    "canonical_json",
    "job_id",
    "new_shard_plan",
    "plan",
]


def _canonical_encoder() -> Callable[[object], str]:
    """The C encoder json itself uses for one-shot dumps, built once (it is the hot path)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
    try:
        chunks = make(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    except TypeError:  # pragma: no cover - another signature: use the public API
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
    return lambda value: "".join(chunks(value, 0))


_encode = _canonical_encoder()


def canonical_json(value: object) -> str:
    """Sorted keys, compact separators, non-ASCII characters as themselves."""
    return _encode(value)


def job_id(request: Mapping[str, object], repeat: int) -> str:
    """First 16 hex digits of SHA-256 over the canonical ``{"request", "repeat"}``."""
    canonical = canonical_json({"request": request, "repeat": repeat})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Job(NamedTuple):
    """One task to submit: its request, id, images, credits and folder.

    ``body`` is the request's canonical JSON, the one the id is made from; ``request`` is the
    same request as a mapping, made once with the job, in the body's key order (shared by the
    repeats of a combination: read it, never change it). A named tuple, not a dataclass: a plan
    may hold 100,000 of them.
    """

    id: str
    job: str
    variant: Mapping[str, str]
    repeat: int
    body: str
    request: Mapping[str, object]
    images: int
    credits: int
    model: str
    resolution: str
    output: str


class _Record(Protocol):
    @property
    def state(self) -> str: ...


class _Spent(Protocol):
    @property
    def credits(self) -> int: ...


class _Charged(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def credits_charged(self) -> int: ...


class _Campaign(Protocol):
    @property
    def jobs(self) -> Mapping[str, _Charged]: ...

    @property
    def spent(self) -> _Spent: ...


class LockfileView(Protocol):
    """What the planner reads of a lockfile: each job's state by id in file order, and what
    the campaign has been charged in all (``spent``, which only grows)."""

    @property
    def jobs(self) -> Mapping[str, _Record]: ...

    @property
    def spent(self) -> _Spent: ...


@dataclass(frozen=True)
class Totals:
    """Counts and credits over a plan's jobs."""

    jobs: int
    images: int
    credits: int
    credits_to_spend: int
    credits_to_retry: int
    by_state: Mapping[str, int]
    by_model: Mapping[str, int]
    by_resolution: Mapping[str, int]
    credits_spent: int = 0
    credits_to_reroll: int = 0


@dataclass(frozen=True)
class Plan:
    """A manifest's jobs in plan order, with each job's state from the lockfile."""

    manifest: Manifest
    jobs: tuple[Job, ...]
    states: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[Diagnostic, ...] = ()
    orphans: tuple[str, ...] = ()
    max_credits: int | None = None
    spent: int = 0
    #: Every job the manifest plans, when ``jobs`` is a subset (``--only``, ``--limit``).
    selected_from: tuple[Job, ...] | None = None
    #: The shard ``jobs`` were chosen from (``--shard K/N``): its budget is a share.
    shard: Shard | None = None
    #: The ids ``run --reroll-rejected`` would give a new take (``seedance_batch._rerolls``).
    rerolls: frozenset[str] = frozenset()

    @property
    def planned_jobs(self) -> tuple[Job, ...]:
        """Every job the manifest plans: ``jobs``, or the whole plan a subset was chosen from."""
        return self.jobs if self.selected_from is None else self.selected_from

    def state(self, job_id: str) -> str:
        """The job's state in the lockfile, ``new`` when it has none."""
        return self.states.get(job_id, "new")

    @functools.cached_property
    def totals(self) -> Totals:
        """Jobs, images and credits in all and by state, model and resolution."""
        by_state: Counter[str] = Counter()
        by_model: Counter[str] = Counter()
        by_resolution: Counter[str] = Counter()
        images = credits = to_spend = to_retry = 0
        states = self.states
        for job in self.jobs:
            state = states.get(job.id, "new")
            by_state[state] += 1
            by_model[job.model] += job.credits
            by_resolution[job.resolution] += job.credits
            images += job.images
            credits += job.credits
            if state in TO_SPEND:
                to_spend += job.credits
            elif state == "failed":
                to_retry += job.credits
        rerolls = self.rerolls
        to_reroll = sum(job.credits for job in self.jobs if job.id in rerolls) if rerolls else 0
        return Totals(
            jobs=len(self.jobs),
            images=images,
            credits=credits,
            credits_to_spend=to_spend,
            credits_to_retry=to_retry,
            by_state={s: by_state[s] for s in STATES if by_state[s]},
            by_model=dict(sorted(by_model.items())),
            by_resolution=dict(sorted(by_resolution.items())),
            credits_spent=self.spent,
            credits_to_reroll=to_reroll,
        )

    @property
    def budget(self) -> Budget:
        """:meth:`budget_for` a plain run, against ``with_budget`` or the manifest's limit."""
        return self.budget_for()

    def budget_for(
        self,
        *,
        retry_failed: bool = False,
        reroll_rejected: bool = False,
        max_credits: int | None = None,
    ) -> Budget:
        """What the campaign spent plus what the next run would add (failed jobs with
        ``retry_failed``, new takes with ``reroll_rejected``), against ``max_credits``, else
        ``with_budget``'s, else the manifest's limit: for a shard of N, divided by N and rounded
        down, so N shares never add up to more than the campaign's budget."""
        limit = max_credits if max_credits is not None else self.max_credits
        if limit is None and self.manifest.max_credits is not None:
            limit = self.manifest.max_credits
            if self.shard is not None:
                limit //= self.shard[1]
        totals = self.totals
        to_spend = totals.credits_to_spend + (totals.credits_to_retry if retry_failed else 0)
        to_spend += totals.credits_to_reroll if reroll_rejected else 0
        return campaign_budget(max_credits=limit, spent=self.spent, to_spend=to_spend)

    def select(
        self,
        only: Sequence[str] = (),
        limit: int | None = None,
        *,
        retry_failed: bool = False,
        shard: Shard | None = None,
        reroll_rejected: bool = False,
    ) -> Plan:
        """The subset ``--only`` (job names or ids, shell patterns), ``--shard`` and
        ``--limit`` choose, in that order.

        ``shard`` ``(K, N)`` keeps the jobs of shard K of N (:func:`shard_of`); ``limit`` keeps
        the first N jobs in plan order that still need work (or, with ``reroll_rejected``, a
        new take: see :attr:`rerolls`). Raises :class:`SelectionError`, listing the job names,
        when an ``only`` pattern matches no job of the whole plan (a pattern whose jobs all fall
        in other shards chooses nothing here, without an error).
        """
        jobs: Iterable[Job] = self.jobs
        if not only and limit is None and shard is None:
            return self
        if only:
            jobs = [j for j in jobs if any(_matches(j, pattern) for pattern in only)]
            self._check_patterns(only, jobs)
        if shard is not None:
            index, count = shard
            jobs = [j for j in jobs if shard_of(j.id, count) == index]
        if limit is not None:
            wanted = needs_work(retry_failed=retry_failed)
            rerolls = self.rerolls if reroll_rejected else frozenset()
            due = (j for j in jobs if self.state(j.id) in wanted or j.id in rerolls)
            jobs = list(itertools.islice(due, limit))
        return replace(
            self, jobs=tuple(jobs), selected_from=self.planned_jobs, shard=shard or self.shard
        )

    def _check_patterns(self, only: Sequence[str], chosen: Sequence[Job]) -> None:
        unmatched = [p for p in only if not any(_matches(j, p) for j in chosen)]
        if not unmatched:
            return
        names = ", ".join(dict.fromkeys(j.job for j in self.jobs)) or "none"
        patterns = ", ".join(repr(p) for p in unmatched)
        raise SelectionError(
            f"--only {patterns} matches no job (by name pattern or id prefix); jobs: {names}"
        )

    def with_budget(self, max_credits: int | None) -> Plan:
        """The same plan checked against another budget (``--max-credits``)."""
        return replace(self, max_credits=max_credits)

    def with_rerolls(self, rerolls: frozenset[str]) -> Plan:
        """The same plan with the ids a reroll would give a new take (priced in the totals)."""
        return replace(self, rerolls=rerolls)


def new_shard_plan(manifest: Manifest, shard: Shard, campaign: _Campaign) -> Plan:
    """Shard K of N as a shard lockfile made now would start from the campaign's lockfile
    (``run --shard`` copies it so): the jobs the campaign has as succeeded are left out, the
    others keep their states, and the shard has spent what its carried jobs were charged."""
    whole = plan(manifest, campaign).select(shard=shard)
    recorded = campaign.jobs
    kept = tuple(j for j in whole.jobs if whole.state(j.id) != "succeeded")
    spent = sum(recorded[j.id].credits_charged for j in kept if whole.state(j.id) in CARRIED)
    return replace(whole, jobs=kept, spent=spent)


def _matches(job: Job, pattern: str) -> bool:
    return fnmatch.fnmatchcase(job.job, pattern) or job.id.startswith(pattern)


def plan(manifest: Manifest, lockfile: LockfileView | None = None) -> Plan:
    """Expand ``manifest`` into its jobs; with a lockfile, each job carries its state and the
    plan what the campaign has spent (its ``spent``).

    Raises :class:`ManifestError` for problems only the expansion shows (a placeholder an
    ``include`` leaves without a value, a size the resolution does not allow).
    """
    expansion = _Expansion(manifest)
    with no_cycle_collection():  # 100,000 jobs are 100,000s of acyclic objects
        for spec in manifest.jobs:
            expansion.add_job(spec)
    errors = [d for d in expansion.diagnostics if d.severity == "error"]
    if errors:
        raise ManifestError(sorted(expansion.diagnostics))
    jobs = tuple(expansion.jobs.values())
    states: dict[str, str] = {}
    orphans: tuple[str, ...] = ()
    if lockfile is not None:
        recorded = lockfile.jobs
        planned = expansion.jobs
        states = {i: r.state for i, r in recorded.items() if i in planned}
        orphans = tuple(i for i in recorded if i not in planned)
    return Plan(
        manifest=manifest,
        jobs=jobs,
        states=states,
        warnings=tuple(sorted(expansion.diagnostics)),
        orphans=orphans,
        spent=lockfile.spent.credits if lockfile is not None else 0,
    )


class _Expansion:
    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.jobs: dict[str, Job] = {}
        self.diagnostics: list[Diagnostic] = []
        self._reported: set[tuple[str, str, str]] = set()
        self._shapes: dict[tuple[int, tuple[tuple[str, Scalar], ...]], _Shape] = {}

    def report(self, origin: Origin, message: str, severity: str = "error") -> None:
        file = origin.file or self.manifest.file
        if (file, origin.path, message) in self._reported:
            return
        self._reported.add((file, origin.path, message))
        if origin.via:
            message = f"{message} (brought in by {origin.via})"
        pos = origin.pos
        self.diagnostics.append(
            Diagnostic(file, pos.line, pos.col, origin.path, message, severity)  # type: ignore[arg-type]
        )

    def add_job(self, spec: JobSpec) -> None:
        base_vars = {**self.manifest.vars, **spec.vars}
        choices = [
            [
                _Choice(
                    axis.name,
                    value,
                    label,
                    readable_part(label, axis.name),
                    _kind(axis.name),
                    origin,
                    label if axis.named else value,
                )
                for value, label, origin in zip(axis.values, axis.labels, axis.origins, strict=True)
            ]
            for axis in spec.axes
        ]
        for row in _row_choices(spec) or ((),):
            for product in itertools.product(*choices):
                picks = row + product if row else product
                if spec.exclude and _excluded(picks, spec.exclude):
                    continue
                self._add_combination(spec, picks, base_vars, None)
        axis_order = {axis.name: k for k, axis in enumerate(spec.axes)}
        named = {axis.name: axis for axis in spec.axes if axis.named and axis.name != "prompt"}
        for entry in spec.include:
            ordered = sorted(entry.values, key=lambda n: axis_order.get(n, len(axis_order)))
            picks = tuple(
                _included(name, entry.values[name], entry.origins[name], named.get(name))
                for name in ordered
            )
            self._add_combination(spec, picks, base_vars, entry)

    def _shape(self, spec: JobSpec, field_items: tuple[tuple[str, Scalar], ...]) -> _Shape:
        """Everything of a request but its prompt, computed once per job and field values."""
        key = (spec.index, field_items)
        shape = self._shapes.get(key)
        if shape is not None:
            return shape
        fields: dict[str, object] = {**spec.fields, **dict(field_items)}
        resolution = _rules.DEFAULT_RESOLUTION
        raw_resolution = fields.get("resolution")
        if isinstance(raw_resolution, str):
            resolution = fields["resolution"] = raw_resolution.lower()
        size = fields.get("size")
        check = _rules.check_size(size, resolution) if isinstance(size, str) else None
        template = _rules.request_body({**fields, "prompt": _PROMPT_MARK})
        canonical = _encode(template)
        # Cut at the prompt's key: a field's value may hold the mark's text, never the key's
        # (a quote inside a JSON string is escaped).
        cut = canonical.index(_PROMPT_KEY_MARK) + len(_PROMPT_KEY)
        n = template.get("n", 1)
        images = n if isinstance(n, int) else 1
        before_prompt = canonical[:cut]
        after_prompt = canonical[cut + len(_ENCODED_PROMPT_MARK) :]
        shape = self._shapes[key] = _Shape(
            before_prompt=before_prompt,
            after_prompt=after_prompt,
            request=json.loads(before_prompt + '""' + after_prompt),
            resolution=resolution,
            check=check if check is not None and check.outcome != "ok" else None,
            images=images,
            credits=_rules.credits_for(images, resolution),
            model=str(template.get("model", _rules.DEFAULT_MODEL)),
            slug_room=spec.slug_room,
        )
        return shape

    def _add_combination(
        self,
        spec: JobSpec,
        picks: tuple[_Choice, ...],
        base_vars: Mapping[str, Scalar],
        entry: Combination | None,
    ) -> None:
        # The hot path of a 100,000-job plan: plain loops, locals, no per-value calls.
        variables = dict(base_vars)
        variant: dict[str, str] = {}
        slugs = []
        field_items = []
        template = spec.prompt
        for choice in picks:
            name, label, kind = choice.name, choice.label, choice.kind
            if label is not None:
                variant[name] = label
            if choice.slug:
                slugs.append(choice.slug)
            if kind == _VARIABLE:
                variables[name] = choice.value
            elif kind == _FIELD:
                field_items.append((name, choice.value))
            elif kind == _PROMPT:
                template = spec.prompt_text(label)
        where = entry.origin if entry is not None else spec.origin
        try:
            prompt = str(template).format_map(variables)
        except KeyError as exc:
            self.report(where, f"placeholder {{{exc.args[0]}}} has no value in this combination")
            return
        except (ValueError, IndexError) as exc:
            self.report(where, f"cannot fill the prompt: {exc}")
            return
        shape = self._shape(spec, tuple(field_items))
        if shape.check is not None:
            origin = next((c.origin for c in picks if c.name == "size"), None)
            origin = origin or spec.field_origins.get("size") or where
            self.report(origin, shape.check.message, shape.check.outcome)
            if shape.check.outcome == "error":
                return
        canonical = shape.before_prompt + _encode_string(prompt) + shape.after_prompt
        request = shape.request.copy()  # sorted keys, the prompt's place kept
        request["prompt"] = prompt
        slug = "_".join(slugs)
        if len(slug) > shape.slug_room:
            slug = fit_slug(slugs, shape.slug_room)
        folder = f"{spec.name}/{slug}-" if slug else f"{spec.name}/"
        jobs = self.jobs
        for repeat in range(spec.repeat):
            if spec.repeat > 1:  # the repeat index names the folder too: r1, r2, ...
                folder = f"{spec.name}/{fit_slug([*slugs, f'r{repeat + 1}'], shape.slug_room)}-"
            digest = hashlib.sha256(
                f'{{"repeat":{repeat},"request":{canonical}}}'.encode()
            ).hexdigest()[:16]
            first = jobs.get(digest)
            if first is not None:
                self.report(where, f"{_describe(first)}; planned once", "warning")
                continue
            jobs[digest] = Job(
                id=digest,
                job=spec.name,
                variant=variant,
                repeat=repeat,
                body=canonical,
                request=request,
                images=shape.images,
                credits=shape.credits,
                model=shape.model,
                resolution=shape.resolution,
                output=folder + digest[:8],
            )


#: Stands in for the prompt while a request's canonical JSON is cut around it (see _Shape).
_PROMPT_MARK = "\x00prompt\x00"
_ENCODED_PROMPT_MARK = json.dumps(_PROMPT_MARK)
_PROMPT_KEY = '"prompt":'
_PROMPT_KEY_MARK = _PROMPT_KEY + _ENCODED_PROMPT_MARK
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


class _Shape(NamedTuple):
    """A request without its prompt: its canonical JSON cut at the prompt, so that a
    combination's canonical body is ``before_prompt + json(prompt) + after_prompt``."""

    before_prompt: str
    after_prompt: str
    #: The request read back from that JSON (prompt ""): a job's request is a copy of it.
    request: dict[str, object]
    resolution: str
    check: _rules.SizeCheck | None
    images: int
    credits: int
    model: str
    slug_room: int


def _describe(first: Job) -> str:
    variant = variant_text(first.variant, empty="")
    where = f"job {first.job!r}" + (f" ({variant})" if variant else "")
    return f"the same request and repeat index {first.repeat} as {where}"


_FIELD, _VARIABLE, _PROMPT, _ROW_ID = 0, 1, 2, 3


def _kind(name: str) -> int:
    if name == "prompt":
        return _PROMPT
    return _FIELD if name in _FIELDS else _VARIABLE


class _Choice(NamedTuple):
    """One value of a combination: what it sets (``kind``), its label in the variant (None: it
    shows under its row's id), its slug, and ``key``, what ``exclude`` matches (a name, for
    named values; else the value)."""

    name: str
    value: Scalar
    label: str | None
    slug: str
    kind: int
    origin: Origin
    key: Scalar


def _row_choices(spec: JobSpec) -> list[tuple[_Choice, ...]]:
    """Each row of the job as its choices: the id (when the rows have one) names the row, and
    its values go to the request unseen; without an id, the values name it."""
    rows = spec.rows
    if rows is None:
        return []
    kinds = [_kind(key) for key in rows.keys]
    found = []
    for row in rows.rows:
        shown = row.id is None
        picks = [
            _Choice(
                key,
                value,
                str(value) if shown else None,
                readable_part(str(value), key) if shown else "",
                kind,
                origin,
                value,
            )
            for key, value, kind, origin in zip(
                rows.keys, row.values, kinds, row.origins, strict=True
            )
        ]
        if row.id is not None:
            picks.insert(
                0,
                _Choice(
                    "id", row.id, row.id, readable_part(row.id, "row"), _ROW_ID, row.origin, row.id
                ),
            )
        found.append(tuple(picks))
    return found


def _included(name: str, value: Scalar, origin: Origin, axis: Axis | None) -> _Choice:
    """An ``include`` entry's value as a choice; for a named axis, ``value`` is a name."""
    if axis is None:
        label = str(value)
        return _Choice(name, value, label, readable_part(label, name), _kind(name), origin, value)
    label = str(value)
    text = axis.values[axis.labels.index(label)]
    return _Choice(name, text, label, readable_part(label, name), _kind(name), origin, label)


_FIELDS = frozenset({"model", "provider", "size", "resolution", "n"})


def _excluded(picks: tuple[_Choice, ...], exclude: Sequence[Combination]) -> bool:
    values = {choice.name: choice.key for choice in picks}
    return any(
        all(values.get(key) == value for key, value in combination.values.items())
        for combination in exclude
    )
