"""``<out>/index.html``: a self-contained contact sheet of a campaign (contract, section 6).

One static page beside ``results.jsonl``: inline CSS, no script and no network asset (a Content
Security Policy forbids both), so it opens offline from the file system. Every image of every
succeeded planned job is a lazy-loaded thumbnail (the image itself, scaled by CSS) inside a link
to the full image, grouped by job (a ``<section>``) and then by variant (a ``<figure>`` whose
caption gives the variant's values, model, size, resolution, prompt, repeats and job ids). The
header gives the campaign's name, description, job counts by outcome (with the failed and
pending jobs listed), image counts and credits, planned and charged.

Orphaned lockfile entries are left out, as ``results.jsonl`` leaves them out. The page holds no
timestamp: an unchanged campaign rewrites it byte for byte (and :func:`write_gallery` then skips
the write). :func:`render_gallery` is pure; :func:`write_gallery` also reads each image's header
for its pixel size (so the layout does not move as images load) and marks missing files.
"""

from __future__ import annotations

import html
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import quote

from seedance_batch._labels import job_size, variant_text
from seedance_batch._layout import GALLERY_NAME
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch._results import write_atomic
from seedance_batch._run_files import ensure_folder, is_plain_relpath, recorded_size
from seedance_batch.lockfile import JobRecord

__all__ = ["image_size", "probe_images", "render_gallery", "write_gallery"]

#: At most this many failed (and pending) jobs are listed one by one in the header.
LIST_LIMIT: Final = 200
#: Width given to a thumbnail's ``width`` attribute when only the aspect ratio is known.
_RATIO_WIDTH: Final = 512

Dimensions = tuple[int, int]


def _e(text: object) -> str:
    """HTML-escape any text, quotes included (safe in element content and attribute values)."""
    return html.escape(str(text), quote=True)


def _href(path: str) -> str:
    """A path relative to ``<out>`` as a URL relative to the page, every unsafe byte %-encoded.

    ``:`` is encoded too, so no path can read as a scheme (``javascript:``).
    """
    return quote(path, safe="/")


_inside = is_plain_relpath


def _ratio(size: str | None) -> Dimensions:
    """``16:9`` or ``1024x1536`` as (width, height) attributes; square when unknown."""
    if size:
        for sep in (":", "x", "X"):
            left, found, right = size.partition(sep)
            if found and left.strip().isdigit() and right.strip().isdigit():
                w, h = int(left), int(right)
                if w > 0 and h > 0:
                    return _RATIO_WIDTH, max(1, round(_RATIO_WIDTH * h / w))
    return _RATIO_WIDTH, _RATIO_WIDTH


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------------------------
# Image headers


