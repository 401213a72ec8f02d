"""The review file: its shape, plan order, pruned entries kept, strict reading, safe writers."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from seedance_batch._decisions import (
    Entry,
    Located,
    ReviewFile,
    ReviewFileError,
    default_review_path,
    read_review,
    render_review,
    who_decides,
)


def _sha(k: int) -> str:
    return hashlib.sha256(str(k).encode()).hexdigest()


IMAGES = {_sha(k): Located(f"{k:016x}", f"hero/v{k}-{k:08x}/1.png") for k in range(6)}
SHAS = list(IMAGES)


def test_the_review_path_is_beside_the_manifest() -> None:
    """spring.yaml -> spring.review.yaml, in the manifest's folder."""
    assert default_review_path(Path("c/spring.yaml")) == Path("c/spring.review.yaml")


def test_decisions_are_written_in_plan_order_and_read_back(tmp_path: Path) -> None:
    """Decisions made in any order are written in plan order, each with job id, path,
    decision, who and note; the file is plain YAML that any reader loads alike."""
    review = ReviewFile(tmp_path / "m.review.yaml", "spring", "Ada Lovelace")
    review.decide(IMAGES, SHAS[4], "rejected")
    review.decide(IMAGES, SHAS[1], "favourite", note="warm: keep")
    review.decide(IMAGES, SHAS[2], "approved")
    text = review.path.read_text()
    assert text.splitlines()[1:8] == [
        "version: 1",
        "campaign: spring",
        "decisions:",
        f"  {SHAS[1]}:",
        '    job_id: "0000000000000001"',
        "    path: hero/v1-00000001/1.png",
        "    decision: favourite",
    ]
    entries = read_review(review.path)
    assert list(entries) == [SHAS[1], SHAS[2], SHAS[4]]
    assert entries[SHAS[1]] == Entry(
        SHAS[1], "0000000000000001", "hero/v1-00000001/1.png", "favourite", "Ada Lovelace",
        "warm: keep",
    )  # fmt: skip
    assert entries[SHAS[1]].approved and not entries[SHAS[4]].approved
    plain = yaml.safe_load(text)
    assert plain["decisions"][SHAS[1]]["note"] == "warm: keep"
    assert list(plain["decisions"]) == list(entries)


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "yes", "null", "12", "a: b", "#tag", "  lead", "line\nbreak", "crème brûlée", ""],
)
def test_any_text_survives_the_file(tmp_path: Path, text: str) -> None:
    """Notes and names that YAML would read as something else (quotes, yes, numbers, colons,
    comments, newlines, accents) come back as written."""
    review = ReviewFile(tmp_path / "m.review.yaml", text or "x", text or "someone")
    review.decide(IMAGES, SHAS[0], "approved", note=text or None)
    entry = read_review(review.path)[SHAS[0]]
    assert (entry.by, entry.note) == (text or "someone", text or None)
    assert yaml.safe_load(review.path.read_text())["campaign"] == (text or "x")


def test_undo_removes_the_entry_and_an_empty_file_stays_valid(tmp_path: Path) -> None:
    """Deciding None (undecided again) removes the image's entry; no entry left is ``{}``."""
    review = ReviewFile(tmp_path / "m.review.yaml", "spring", "Ada")
    review.decide(IMAGES, SHAS[0], "approved")
    review.decide(IMAGES, SHAS[0], None)
    assert read_review(review.path) == {}
    assert "decisions: {}" in review.path.read_text()


def test_entries_of_pruned_images_are_kept_after_the_others(tmp_path: Path) -> None:
    """An entry for an image the campaign no longer has stays, untouched, after the planned
    ones; a renamed image's entry follows it (same hash, new path)."""
    review = ReviewFile(tmp_path / "m.review.yaml", "spring", "Ada")
    review.decide(IMAGES, SHAS[0], "approved")
    review.decide(IMAGES, SHAS[3], "rejected", note="gone later")
    later = {sha: IMAGES[sha] for sha in SHAS if sha != SHAS[0]}
    later[SHAS[3]] = Located(IMAGES[SHAS[3]].job_id, "hero/renamed-00000003/1.png")
    review.decide(later, SHAS[5], "approved")
    entries = read_review(review.path)
    assert list(entries) == [SHAS[3], SHAS[5], SHAS[0]]
    assert entries[SHAS[0]].path == IMAGES[SHAS[0]].path
    assert entries[SHAS[3]].path == "hero/renamed-00000003/1.png"
    assert entries[SHAS[3]].note == "gone later"


