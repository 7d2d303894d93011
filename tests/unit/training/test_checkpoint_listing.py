"""Which checkpoint directories count: only complete ones (renamed, state.json inside)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.training.checkpoint import _prune, list_checkpoints


def make(root: Path, name: str, complete: bool) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "trainable.safetensors").write_bytes(b"x")
    if complete:
        (path / "state.json").write_text("{}")
    return path


def test_incomplete_and_temp_dirs_are_never_resumed_from(tmp_path: Path) -> None:
    a = make(tmp_path, "step-000005", complete=True)
    make(tmp_path, "step-000010", complete=False)  # lost files while being deleted
    make(tmp_path, ".tmp-step-000015", complete=True)  # killed before its rename
    assert list_checkpoints(tmp_path) == [a]


def test_prune_keeps_the_newest_complete_and_clears_leftovers(tmp_path: Path) -> None:
    make(tmp_path, "step-000005", complete=True)
    make(tmp_path, "step-000010", complete=False)
    b = make(tmp_path, "step-000015", complete=True)
    make(tmp_path, ".tmp-step-000020", complete=False)
    _prune(tmp_path, keep=list_checkpoints(tmp_path)[-1:])
    assert sorted(tmp_path.iterdir()) == [b]