def image_size(path: Path) -> Dimensions | None:
    """The pixel size in a PNG, JPEG or WebP file's header; None if unreadable or unknown."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return (w, h) if w and h else None
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp_size(head)
            if head[:2] == b"\xff\xd8":
                handle.seek(2)
                return _jpeg_size(handle)
    except (OSError, struct.error):
        return None
    return None


def _webp_size(head: bytes) -> Dimensions | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        w, h = w & 0x3FFF, h & 0x3FFF
        return (w, h) if w and h else None
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    return None


_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(handle: BinaryIO) -> Dimensions | None:
    read, seek = handle.read, handle.seek
    for _ in range(256):  # markers before the frame header; give up on a corrupt file
        marker = read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xD8 or 0xD0 <= kind <= 0xD7 or kind == 0x01:
            continue
        length_bytes = read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if kind in _SOF:
            frame = read(5)
            if len(frame) < 5:
                return None
            h, w = struct.unpack(">HH", frame[1:5])
            return (w, h) if w and h else None
        if kind in (0xD9, 0xDA) or length < 2:
            return None
        seek(length - 2, os.SEEK_CUR)
    return None


def probe_images(
    out: Path, jobs: Sequence[Job], records: Mapping[str, JobRecord]
) -> dict[str, Dimensions | None]:
    """Every image path the gallery shows -> its pixel size, None if missing or unreadable (a
    link or anything but a regular file inside ``<out>`` counts as missing)."""
    found: dict[str, Dimensions | None] = {}
    folders: dict[str, bool] = {}
    for job in jobs:
        record = records.get(job.id)
        if record is None or record.state != "succeeded":
            continue
        for image in record.images:
            if image.path not in found:
                present = recorded_size(out, image.path, folders) is not None
                found[image.path] = image_size(out / image.path) if present else None
    return found


# --------------------------------------------------------------------------------------------
# The page

_CSP: Final = (
    "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

_CSS: Final = """\
:root{color-scheme:light dark;--bg:#f5f5f3;--fg:#1c1c1e;--mute:#66666e;--card:#fff;\
--line:#dcdcdc;--tile:#ececea;--bad:#b3261e;--warn:#8a5a00;--link:#1f5fbf}
@media (prefers-color-scheme:dark){:root{--bg:#141416;--fg:#ececef;--mute:#a2a2ab;\
--card:#1f1f23;--line:#34343a;--tile:#2a2a2f;--bad:#ff8a80;--warn:#f0c060;--link:#8ab4ff}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);\
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{padding:14px clamp(10px,3vw,32px)}
header{border-bottom:1px solid var(--line)}
a{color:var(--link)}
h1{margin:0 0 2px;font-size:1.7em}
h2{margin:0;font-size:1.3em}
h1,h2,p,li,dd,figcaption,summary{overflow-wrap:anywhere}
.mute{color:var(--mute)}
code{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.stats{display:flex;flex-wrap:wrap;gap:4px 28px;margin:12px 0}
.stats div{min-width:0}
.stats dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--mute)}
.stats dd{margin:0;font-size:15px}
.bad{color:var(--bad)}
.warn{color:var(--warn)}
details{margin:6px 0}
details ul{margin:6px 0;padding-left:20px;max-height:40vh;overflow:auto}
nav ul{display:flex;flex-wrap:wrap;gap:4px 16px;margin:8px 0 0;padding:0;list-style:none}
section{margin:0 0 28px}
.job-head{margin:0 0 10px}
.job-head p{margin:2px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,250px),1fr));\
gap:14px;align-items:start}
figure{margin:0;min-width:0;background:var(--card);border:1px solid var(--line);\
border-radius:8px;overflow:hidden;content-visibility:auto;contain-intrinsic-size:auto 380px}
.t{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,110px),1fr));gap:2px;\
background:var(--line)}
.t a,.t .gone{display:block;background:var(--tile);min-width:0}
.t img{display:block;width:100%;height:auto;max-height:320px;object-fit:contain}
.t a:focus-visible{outline:3px solid var(--link);outline-offset:-3px}
.gone{padding:10px;font-size:12px;color:var(--bad);aspect-ratio:1}
figcaption{padding:8px 10px 10px;font-size:13px}
figcaption p{margin:0 0 4px}
.vv span{display:inline-block;margin-right:10px}
.vv b{font-weight:600;color:var(--mute)}
.prompt{white-space:pre-wrap}
.meta,.ids{color:var(--mute);font-size:12px}
footer{color:var(--mute);font-size:12px}
@media (max-width:600px){.grid{grid-template-columns:repeat(2,minmax(0,1fr));gap:8px}\
.t{grid-template-columns:repeat(auto-fit,minmax(min(100%,72px),1fr))}\
figcaption{padding:6px 7px 8px;font-size:12px}.meta,.ids{font-size:11px}\
.vv span{margin-right:6px}h1{font-size:1.4em}}
"""


def _state(records: Mapping[str, JobRecord], job_id: str) -> str:
    record = records.get(job_id)
    return "new" if record is None else record.state


class _Page:
    """Builds the page as a list of strings, joined once."""

    def __init__(
        self,
        manifest: Manifest,
        jobs: Sequence[Job],
        records: Mapping[str, JobRecord],
        files: Mapping[str, Dimensions | None] | None,
    ) -> None:
        self.manifest = manifest
        self.jobs = jobs
        self.records = records
        self.files = files
        self.parts: list[str] = []

    def render(self) -> str:
        manifest, jobs = self.manifest, self.jobs
        by_name: dict[str, list[Job]] = {}
        for job in jobs:
            by_name.setdefault(job.job, []).append(job)
        add = self.parts.append
        title = f"{manifest.name} · seedance-batch gallery"
        add(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            '<meta name="generator" content="seedance-batch">\n'
            f"<title>{_e(title)}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n"
        )
        self._header(by_name)
        add("<main>\n")
        descriptions = {spec.name: spec.description for spec in manifest.jobs}
        for name, group in by_name.items():
            self._section(name, descriptions.get(name), group)
        add("</main>\n")
        add(
            f"<footer>Written by seedance-batch from <code>{_e(manifest.path.name)}</code> "
            "at the end of every run; <code>seedance-batch gallery MANIFEST</code> rewrites it. "
            "Click a thumbnail for the full image.</footer>\n</body>\n</html>\n"
        )
        return "".join(self.parts)

    # -- header ------------------------------------------------------------------------------

    def _header(self, by_name: Mapping[str, list[Job]]) -> None:
        manifest, jobs, records = self.manifest, self.jobs, self.records
        add = self.parts.append
        failed: list[Job] = []
        pending: list[Job] = []
        done = 0
        images_asked = images_planned = credits_planned = 0
        for job in jobs:
            state = _state(records, job.id)
            images_planned += job.images
            credits_planned += job.credits
            if state == "succeeded":
                done += 1
                images_asked += job.images
            elif state == "failed":
                failed.append(job)
            else:
                pending.append(job)
        shown = missing = 0
        for job in jobs:
            record = records.get(job.id)
            if record is not None and record.state == "succeeded":
                for image in record.images:
                    if self._dimensions(image.path, job) is None:
                        missing += 1
                    else:
                        shown += 1
        planned_ids = {job.id for job in jobs}
        orphans = [r for i, r in records.items() if i not in planned_ids]
        charged = sum(r.credits_charged for r in records.values())

        add(f"<header>\n<h1>{_e(manifest.name)}</h1>\n")
        if manifest.description:
            add(f'<p class="desc">{_e(manifest.description)}</p>\n')
        add(f'<p class="mute">Manifest <code>{_e(manifest.path.name)}</code></p>\n')
        add('<dl class="stats">\n')
        jobs_text = f"{done:,} of {_plural(len(jobs), 'job')} done"
        extra = []
        if failed:
            extra.append(f'<span class="bad">{len(failed):,} failed</span>')
        if pending:
            extra.append(f'<span class="warn">{len(pending):,} pending</span>')
        if extra:
            jobs_text += ", " + ", ".join(extra)
        add(f'<div><dt>Jobs</dt><dd id="count-jobs">{jobs_text}</dd></div>\n')
        images_text = f"{_plural(shown, 'image')} shown"
        notes = []
        if missing:
            notes.append(f'<span class="bad">{missing:,} missing on disk</span>')
        if shown + missing < images_asked:
            notes.append(
                f'<span class="warn">{shown + missing:,} of {images_asked:,} asked delivered</span>'
            )
        if images_planned != shown:
            notes.append(f"{images_planned:,} planned")
        if notes:
            images_text += f' <span class="mute">({"; ".join(notes)})</span>'
        add(f'<div><dt>Images</dt><dd id="count-images">{images_text}</dd></div>\n')
        add(
            f'<div><dt>Credits</dt><dd id="count-credits">{credits_planned:,} planned, '
            f"{charged:,} charged</dd></div>\n"
        )
        add("</dl>\n")
        self._job_list(failed, "failed", "bad", error=True)
        self._job_list(pending, "pending (not finished yet: run the manifest again)", "warn")
        if orphans:
            add(
                f'<p class="mute">{_plural(len(orphans), "lockfile entry")} '
                "the manifest no longer plans "
                f"({_plural(sum(len(r.images) for r in orphans), 'image')}) not shown: "
                "<code>seedance-batch prune</code> removes them.</p>\n"
            )
        if len(by_name) > 1:
            add('<nav aria-label="Jobs"><ul>\n')
            for name, group in by_name.items():
                count = sum(
                    len(records[j.id].images) for j in group if _state(records, j.id) == "succeeded"
                )
                add(
                    f'<li><a href="#job-{_e(name)}">{_e(name)}</a> '
                    f'<span class="mute">{count:,}</span></li>\n'
                )
            add("</ul></nav>\n")
        add("</header>\n")

    def _job_list(self, jobs: list[Job], what: str, css: str, *, error: bool = False) -> None:
        if not jobs:
            return
        add = self.parts.append
        add(f'<details class="{css}-jobs"><summary class="{css}">{len(jobs):,} {_e(what)}')
        add("</summary>\n<ul>\n")
        for job in jobs[:LIST_LIMIT]:
            record = self.records.get(job.id)
            line = f"<code>{job.id}</code> {_e(job.job)}"
            if job.variant:
                line += f" · {_e(variant_text(job.variant))}"
            if job.repeat:
                line += f" · repeat {job.repeat}"
            line += f" · {_e(_state(self.records, job.id))}"
            if error and record is not None and record.error:
                line += f': <span class="mute">{_e(record.error)}</span>'
            add(f"<li>{line}</li>\n")
        if len(jobs) > LIST_LIMIT:
            add(
                f"<li>… and {len(jobs) - LIST_LIMIT:,} more: "
                "<code>seedance-batch status</code> lists them all</li>\n"
            )
        add("</ul>\n</details>\n")

    # -- sections ----------------------------------------------------------------------------

    def _section(self, name: str, description: str | None, group: list[Job]) -> None:
        add = self.parts.append
        records = self.records
        variants: dict[tuple[tuple[tuple[str, str], ...], str], list[Job]] = {}
        for job in group:
            variants.setdefault((tuple(job.variant.items()), job.body), []).append(job)
        states = [_state(records, j.id) for j in group]
        done = states.count("succeeded")
        failed = states.count("failed")
        images = sum(
            len(records[j.id].images)
            for j, s in zip(group, states, strict=True)
            if s == "succeeded"
        )
        add(f'<section id="job-{_e(name)}" class="job">\n<div class="job-head">')
        add(f"<h2>{_e(name)}</h2>")
        if description:
            add(f'<p class="desc">{_e(description)}</p>')
        summary = (
            f"{_plural(len(variants), 'variant')} · {done:,} of {_plural(len(group), 'job')} "
            f"done · {_plural(images, 'image')}"
        )
        if failed:
            summary += f' · <span class="bad">{failed:,} failed</span>'
        if len(group) - done - failed:
            summary += f' · <span class="warn">{len(group) - done - failed:,} pending</span>'
        add(f'<p class="mute">{summary}</p></div>\n')
        if not done:
            add('<p class="mute">No images yet.</p>\n</section>\n')
            return
        add('<div class="grid">\n')
        for repeats in variants.values():
            if any(_state(records, j.id) == "succeeded" for j in repeats):
                self._figure(repeats)
        add("</div>\n</section>\n")

    def _figure(self, repeats: list[Job]) -> None:
        add = self.parts.append
        records = self.records
        first = repeats[0]
        label = first.job + (f" ({variant_text(first.variant)})" if first.variant else "")
        add(f'<figure id="j-{first.id}">\n<div class="t">')
        for job in repeats:
            record = records.get(job.id)
            if record is None or record.state != "succeeded":
                continue
            count = len(record.images)
            for index, image in enumerate(record.images, start=1):
                where = f"repeat {job.repeat}, image {index} of {count}, job {job.id}"
                dims = self._dimensions(image.path, job)
                if dims is None:
                    add(f'<span class="gone" title="{_e(where)}">missing: {_e(image.path)}</span>')
                    continue
                href = _e(_href(image.path))
                alt = _e(f"{label}, {where}")
                add(
                    f'<a href="{href}" title="{_e(where)}"><img src="{href}" alt="{alt}" '
                    f'loading="lazy" decoding="async" width="{dims[0]}" height="{dims[1]}"></a>'
                )
        add("</div>\n<figcaption>")
        if first.variant:
            add('<p class="vv">')
            for key, value in first.variant.items():
                add(f"<span><b>{_e(key)}</b> {_e(value)}</span>")
            add("</p>")
        size = job_size(first.request)
        meta = [first.model, size if size is not None else "default size", first.resolution]
        meta.append(_plural(first.images, "image") + " per task")
        add(f'<p class="meta">{" · ".join(_e(m) for m in meta)}</p>')
        add(f'<p class="prompt">{_e(first.request.get("prompt", ""))}</p>')
        add('<p class="ids">')
        for n, job in enumerate(repeats):
            state = _state(records, job.id)
            add(f"{'<br>' if n else ''}repeat {job.repeat} · <code>{job.id}</code>")
            record = records.get(job.id)
            if record is not None and state == "succeeded" and len(record.images) < job.images:
                add(
                    f' · <span class="warn">{len(record.images)} of {job.images} '
                    "images delivered</span>"
                )
            if state != "succeeded":
                css = "bad" if state == "failed" else "warn"
                add(f' · <span class="{css}">{_e(state)}</span>')
        add("</p></figcaption>\n</figure>\n")

    def _dimensions(self, path: str, job: Job) -> Dimensions | None:
        """The image's width and height attributes; None when it is not there to show."""
        if not _inside(path):
            return None
        if self.files is None:
            return _ratio(job_size(job.request))
        return self.files.get(path)


def render_gallery(
    manifest: Manifest,
    jobs: Sequence[Job],
    records: Mapping[str, JobRecord],
    *,
    files: Mapping[str, Dimensions | None] | None = None,
) -> str:
    """The gallery's HTML: pure, deterministic, every text escaped.

    ``jobs`` are the planned jobs in plan order; ``records`` the lockfile's entries by id
    (orphans among them are counted, not shown). ``files`` maps image paths to their pixel
    size, None for a file that is missing (shown as such); without it every image is assumed
    present, with the aspect ratio of its requested size.
    """
    return _Page(manifest, jobs, records, files).render()


def write_gallery(
    out: Path, manifest: Manifest, jobs: Sequence[Job], records: Mapping[str, JobRecord]
) -> Path:
    """Write ``<out>/index.html`` atomically (skipped when the bytes are unchanged); its path."""
    out = Path(out)
    text = render_gallery(manifest, jobs, records, files=probe_images(out, jobs, records))
    ensure_folder(out)
    path = out / GALLERY_NAME
    write_atomic(path, text.encode("utf-8"), what="the gallery")
    return path
