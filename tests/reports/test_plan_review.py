"""Plans a reviewer can read: each prompt template once, variants in columns, subtotals per job,
subsets counted against the whole, columns aligned by display width, Markdown that fits a
pull request comment."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from _support.reports import cli
from wcwidth import wcswidth

from seedance_batch import load_manifest, plan
from seedance_batch.reports import plan_markdown, plan_text

#: GitHub refuses a pull request comment longer than this.
GITHUB_COMMENT_LIMIT = 65_536


def test_text_plan_shows_each_template_once_and_a_subtotal_per_job(demo: Path) -> None:
    """Each job prints its subtotal line and its prompt template once, above its variants."""
    text = cli("plan", str(demo)).stdout
    assert text.count("A {product} bottle by {brand} on a warm beige pedestal, {light}") == 1
    assert "hero: 5 jobs, 5 images, 10 credits" in text
    assert "lifestyle: 3 jobs, 3 images, 6 credits" in text
    assert "macro: 1 job, 1 image, 4 credits" in text
    assert "prompt bathroom: A {brand} serum on a marble bathroom shelf" in text
    header = next(
        line.split() for line in text.splitlines() if line.split()[1:3] == ["product", "light"]
    )
    assert header[0] == "id" and header[-1] == "credits"


def test_markdown_plan_shows_each_template_once_and_a_subtotal_per_job(demo: Path) -> None:
    """The Markdown plan has a heading per job with its subtotal, its template quoted once."""
    text = cli("plan", str(demo), "--format", "markdown").stdout
    assert "#### hero: 5 jobs, 5 images, 10 credits" in text
    assert text.count("> A {product} bottle by {brand} on a warm beige pedestal, {light}") == 1
    assert "| id | product | light | size | model | res | n | credits |" in text


def test_a_subset_is_counted_against_the_whole_plan(demo: Path) -> None:
    """--only and --limit say "2 of 9 jobs" overall and "2 of 5" for the job they cut."""
    text = cli("plan", str(demo), "--only", "hero", "--limit", "2").stdout
    assert text.splitlines()[0].endswith(": 2 of 9 jobs, 2 images, 4 credits")
    assert "hero: 2 of 5 jobs, 2 images, 4 credits" in text
    assert "total: 2 of 9 jobs, 2 images, 4 credits" in text
    markdown = cli("plan", str(demo), "--only", "macro", "--format", "markdown").stdout
    assert "| 1 of 9 | 1 | 4 |" in markdown


def test_wide_and_accented_values_keep_the_columns_aligned(tmp_path: Path) -> None:
    """CJK, emoji and combining accents take their display width: every column starts at the
    same terminal column on every row."""
    path = tmp_path / "wide.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: wide
            jobs:
              - name: catalogue
                prompt: "{product} on {surface}"
                matrix:
                  product: ["日本語のセラム", "Crème brûlée", "plain", "👩‍🔬 lab", "e\u0301clair"]
                  surface: ["木", "marble"]
            """
        ),
        encoding="utf-8",
    )
    text = plan_text(plan(load_manifest(path)))
    rows = [line for line in text.splitlines() if re.match(r"  ([0-9a-f]{16}|id) ", line)]
    assert len(rows) == 11
    for column in ("surface", "model"):
        starts = set()
        for row in rows:
            anchor = "gpt-image" if column == "model" and not row.startswith("  id") else column
            if column == "surface" and not row.startswith("  id"):
                anchor = "木" if "木" in row else "marble"
            starts.add(wcswidth(row[: row.index(anchor)]))
        assert len(starts) == 1, (column, starts)


def _campaign(tmp_path: Path, jobs: int) -> Path:
    values = ", ".join(f'"shade {i:03d} with a longer descriptive name"' for i in range(jobs // 2))
    path = tmp_path / "big.yaml"
    path.write_text(
        "version: 1\nname: big\njobs:\n"
        + "".join(
            f'  - name: {name}\n    prompt: "A {{shade}} {name} photo"\n'
            f"    matrix: {{shade: [{values}]}}\n"
            for name in ("hero", "banner")
        )
    )
    return path


def test_markdown_of_a_500_job_campaign_fits_a_pull_request_comment(tmp_path: Path) -> None:
    """500 jobs: well under GitHub's 65,536-character limit, tables folded under <details>,
    every job's heading shown, and the rows left out counted."""
    text = cli("plan", str(_campaign(tmp_path, 500)), "--format", "markdown").stdout
    assert len(text) < GITHUB_COMMENT_LIMIT * 0.8
    assert text.count("<details><summary>") == 2 == text.count("</details>")
    assert "#### hero: 250 jobs" in text and "#### banner: 250 jobs" in text
    listed = len(re.findall(r"^\| `[0-9a-f]{16}` \|", text, re.MULTILINE))
    left = sum(int(n) for n in re.findall(r"… and (\d+) more", text))
    assert listed + left == 500 and listed > 100


def test_markdown_of_a_short_plan_lists_every_job_open(demo: Path) -> None:
    """A plan within a page shows its tables open (no <details>) and every job."""
    result = plan(load_manifest(demo))
    text = plan_markdown(result)
    assert "<details>" not in text
    assert all(f"`{job.id}`" in text for job in result.jobs)
