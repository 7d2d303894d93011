"""The import-linter contracts of pyproject.toml hold, and an upward import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports with the repository's contracts over the package copy under `tree`."""
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_package(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src" / "tunesmith",
        tmp_path / "tunesmith",
        ignore=lambda d, names: [n for n in names if n in ("assets", "__pycache__")],
    )
    return tmp_path


def test_contracts_hold_and_an_upward_import_breaks_them(tmp_path):
    tree = copy_package(tmp_path)
    done = lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout
    # config is near the bottom: importing the serving layer from it is upward
    target = tree / "tunesmith" / "config" / "fields.py"
    target.write_text(target.read_text() + "\nimport tunesmith.serve.app  # noqa\n")
    done = lint(tree)
    assert done.returncode == 1
    assert "layers point down BROKEN" in done.stdout
    assert "tunesmith.config.fields -> tunesmith.serve.app" in done.stdout
