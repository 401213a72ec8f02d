"""Readable names: slugs from any script, fair cuts, file names that say what they are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_batch._layout import (
    MAX_RELATIVE_PATH,
    fit_slug,
    image_relpath,
    job_dir,
    slug_part,
    slug_room,
)

SLUG_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789.-")


@pytest.mark.parametrize(
    ("value", "slug"),
    [
        ("Crème brûlée", "creme-brulee"),
        ("Night Cream!", "night-cream"),
        ("1:1", "1x1"),
        ("北京烤鸭", "bei-jing-kao-ya"),
        ("Привет мир", "privet-mir"),
        ("한국어", "han-gug-eo"),
        ("🌸 spring", "cherry-blossom-spring"),
        ("snake_case value", "snake-case-value"),
        ("Äpfel & Öl", "apfel-ol"),
    ],
)
def test_values_transliterate_to_readable_slugs(value: str, slug: str) -> None:
    """Accents drop, other scripts read as ASCII syllables, emoji by name, ``_`` is no part."""
    assert slug_part(value) == slug


def test_a_value_with_nothing_readable_gives_an_empty_part() -> None:
    """Punctuation alone leaves nothing: the caller falls back to a name of its own."""
    assert slug_part("!!!") == ""
    assert slug_part("\u200b") == ""


@given(st.text(max_size=40))
def test_a_slug_part_only_holds_safe_characters(value: str) -> None:
    """Whatever the value, its part is ``[a-z0-9.-]`` and never starts or ends with a mark."""
    part = slug_part(value)
    assert set(part) <= SLUG_CHARACTERS
    assert not part.startswith(("-", ".")) and not part.endswith(("-", "."))


def test_fit_slug_cuts_the_longest_part_first() -> None:
    """Cutting takes from the longest parts, so variants differing in a short part still differ."""
    long = "a-very-long-product-description-for-the-catalogue"
    one = fit_slug([long, "red"], 30)
    other = fit_slug([long, "blue"], 30)
    assert len(one) <= 30 and len(other) <= 30
    assert one.endswith("_red") and other.endswith("_blue")


def test_fit_slug_keeps_short_slugs_whole() -> None:
    """Parts that fit are joined with ``_`` untouched; empty parts are left out."""
    assert fit_slug(["serum", "", "1x1"], 60) == "serum_1x1"
    assert fit_slug([], 60) == ""


@given(st.lists(st.text(alphabet="abc-", min_size=1, max_size=30), max_size=6), st.integers(1, 80))
def test_fit_slug_never_passes_its_room(parts: list[str], room: int) -> None:
    """However many and long the parts, the slug fits its room."""
    assert len(fit_slug([slug_part(p) for p in parts], room)) <= room


def test_file_names_say_job_variant_and_image() -> None:
    """The file's own name carries the folder's job, slug and id, then the image's index."""
    folder = job_dir("hero", "serum_1x1", "3f9a2c1b0d4e5f60")
    assert folder == "hero/serum_1x1-3f9a2c1b"
    assert image_relpath(folder, 1, "png") == f"{folder}/hero-serum_1x1-3f9a2c1b-1.png"
    assert image_relpath(folder, 2, "webp", take=3) == f"{folder}/hero-serum_1x1-3f9a2c1b-t3-2.webp"


@given(st.text(alphabet="abcdefghij-", min_size=1, max_size=64), st.integers(0, 400))
def test_every_image_path_stays_under_180_characters(job: str, length: int) -> None:
    """The longest slug a job's folder allows still gives image paths under 180 characters."""
    folder = job_dir(job, "s" * length, "0123456789abcdef")
    path = image_relpath(folder, 4, "webp", take=99)
    assert len(path) <= MAX_RELATIVE_PATH
    assert slug_room(job) > 0  # a job name of 64 characters still leaves room for a slug
