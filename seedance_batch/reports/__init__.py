"""Reports for people and programs: plan, status and diff, each in text, JSON and Markdown.

Each report takes what its step computed (a :class:`~seedance_batch.Plan`, a
:class:`~seedance_batch._status.Status`, a :class:`~seedance_batch._diff.PlanDiff`) and only
renders it; they share one set of table and Markdown helpers (:mod:`._table`,
:mod:`._markdown`), so every value is aligned by display width and escaped the same way.
"""

from __future__ import annotations

from seedance_batch.reports._diff import diff_json, diff_markdown, diff_text
from seedance_batch.reports._markdown import md_text
from seedance_batch.reports._plan import SUMMARY_ROWS, plan_markdown, plan_text
from seedance_batch.reports._plan_json import plan_json, plan_json_chunks, write_plan_json
from seedance_batch.reports._status import status_json, status_markdown, status_text
from seedance_batch.reports._table import display_width, text_table

__all__ = [
    "SUMMARY_ROWS",
    "diff_json",
    "diff_markdown",
    "diff_text",
    "display_width",
    "md_text",
    "plan_json",
    "plan_json_chunks",
    "plan_markdown",
    "plan_text",
    "status_json",
    "status_markdown",
    "status_text",
    "text_table",
    "write_plan_json",
]
