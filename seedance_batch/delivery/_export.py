"""``export``: every approved image (every succeeded one with ``everything``) delivered to a
destination, named by the manifest's template, in its profiles, provenance in each file, and
listed in ``DEST/delivery.json`` and ``delivery.csv``.

With no profile named, the original bytes are delivered when the manifest has no profiles,
else every profile of the manifest; with more than one profile, each goes into
``DEST/<profile>/``. A file whose record entry still matches (same source, same recipe, same
SHA-256 at the destination) is kept without being read or made again; a name the previous
record lists and this export does not is removed; nothing else at the destination is touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from seedance_batch._decisions import default_review_path, read_review
from seedance_batch._delivery_spec import FORMAT_EXTENSIONS, ORIGINAL_PROFILE, Profile
from seedance_batch._errors import (
    ConfigurationError,
    DeliveryError,
    ManifestError,
    SeedanceBatchError,
)
from seedance_batch._layout import resolve_inside
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job, plan
from seedance_batch._run_files import output_folder
from seedance_batch.delivery._destinations import Destination, remember_destination, where
from seedance_batch.delivery._names import Namer, name_problems
from seedance_batch.delivery._record import (
    CSV_NAME,
    JSON_NAME,
    Entry,
    read_record,
    render_csv,
    render_json,
)
from seedance_batch.delivery._renditions import render
from seedance_batch.delivery._target import Target, open_target
from seedance_batch.delivery._xmp import Provenance
from seedance_batch.lockfile import ImageRecord, JobRecord, default_lockfile_path, read_lockfile

__all__ = ["Delivered", "ExportSummary", "chosen_profiles", "export", "tool_name"]

Action = Literal["written", "kept", "removed"]


@dataclass(frozen=True)
class Delivered:
    """One file done: written (new or changed), kept as it was, or removed."""

    name: str
    action: Action


@dataclass(frozen=True)
class ExportSummary:
    """What an export did at ``dest``: files written, kept and removed, and those listed."""

    dest: str
    profiles: tuple[str, ...]
    written: int
    kept: int
    removed: int
    listed: int


def tool_name() -> str:
    """``seedance-batch <version>``, as the files' XMP says it."""
    from importlib import metadata

    try:
        return f"seedance-batch {metadata.version('seedance-batch')}"
    except metadata.PackageNotFoundError:
        return "seedance-batch"


def chosen_profiles(manifest: Manifest, names: Sequence[str]) -> tuple[Profile, ...]:
    """The profiles ``names`` name (every manifest profile when none, else ``original``)."""
    delivery = manifest.delivery
    if not names:
        return delivery.profiles or (ORIGINAL_PROFILE,)
    chosen = []
    for name in dict.fromkeys(names):
        profile = delivery.profile(name)
        if profile is None:
            known = ", ".join(delivery.profile_names)
            raise ConfigurationError(f"--profile {name}: no such profile (the profiles: {known})")
        chosen.append(profile)
    return tuple(chosen)


@dataclass(frozen=True)
class _Planned:
    entry: Entry
    source: ImageRecord
    profile: Profile
    packet: bytes


def export(
    manifest: Manifest,
    dest: str,
    *,
    profiles: Sequence[str] = (),
    everything: bool = False,
    endpoint_url: str | None = None,
    lockfile: Path | None = None,
    on_event: Callable[[Delivered], None] | None = None,
) -> ExportSummary:
    """Deliver the campaign's approved images (``everything``: every succeeded one) to
    ``dest``, a folder or an ``s3://`` URL. Raises ManifestError for a template that names two
    images alike, ConfigurationError for an unknown profile, DeliveryError (exit 1) when the
    destination or a source cannot be read or written."""
    lockfile_path = lockfile or default_lockfile_path(manifest.path)
    snapshot = read_lockfile(lockfile_path, manifest.name)
    if snapshot is None:
        raise DeliveryError(f"{lockfile_path}: no lockfile: nothing has run, nothing to export")
    current = plan(manifest, snapshot)
    problems = name_problems(manifest, current.jobs)
    if problems:
        raise ManifestError(problems)
    chosen = chosen_profiles(manifest, profiles)
    out = output_folder(manifest, lockfile_path, snapshot)
    approved = None
    if not everything:
        review_path = default_review_path(manifest.path)
        if not review_path.exists():
            raise ConfigurationError(
                f"{review_path}: no review file: approve images first (seedance-batch review), "
                "or deliver every succeeded image with --all"
            )
        approved = {sha for sha, entry in read_review(review_path).items() if entry.approved}
    planned = _plan_files(manifest, current.jobs, snapshot.jobs, chosen, approved)
    target = open_target(dest, endpoint_url=endpoint_url)
    previous = read_record(target)
    remember_destination(out, Destination(where(dest), endpoint_url))
    return _deliver(manifest, target, out, planned, previous, chosen, on_event)


