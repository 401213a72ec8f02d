"""The gallery's pages: the campaign's variants cut into pages of at most so many thumbnails,
each page plain HTML that shows every image with no script.

Pages are ``index.html``, ``index-2.html``, ... Each holds whole variants (a variant larger than
a page is continued on the next) of at most ``page_size`` images, grouped by job (a
``<section>``) and variant (a ``<figure>`` whose caption gives its values, model, size,
resolution, prompt, repeats and decisions); every page has the campaign's header (counts,
credits and the review's decisions, which are :mod:`seedance_batch._approvals`'s, as ``status``
counts them), links to every job's first page, and links between pages. Within a variant,
favourites and approved images come first and rejected ones last, dimmed; each decided image
carries a badge (CSS, no script). A thumbnail (in ``.thumbs/``, named by
:func:`seedance_batch._thumbs.thumb_relpath`) is inside a link to the full image; the full
image is never in the grid. The markup of an image is kept lean (unquoted
attributes where the value is a %-encoded path): 10,000 images stay under 2 MB of HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Final
from urllib.parse import quote

from seedance_batch._approvals import Counts, Shot, Variant
from seedance_batch._labels import job_size, variant_text
from seedance_batch._manifest import Manifest
from seedance_batch._planner import Job
from seedance_batch._run_files import is_plain_relpath
from seedance_batch._thumbs import thumb_relpath
from seedance_batch.lockfile import JobRecord

__all__ = ["PAGE_IMAGES", "Dimensions", "page_name", "render_pages"]

#: Thumbnails on one page. 500 paint their first screen in about 0.3 s in headless Chromium
#: from a file (bench_gallery, on a busy 2-core machine; only what is on screen loads, the rest
#: lazily), and keep 10,000 images under 2 MB of HTML in all: each page repeats the header and
#: the style sheet (about 5 kB), so smaller pages would cost more bytes for little speed.
PAGE_IMAGES: Final = 500
#: At most this many failed (and pending) jobs are listed one by one in the header.
LIST_LIMIT: Final = 200
#: Page numbers on each side of the current one in the pager (the first and last always).
_PAGER_SPAN: Final = 3

Dimensions = tuple[int, int]
_CLASSES: Final = {"favourite": " class=fav", "approved": " class=ok", "rejected": " class=no"}


def page_name(number: int) -> str:
    """``index.html`` for page 1, ``index-<n>.html`` after it."""
    return "index.html" if number == 1 else f"index-{number}.html"


def _e(text: object) -> str:
    """HTML-escape any text, quotes included (safe in element content and attribute values)."""
    return html.escape(str(text), quote=True)


def _href(path: str) -> str:
    """A path relative to ``<out>`` as a URL relative to the page, every unsafe byte %-encoded
    (``:`` too, so no path reads as a scheme): safe as an unquoted attribute value."""
    return quote(path, safe="/")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _state(records: Mapping[str, JobRecord], job_id: str) -> str:
    record = records.get(job_id)
    return "new" if record is None else record.state


def _ratio(size: str | None) -> Dimensions:
    """``16:9`` or ``1024x1536`` as (width, height); square when unknown."""
    if size:
        for sep in (":", "x", "X"):
            left, found, right = size.partition(sep)
            if found and left.strip().isdigit() and right.strip().isdigit():
                w, h = int(left), int(right)
                if w > 0 and h > 0:
                    return w, h
    return 1, 1


def _settings(job: Job) -> dict[str, str]:
    """What a job asks for, by field: model, size, resolution, and images per task (``n``)."""
    size = job_size(job.request)
    return {
        "model": job.model,
        "size": size if size is not None else "default size",
        "resolution": job.resolution,
        "n": _plural(job.images, "image") + " per task",
    }


def _decisions_text(counts: Counts) -> str:
    return (
        f"{counts.approved:,} approved · {counts.rejected:,} rejected · "
        f"{counts.undecided:,} undecided"
    )


@dataclass(frozen=True, slots=True)
class _Card:
    """A variant's images on one page (``part`` > 0: continued from the page before)."""

    variant: Variant
    shots: tuple[Shot, ...]
    part: int


#: One page's content: (job name, its cards there; none when the job has no image yet).
_Content = list[tuple[str, list[_Card]]]


