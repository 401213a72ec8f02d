"""Markdown reports show every value as text: no markup, no broken table rows."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from _support.reports import Record, cli

from seedance_batch.reports import md_text

HOSTILE = "<img src=x onerror=alert(1)> a|b `rm -rf` *bold* [link](http://x)"
MANIFEST = textwrap.dedent(
    """\
    version: 1
    name: hostile
    defaults: {model: "<b>model</b>"}
    jobs:
      - name: a
        prompt: "A {thing}"
        matrix:
          thing: ["<img src=x onerror=alert(1)> a|b `rm -rf` *bold* [link](http://x)",
                  "two\\nlines\\r\\nand a | pipe"]
    """
)
OUR_TAGS = re.compile(r"</?(details|summary)>")


def _cells(row: str) -> int:
    """Cells of a Markdown table row: pipes not escaped with a backslash."""
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def assert_inert(markdown: str) -> None:
    """No HTML but the report's own tags, no raw markup from values, every table row whole."""
    assert "<" not in OUR_TAGS.sub("", markdown), markdown
    assert "`rm -rf`" not in markdown and "](http" not in markdown.replace("\\](http", "")
    header = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        assert line.endswith("|"), line
        if header is None:
            header = _cells(line)
        assert _cells(line) == header, line


def test_md_text_escapes_html_markup_and_line_breaks() -> None:
    """md_text escapes HTML, backslash-escapes markup and folds line breaks to spaces."""
    assert md_text("<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert md_text("a|b `c` *d* [e](f)") == "a\\|b \\`c\\` \\*d\\* \\[e\\](f)"
    assert md_text("one\ntwo\r\nthree\u2028four") == "one two three four"


def test_plan_markdown_never_renders_a_value_as_markup(tmp_path: Path) -> None:
    """Variant values and models full of HTML, pipes, backticks and newlines stay text."""
    path = tmp_path / "hostile.yaml"
    path.write_text(MANIFEST)
    done = cli("plan", str(path), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert_inert(done.stdout)
    assert "&lt;img src=x onerror=alert(1)&gt; a\\|b \\`rm -rf\\`" in done.stdout
    assert "two lines and a \\| pipe" in done.stdout


def test_status_markdown_never_renders_an_api_message_as_markup(
    tmp_path: Path, record: Record
) -> None:
    """A failure message from the API with HTML, pipes and newlines stays one table row."""
    path = tmp_path / "hostile.yaml"
    path.write_text(MANIFEST)
    record(path, {0: "failed", 1: "failed"}, errors={0: HOSTILE, 1: "line one\nline two | x"})
    done = cli("status", str(path), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert_inert(done.stdout)
    assert "line one line two \\| x" in done.stdout


def test_diff_markdown_never_renders_a_value_as_markup(tmp_path: Path) -> None:
    """Added and removed jobs with hostile values stay text in the diff's tables."""
    old = tmp_path / "old.yaml"
    old.write_text(MANIFEST)
    new = tmp_path / "new.yaml"
    new.write_text(MANIFEST.replace("*bold*", "*bolder* <script>x</script>"))
    done = cli("diff", str(old), str(new), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert_inert(done.stdout)
    assert "&lt;script&gt;" in done.stdout