def test_a_hand_edited_file_is_read_by_the_strict_reader(tmp_path: Path) -> None:
    """Comments, another order, single quotes: not the canonical text, read as YAML alike."""
    path = tmp_path / "m.review.yaml"
    path.write_text(
        "version: 1  # edited by hand\n"
        "campaign: 'spring'\n"
        "decisions:\n"
        f"  {SHAS[2]}: {{decision: rejected, note: 'too dark'}}\n"
        f"  {SHAS[0]}:\n    decision: approved\n"
    )
    entries = read_review(path)
    assert list(entries) == [SHAS[2], SHAS[0]]
    assert entries[SHAS[2]].note == "too dark" and entries[SHAS[2]].job_id is None


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("version: 1\ndecisions: [\n", ":3:1:", "invalid YAML"),
        ("version: 2\ndecisions: {}\n", ":1:10: version", "version must be 1"),
        ("version: 1\ncolour: red\n", ":2:1: colour", "unknown field"),
        ("version: 1\ndecisions:\n  abc:\n    decision: approved\n", ":3:3:", "SHA-256"),
        (
            f"version: 1\ndecisions:\n  {_sha(0)}:\n    decision: ok\n",
            ":4:15:",
            "approved, rejected",
        ),
        (
            f"version: 1\ndecisions:\n  {_sha(0)}:\n    decision: approved\n    by: 3\n",
            ":5:9:",
            "text",
        ),
        (
            f"version: 1\ndecisions:\n  {_sha(0)}: {{decision: approved}}\n"
            f"  {_sha(0)}: {{decision: rejected}}\n",
            ":4:3:",
            "duplicate",
        ),
        (
            f"version: 1\ndecisions:\n<<<<<<< HEAD\n  {_sha(0)}: {{decision: approved}}\n=======\n",
            ":3:1:",
            "conflict markers",
        ),
    ],
)
def test_a_broken_review_file_is_one_line_with_its_place(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    """Each broken file is refused with one line: the file, line and column, and the problem."""
    path = tmp_path / "m.review.yaml"
    path.write_text(text)
    with pytest.raises(ReviewFileError) as caught:
        read_review(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path}{where}"), line
    assert message in line


def test_writers_in_many_threads_lose_nothing(tmp_path: Path) -> None:
    """Twelve writers, each with its own ReviewFile (as two apps on one manifest), deciding at
    once: the OS lock serialises them and every decision is in the file."""
    images = {_sha(k): Located(f"{k:016x}", f"j/{k}/1.png") for k in range(12)}
    barrier = threading.Barrier(len(images))
    path = tmp_path / "m.review.yaml"

    def decide(sha: str) -> None:
        review = ReviewFile(path, "spring", "Ada")
        barrier.wait()
        review.decide(images, sha, "approved")

    threads = [threading.Thread(target=decide, args=(sha,)) for sha in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(read_review(path)) == list(images)
    assert [p.name for p in tmp_path.iterdir()] == ["m.review.yaml"]  # no lock file, no leftover


def test_render_is_stable(tmp_path: Path) -> None:
    """The same entries render to the same bytes (an unchanged review makes no diff)."""
    entries = [Entry(SHAS[0], "0" * 16, "a/1.png", "approved", "Ada")]
    assert render_review("spring", entries) == render_review("spring", list(entries))


def test_who_decides_is_git_user_name_else_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a repository with user.name set, that name; without git at all, the login name."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.name", "Grace Hopper"], check=True)
    assert who_decides(tmp_path) == "Grace Hopper"
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    monkeypatch.setenv("LOGNAME", "ghopper")
    assert who_decides(tmp_path) == "ghopper"