def _paginate(
    variants: Sequence[Variant], records: Mapping[str, JobRecord], page_size: int
) -> list[_Content]:
    """The variants in plan order, by job, cut into pages of at most ``page_size`` images; a
    variant is shown once one of its jobs succeeded (with no image, it says so)."""
    pages: list[_Content] = [[]]
    count = 0

    def place(name: str, card: _Card | None) -> None:
        nonlocal count
        size = 0 if card is None else len(card.shots)
        if count and count + size > page_size:
            pages.append([])
            count = 0
        page = pages[-1]
        if not page or page[-1][0] != name:
            page.append((name, []))
        if card is not None:
            page[-1][1].append(card)
        count += size

    by_job: dict[str, list[Variant]] = {}
    for variant in variants:
        by_job.setdefault(variant.job, []).append(variant)
    for name, group in by_job.items():
        shown = [
            v for v in group if v.shots or any(_state(records, j.id) == "succeeded" for j in v.jobs)
        ]
        if not shown:
            place(name, None)
        for variant in shown:
            ranked = variant.ranked()
            for part, start in enumerate(range(0, max(1, len(ranked)), page_size)):
                place(name, _Card(variant, tuple(ranked[start : start + page_size]), part))
    return pages


class _Gallery:
    """Renders every page; the header and the job links are made once and shared."""

    def __init__(
        self,
        manifest: Manifest,
        jobs: Sequence[Job],
        records: Mapping[str, JobRecord],
        variants: Sequence[Variant],
        files: Mapping[str, Dimensions | None] | None,
        thumbs: frozenset[str] | None,
        thumbs_problem: str | None = None,
    ) -> None:
        self.manifest, self.jobs, self.records = manifest, jobs, records
        self.variants, self.files, self.thumbs = variants, files, thumbs
        self.thumbs_problem = thumbs_problem
        self.descriptions = {spec.name: spec.description for spec in manifest.jobs}
        self.by_job: dict[str, list[Variant]] = {}
        for variant in variants:
            self.by_job.setdefault(variant.job, []).append(variant)
        self._summaries: dict[str, str] = {}
        self._commons: dict[str, dict[str, str]] = {}

    def render(self, page_size: int) -> list[str]:
        pages = _paginate(self.variants, self.records, page_size)
        first_page: dict[str, int] = {}
        for number, content in enumerate(pages, start=1):
            for name, _ in content:
                first_page.setdefault(name, number)
        stats = self._stats()
        lists = self._lists()
        nav = self._job_nav(first_page)
        out = []
        for number, content in enumerate(pages, start=1):
            parts = [self._head(number, len(pages)), stats]
            if number == 1:
                parts.append(lists)
            pager = _pager(number, len(pages))
            parts += [nav, pager, "</header>\n<main>\n"]
            for name, cards in content:
                parts.append(self._section(name, cards, first_page[name] < number))
            parts.append(f"</main>\n<footer>{pager}{self._footer()}</footer>\n</body>\n</html>\n")
            out.append("".join(parts))
        return out

    # -- header ------------------------------------------------------------------------------

    def _head(self, number: int, total: int) -> str:
        manifest = self.manifest
        title = f"{manifest.name} · seedance-batch gallery"
        if total > 1:
            title += f" · page {number} of {total}"
        head = [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            '<meta name="generator" content="seedance-batch">\n'
            f"<title>{_e(title)}</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n",
            f"<header>\n<h1>{_e(manifest.name)}</h1>\n",
        ]
        if manifest.description:
            head.append(f'<p class="desc">{_e(manifest.description)}</p>\n')
        head.append(f'<p class="mute">Manifest <code>{_e(manifest.path.name)}</code></p>\n')
        return "".join(head)

    def _stats(self) -> str:
        jobs, records = self.jobs, self.records
        states = [_state(records, job.id) for job in jobs]
        done = states.count("succeeded")
        failed = states.count("failed")
        pending = len(jobs) - done - failed
        images_asked = sum(j.images for j, s in zip(jobs, states, strict=True) if s == "succeeded")
        images_planned = sum(job.images for job in jobs)
        credits_planned = sum(job.credits for job in jobs)
        shots = [shot for variant in self.variants for shot in variant.shots]
        missing = sum(1 for shot in shots if self._dimensions(shot) is None)
        shown = len(shots) - missing
        charged = sum(r.credits_charged for r in records.values())
        counts = sum((v.counts for v in self.variants), Counts())
        ready = sum(1 for v in self.variants if v.ready)

        parts = ['<dl class="stats">\n']
        jobs_text = f"{done:,} of {_plural(len(jobs), 'job')} done"
        extra = []
        if failed:
            extra.append(f'<span class="bad">{failed:,} failed</span>')
        if pending:
            extra.append(f'<span class="warn">{pending:,} pending</span>')
        if extra:
            jobs_text += ", " + ", ".join(extra)
        parts.append(f'<div><dt>Jobs</dt><dd id="count-jobs">{jobs_text}</dd></div>\n')
        images_text = f"{_plural(shown, 'image')} shown"
        notes = []
        if missing:
            notes.append(f'<span class="bad">{missing:,} missing on disk</span>')
        if len(shots) < images_asked:
            notes.append(
                f'<span class="warn">{len(shots):,} of {images_asked:,} asked delivered</span>'
            )
        if images_planned != shown:
            notes.append(f"{images_planned:,} planned")
        if notes:
            images_text += f' <span class="mute">({"; ".join(notes)})</span>'
        parts.append(f'<div><dt>Images</dt><dd id="count-images">{images_text}</dd></div>\n')
        parts.append(
            f'<div><dt>Review</dt><dd id="count-review">{_decisions_text(counts)}; '
            f"{ready:,} of {_plural(len(self.variants), 'variant')} approved</dd></div>\n"
        )
        parts.append(
            f'<div><dt>Credits</dt><dd id="count-credits">{credits_planned:,} planned, '
            f"{charged:,} charged</dd></div>\n</dl>\n"
        )
        if self.thumbs_problem:
            parts.append(
                f'<p class="bad">Some thumbnails could not be made ({_e(self.thumbs_problem)}): '
                "those images show no preview.</p>\n"
            )
        return "".join(parts)

    def _lists(self) -> str:
        """Failed and pending jobs, and the orphans' count: on the first page only."""
        records = self.records
        failed = [j for j in self.jobs if _state(records, j.id) == "failed"]
        pending = [j for j in self.jobs if _state(records, j.id) not in ("failed", "succeeded")]
        parts = [
            self._job_list(failed, "failed", "bad", error=True),
            self._job_list(pending, "pending (not finished yet: run the manifest again)", "warn"),
        ]
        planned_ids = {job.id for job in self.jobs}
        orphans = [r for i, r in records.items() if i not in planned_ids]
        if orphans:
            parts.append(
                f'<p class="mute">{_plural(len(orphans), "lockfile entry")} '
                "the manifest no longer plans "
                f"({_plural(sum(len(r.images) for r in orphans), 'image')}) not shown: "
                "<code>seedance-batch prune</code> removes them.</p>\n"
            )
        return "".join(parts)

    def _job_list(self, jobs: list[Job], what: str, css: str, *, error: bool = False) -> str:
        if not jobs:
            return ""
        parts = [f'<details class="{css}-jobs"><summary class="{css}">{len(jobs):,} {_e(what)}']
        parts.append("</summary>\n<ul>\n")
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
            parts.append(f"<li>{line}</li>\n")
        if len(jobs) > LIST_LIMIT:
            parts.append(
                f"<li>… and {len(jobs) - LIST_LIMIT:,} more: "
                "<code>seedance-batch status</code> lists them all</li>\n"
            )
        parts.append("</ul>\n</details>\n")
        return "".join(parts)

    def _job_nav(self, first_page: Mapping[str, int]) -> str:
        if len(first_page) < 2:
            return ""
        images: dict[str, int] = {}
        for variant in self.variants:
            images[variant.job] = images.get(variant.job, 0) + len(variant.shots)
        parts = ['<nav aria-label="Jobs"><ul>\n']
        for name, number in first_page.items():
            parts.append(
                f'<li><a href="{page_name(number)}#job-{_e(name)}">{_e(name)}</a> '
                f'<span class="mute">{images.get(name, 0):,}</span></li>\n'
            )
        parts.append("</ul></nav>\n")
        return "".join(parts)

    def _footer(self) -> str:
        return (
            f"<p>Written by seedance-batch from <code>{_e(self.manifest.path.name)}</code> at "
            "the end of every run; <code>seedance-batch gallery MANIFEST</code> rewrites it "
            "(with the review's latest decisions). Click a thumbnail for the full image.</p>"
        )

    # -- sections ----------------------------------------------------------------------------

    def _summary(self, name: str) -> str:
        """A job's counts: variants, jobs done, failed and pending, images, decisions."""
        known = self._summaries.get(name)
        if known is not None:
            return known
        group = self.by_job.get(name, [])
        jobs = [job for v in group for job in v.jobs]
        states = [_state(self.records, j.id) for j in jobs]
        done, failed = states.count("succeeded"), states.count("failed")
        images = sum(len(v.shots) for v in group)
        summary = (
            f"{_plural(len(group), 'variant')} · {done:,} of {_plural(len(jobs), 'job')} "
            f"done · {_plural(images, 'image')}"
        )
        if failed:
            summary += f' · <span class="bad">{failed:,} failed</span>'
        if len(jobs) - done - failed:
            summary += f' · <span class="warn">{len(jobs) - done - failed:,} pending</span>'
        if images:
            summary += f" · {_decisions_text(sum((v.counts for v in group), Counts()))}"
        self._summaries[name] = summary
        return summary

    def _section(self, name: str, cards: list[_Card], continued: bool) -> str:
        parts = [f'<section id="job-{_e(name)}" class="job">\n<div class="job-head">']
        more = ' <span class="mute">(continued)</span>' if continued else ""
        parts.append(f"<h2>{_e(name)}{more}</h2>")
        description = self.descriptions.get(name)
        if description and not continued:
            parts.append(f'<p class="desc">{_e(description)}</p>')
        parts.append(f'<p class="mute">{self._summary(name)}</p>')
        common = self._common(name)
        if common:
            parts.append(f'<p class="meta">{" · ".join(_e(v) for v in common.values())}</p>')
        parts.append("</div>\n")
        if not cards:
            parts.append('<p class="mute">No images yet.</p>\n</section>\n')
            return "".join(parts)
        parts.append('<div class="grid">\n')
        parts += (self._figure(card) for card in cards)
        parts.append("</div>\n</section>\n")
        return "".join(parts)

    def _common(self, name: str) -> dict[str, str]:
        """The settings every variant of job ``name`` shares (shown once, in its head)."""
        known = self._commons.get(name)
        if known is None:
            settings = [_settings(v.jobs[0]) for v in self.by_job.get(name, [])]
            first = settings[0] if settings else {}
            known = {k: v for k, v in first.items() if all(s.get(k) == v for s in settings)}
            self._commons[name] = known
        return known

    def _figure(self, card: _Card) -> str:
        variant, first = card.variant, card.variant.jobs[0]
        found = next((d for d in map(self._dimensions, variant.shots) if d is not None), None)
        width, height = found or _ratio(job_size(first.request))
        unit = math.gcd(width, height)
        style = f" style=--r:{width // unit}/{height // unit}" if width != height else ""
        parts = [f"<figure{style}><div class=t>"]
        parts += self._images(card.shots)
        parts.append("</div><figcaption>")
        if first.variant:
            values = " · ".join(
                f"{_e(key)} <b>{_e(value)}</b>" for key, value in first.variant.items()
            )
            parts.append(f"<p class=vv>{values}</p>")
        if card.part:
            parts.append(f"<p class=meta>continued: {_plural(len(card.shots), 'more image')}</p>")
            parts.append("</figcaption></figure>\n")
            return "".join(parts)
        common = self._common(first.job)
        meta = [
            value
            for key, value in _settings(first).items()
            if key not in common and key not in first.variant
        ]
        if meta:
            parts.append(f"<p class=meta>{' · '.join(_e(m) for m in meta)}</p>")
        parts.append(f"<p class=prompt>{_e(first.request.get('prompt', ''))}</p>")
        problems = self._problems(variant)
        if problems:
            parts.append(f"<p class=ids>{problems}</p>")
        parts.append("</figcaption></figure>\n")
        return "".join(parts)

    def _problems(self, variant: Variant) -> str:
        """A line for each repeat that is not done, or delivered short of its ``n``."""
        records = self.records
        lines = []
        for job in variant.jobs:
            state = _state(records, job.id)
            record = records.get(job.id)
            line = f"repeat {job.repeat} · <code>{job.id}</code>"
            if record is not None and state == "succeeded" and len(record.images) < job.images:
                lines.append(
                    f'{line} · <span class="warn">{len(record.images)} of {job.images} '
                    "images delivered</span>"
                )
            elif state != "succeeded":
                css = "bad" if state == "failed" else "warn"
                lines.append(f'{line} · <span class="{css}">{_e(state)}</span>')
        return "<br>".join(lines)

    def _images(self, shots: Sequence[Shot]) -> Iterator[str]:
        """Each image's link around its thumbnail; the hot path, hence the lean markup."""
        thumbs = self.thumbs
        for number, shot in enumerate(shots, start=1):
            image = shot.image
            if self._dimensions(shot) is None:
                where = f"repeat {shot.job.repeat}, take {shot.take}, image {shot.index}"
                yield f'<span class="gone" title="{_e(where)}">missing: {_e(image.path)}</span>'
                continue
            css = _CLASSES.get(shot.decision or "", "")
            href = _href(image.path)
            if thumbs is not None and image.sha256 not in thumbs:
                yield f'<a href={href}{css}><span class="nt">no preview</span></a>'
                continue
            yield (
                f"<a href={href}{css}><img src={thumb_relpath(image.sha256)} alt={number} "
                "loading=lazy></a>"
            )

    def _dimensions(self, shot: Shot) -> Dimensions | None:
        """The image's pixel size; None when it is not there to show."""
        path = shot.image.path
        if self.files is not None:
            return self.files.get(path)  # None for a path outside <out> too: never probed
        return _ratio(job_size(shot.job.request)) if is_plain_relpath(path) else None


