"""The YAML reader's libyaml fast path beside the pure loader it stands in for: same values,
same positions, same problems; anything it might read differently goes to the pure loader."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from seedance_batch import _yaml
from seedance_batch._yaml import Loaded, load_yaml

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(_yaml._LIBYAML is None, reason="no libyaml >= 0.2.6 here")


@contextmanager
def _pure_only() -> Iterator[None]:
    saved, _yaml._LIBYAML = _yaml._LIBYAML, None
    try:
        yield
    finally:
        _yaml._LIBYAML = saved


def _pure(text: str) -> Loaded:
    with _pure_only():
        return load_yaml(text, "m.yaml")


def _seen(loaded: Loaded) -> tuple[object, ...]:
    return (loaded.data, loaded.values, loaded.keys, loaded.errors, loaded.problems)


_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from(":#&*-?{}[],'\"!|> "),
    max_size=12,
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=25,
)
#: Pieces a manifest writes by hand that a dumper never does.
_SNIPPETS = st.sampled_from(
    [
        "a:\nb:\n",
        "base: &b {model: m, size: '1:1'}\njob:\n  <<: *b\n  n: 2\n",
        "list:\n- &x one\n- *x\n- [*x, two]\n",
        "text: |\n  two\n  lines\nnext: >-\n  folded\n  text\n",
        "plain: a value\n  on two lines\n",
        "# a comment\nkey: value # another\n\n\nlast: 1\n",
        "? complex\n: key\n",
        "quoted: \"\\x41\\u00e9 \\\"q\\\"\"\nsingle: 'it''s'\n",
        "--- \nx: 1\n...\n",
        "dup: 1\ndup: 2\n",
        "1: not a string key\n",
        "self: &s [*s]\n",
        "big: 1e400\n",
        'surrogate: "\\ud800"\n',
        "bad: [1, 2\n",
        "x: 1\n\ty: 2\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(_DATA, st.sampled_from([None, True, False]), st.booleans(), st.integers(2, 4))
def test_libyaml_reads_what_the_pure_loader_reads(
    data: object, flow: bool | None, unicode: bool, indent: int
) -> None:
    """Any document a dumper writes is read to the same values, positions and problems."""
    text = yaml.safe_dump(
        {"doc": data}, default_flow_style=flow, allow_unicode=unicode, indent=indent
    )
    assert _seen(load_yaml(text, "m.yaml")) == _seen(_pure(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(_SNIPPETS, min_size=1, max_size=4))
def test_libyaml_reads_handwritten_yaml_as_the_pure_loader(parts: list[str]) -> None:
    """Anchors, merge keys, block scalars, comments, duplicates and errors: the same result."""
    text = "".join(parts)
    assert _seen(load_yaml(text, "m.yaml")) == _seen(_pure(text))


def test_the_demo_manifest_takes_the_fast_path() -> None:
    """A plain manifest is composed by libyaml (the fast path is not silently always off)."""
    text = (ROOT / "manifests" / "demo.yaml").read_text(encoding="utf-8")
    fast = _yaml._load_with_libyaml(text, "demo.yaml")
    assert fast is not None
    assert _seen(fast) == _seen(_pure(text))


@pytest.mark.parametrize(
    "text",
    [
        "a:\tb\n",  # libyaml takes the tab as a space; the pure loader refuses it
        "\ufeffa: 1\n",  # a byte-order mark: the two count columns differently after it
        "a: 1\r\nb: 2\r\n",
        "a: [1, 2\n",  # an error: said in the pure loader's words
        "a: &x [*x]\n",  # a cycle
        'a: "\\ud800"\n',  # libyaml refuses the escape; the pure loader reports the value
        "[" * 200 + "]" * 200,  # deeper than MAX_DEPTH
    ],
)
def test_text_the_two_may_read_differently_goes_to_the_pure_loader(text: str) -> None:
    """Tabs, a BOM, CRs, errors, cycles and limits are left to the pure loader."""
    assert _yaml._load_with_libyaml(text, "m.yaml") is None
    assert _seen(load_yaml(text, "m.yaml")) == _seen(_pure(text))