def _plan_files(
    manifest: Manifest,
    jobs: Sequence[Job],
    records: Mapping[str, JobRecord],
    chosen: Sequence[Profile],
    approved: set[str] | None,
) -> list[_Planned]:
    namer = Namer(manifest.delivery, manifest.jobs)
    tool = tool_name()
    files: list[_Planned] = []
    names: dict[str, str] = {}
    for job in jobs:
        record = records.get(job.id)
        if record is None:
            continue
        provenance = Provenance(
            prompt=str(job.request.get("prompt", "")),
            model=job.model,
            campaign=manifest.name,
            job=job.job,
            job_id=job.id,
            tool=tool,
        )
        packet = provenance.packet()
        values = namer.values(job)
        counts: dict[int, int] = {}
        for take, image in record.all_images():
            index = counts[take] = counts.get(take, 0) + 1
            if approved is not None and image.sha256 not in approved:
                continue
            for profile in chosen:
                ext = PurePosixPath(image.path).suffix[1:] if profile.format is None else None
                name = namer.name(job, take, index, ext or _ext(profile), values)
                if len(chosen) > 1:
                    name = f"{profile.name}/{name}"
                first = names.setdefault(name, image.path)
                if first != image.path:
                    raise DeliveryError(
                        f"delivery.name: {first} and {image.path} would both be delivered as "
                        f"{name!r} (take {take}); add {{take}} to the template"
                    )
                recipe = hashlib.sha256(profile.signature.encode() + b"\0" + packet)
                entry = Entry(
                    name=name,
                    profile=profile.name,
                    sha256="",
                    bytes=0,
                    source_sha256=image.sha256,
                    job=job.job,
                    job_id=job.id,
                    variant=job.variant,
                    take=take,
                    index=index,
                    prompt=provenance.prompt,
                    recipe=recipe.hexdigest()[:16],
                )
                files.append(_Planned(entry, image, profile, packet))
    return files


def _ext(profile: Profile) -> str:
    return FORMAT_EXTENSIONS[profile.format or "png"]


def _deliver(
    manifest: Manifest,
    target: Target,
    out: Path,
    planned: Sequence[_Planned],
    previous: dict[str, Entry],
    chosen: Sequence[Profile],
    on_event: Callable[[Delivered], None] | None,
) -> ExportSummary:
    listed = dict(previous)  # what the destination holds now, as far as this export knows
    done: dict[str, Entry] = {}
    counts = {"written": 0, "kept": 0, "removed": 0}

    def say(name: str, action: Action) -> None:
        counts[action] += 1
        if on_event is not None:
            on_event(Delivered(name, action))

    try:
        for item in planned:
            entry = item.entry
            before = previous.get(entry.name)
            if (
                before is not None
                and before.source_sha256 == entry.source_sha256
                and before.recipe == entry.recipe
                and target.sha256_of(entry.name) == before.sha256
            ):
                done[entry.name] = listed[entry.name] = _with(entry, before.sha256, before.bytes)
                say(entry.name, "kept")
                continue
            data = _rendition(out, item)
            digest = hashlib.sha256(data).hexdigest()
            if before is None:
                _never_over_a_stranger(target, entry.name, digest)
            target.write(entry.name, data, digest)
            done[entry.name] = listed[entry.name] = _with(entry, digest, len(data))
            say(entry.name, "written")
        for name in previous:
            if name not in done:
                target.delete(name)
                del listed[name]
                say(name, "removed")
    finally:
        ordered = [*done.values(), *(e for n, e in listed.items() if n not in done)]
        _write_record(target, manifest.name, ordered)
    return ExportSummary(
        dest=target.describe(),
        profiles=tuple(p.name for p in chosen),
        written=counts["written"],
        kept=counts["kept"],
        removed=counts["removed"],
        listed=len(done),
    )


def _never_over_a_stranger(target: Target, name: str, sha256: str) -> None:
    """Refuse to replace a file no export listed (the same bytes, left by an export that was
    killed before its record, are taken as they are)."""
    found = target.sha256_of(name)
    if found is not None and found != sha256:
        raise DeliveryError(
            f"{target.describe().rstrip('/')}/{name}: a file no export wrote is in the way; "
            "move it away (or change delivery.name)"
        )


def _with(entry: Entry, sha256: str, size: int) -> Entry:
    return Entry(**{**entry.__dict__, "sha256": sha256, "bytes": size})


def _rendition(out: Path, item: _Planned) -> bytes:
    """The delivered bytes of one planned file, from its source checked against the lockfile."""
    source = item.source
    try:
        path = resolve_inside(out, source.path)
        data = path.read_bytes()
    except (ConfigurationError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise DeliveryError(f"{out / source.path}: cannot read the image: {reason}") from exc
    if hashlib.sha256(data).hexdigest() != source.sha256:
        raise DeliveryError(
            f"{out / source.path}: the image is not the one the lockfile recorded "
            "(its SHA-256 differs); `seedance-batch verify` lists every such file"
        )
    try:
        rendered, _ = render(data, item.profile, item.packet)
    except (ValueError, OSError, SeedanceBatchError) as exc:
        what = f"cannot make its {item.profile.name} rendition"
        raise DeliveryError(f"{out / source.path}: {what}: {exc}") from exc
    return rendered


def _write_record(target: Target, campaign: str, entries: Sequence[Entry]) -> None:
    """``delivery.json`` and ``delivery.csv``, each written only when it changed."""
    json_bytes = render_json(campaign, tool_name(), entries)
    csv_bytes = render_csv(entries)
    for name, data in ((CSV_NAME, csv_bytes), (JSON_NAME, json_bytes)):
        if target.read(name) != data:
            target.write(name, data, hashlib.sha256(data).hexdigest())