def _pager(number: int, total: int) -> str:
    """Links to the first, last, previous, next and nearby pages; nothing for one page."""
    if total < 2:
        return ""
    shown = sorted(
        {1, total, *range(max(1, number - _PAGER_SPAN), min(total, number + _PAGER_SPAN) + 1)}
    )
    parts = [f'<nav class="pages" aria-label="Pages">Page {number} of {total}: ']
    if number > 1:
        parts.append(f'<a rel="prev" href="{page_name(number - 1)}">‹ previous</a> ')
    last = 0
    for page in shown:
        if page > last + 1:
            parts.append("… ")
        if page == number:
            parts.append(f'<b aria-current="page">{page}</b> ')
        else:
            parts.append(f'<a href="{page_name(page)}">{page}</a> ')
        last = page
    if number < total:
        parts.append(f'<a rel="next" href="{page_name(number + 1)}">next ›</a>')
    parts.append("</nav>\n")
    return "".join(parts)


def render_pages(
    manifest: Manifest,
    jobs: Sequence[Job],
    records: Mapping[str, JobRecord],
    variants: Sequence[Variant],
    *,
    files: Mapping[str, Dimensions | None] | None = None,
    thumbs: frozenset[str] | None = None,
    thumbs_problem: str | None = None,
    page_size: int = PAGE_IMAGES,
) -> list[str]:
    """Every page's HTML, first page first: pure, deterministic, every text escaped.

    ``variants`` are the plan's (:func:`seedance_batch._approvals.variants`); ``files`` maps
    image paths to their pixel size, None for a file that is missing; without it every image is
    taken as present, with the aspect ratio of its requested size. ``thumbs`` holds the hashes
    whose thumbnail exists (None: all of them), ``thumbs_problem`` why the others could not be
    made, when they could not.
    """
    if page_size < 1:
        raise ValueError("page_size must be 1 or more")
    return _Gallery(manifest, jobs, records, variants, files, thumbs, thumbs_problem).render(
        page_size
    )


#: The pages' style sheet (``gallery.css`` beside this module), inlined in each page.
_CSS: Final = files(__package__).joinpath("gallery.css").read_text(encoding="utf-8")
_CSP: Final = (
    "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
