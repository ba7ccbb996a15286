"""Typed dataset roots and checkpoints must never lead outside the configured folders."""

from __future__ import annotations

import os

import pytest

from emovae.app.paths import UnsafePathError, escaping_symlinks, resolve_checkpoint, resolve_dataset_root, resolve_inside


@pytest.fixture()
def layout(tmp_path):
    allowed = tmp_path / "data"
    (allowed / "deam" / "MEMD_audio").mkdir(parents=True)
    (allowed / "deam" / "MEMD_audio" / "1.mp3").write_bytes(b"x")
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwd").write_text("root:x")
    (outside / "model.pt").write_bytes(b"x")
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "good.pt").write_bytes(b"x")
    return allowed, outside, checkpoints


def test_relative_and_absolute_paths_inside_are_accepted(layout):
    allowed, _, checkpoints = layout
    assert resolve_dataset_root("deam", [allowed]) == (allowed / "deam").resolve()
    assert resolve_dataset_root(str(allowed / "deam"), [allowed]) == (allowed / "deam").resolve()
    assert resolve_checkpoint("good.pt", [checkpoints]) == (checkpoints / "good.pt").resolve()


@pytest.mark.parametrize("text", ["../secret", "deam/../../secret", "..", "deam/..", "..\\secret"])
def test_parent_references_are_refused_even_when_they_would_stay_inside(layout, text):
    allowed, _, _ = layout
    with pytest.raises(UnsafePathError, match=r"'\.\.'"):
        resolve_dataset_root(text, [allowed])


def test_absolute_paths_outside_are_refused(layout):
    allowed, outside, checkpoints = layout
    with pytest.raises(UnsafePathError, match="outside the allowed folders"):
        resolve_dataset_root(str(outside), [allowed])
    with pytest.raises(UnsafePathError, match="outside"):
        resolve_checkpoint(str(outside / "model.pt"), [checkpoints])
    with pytest.raises(UnsafePathError):
        resolve_inside("/etc/passwd", [allowed])


def test_symlink_escaping_a_root_is_refused(layout):
    allowed, outside, checkpoints = layout
    os.symlink(outside, allowed / "link")
    os.symlink(outside / "model.pt", checkpoints / "evil.pt")
    with pytest.raises(UnsafePathError, match="symlink"):
        resolve_dataset_root("link", [allowed])
    with pytest.raises(UnsafePathError, match="symlink"):
        resolve_checkpoint("evil.pt", [checkpoints])


def test_a_dataset_holding_an_escaping_symlink_is_refused(layout):
    allowed, outside, _ = layout
    os.symlink(outside / "passwd", allowed / "deam" / "MEMD_audio" / "2.mp3")
    assert escaping_symlinks(allowed / "deam", [allowed]) == [allowed / "deam" / "MEMD_audio" / "2.mp3"]
    with pytest.raises(UnsafePathError, match="symlinks pointing outside"):
        resolve_dataset_root("deam", [allowed])


def test_symlinks_staying_inside_are_fine(layout):
    allowed, _, _ = layout
    os.symlink(allowed / "deam", allowed / "alias")
    assert resolve_dataset_root("alias", [allowed]) == (allowed / "deam").resolve()


def test_empty_missing_nul_and_wrong_kind(layout):
    allowed, _, checkpoints = layout
    with pytest.raises(UnsafePathError, match="empty"):
        resolve_dataset_root("  ", [allowed])
    with pytest.raises(UnsafePathError, match="NUL"):
        resolve_dataset_root("deam\x00x", [allowed])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_dataset_root("nope", [allowed])
    with pytest.raises(UnsafePathError, match="not a folder"):
        resolve_dataset_root("deam/MEMD_audio/1.mp3", [allowed])
    (checkpoints / "notes.txt").write_text("x")
    with pytest.raises(UnsafePathError, match=r"not a \.pt file"):
        resolve_checkpoint("notes.txt", [checkpoints])
