"""The shared table helpers: one line per row whatever a value holds, and a Markdown document
that never passes its size limit."""

from __future__ import annotations

from seedance_batch.reports import display_width, text_table
from seedance_batch.reports._markdown import MarkdownDocument


def test_a_value_with_breaks_or_escapes_stays_on_its_row() -> None:
    """Newlines, tabs and terminal escapes in a value become spaces: each row is one line, and
    the columns still line up."""
    rows = list(text_table([["a\nb", "x"], ["\x1b[31mred", "y"], ["日本", "z"]]))
    assert len(rows) == 3 and all("\n" not in row and "\x1b" not in row for row in rows)
    assert {display_width(row[:-1]) for row in rows} == {display_width(rows[0][:-1])}


def test_a_markdown_document_counts_the_rows_past_its_limit() -> None:
    """Rows that would pass the limit are left out and counted, with where to see them all."""
    doc = MarkdownDocument(max_chars=3_000)
    doc.table(
        "**Jobs**",
        ["id", "value"],
        [[f"`{i:016x}`", "v" * 40] for i in range(200)],
        rest=" (see json)",
    )
    text = doc.text()
    assert len(text) <= 3_000
    shown = text.count("| `")
    assert shown > 10 and f"… and {200 - shown} more (see json)." in text
    assert text.startswith("<details><summary>**Jobs**</summary>") and text.rstrip().endswith(
        "</details>"
    )
