"""The core install is the training path; every other command names the extra it needs.

`core_env` builds a fresh virtual environment (no system site-packages) that holds only the
distributions `pip install .` would bring: tunesmith's core `dependencies` and what they
require, resolved from the installed metadata and linked from this environment (no network,
seconds). tunesmith itself comes from src/ through a .pth file, as an editable install would.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tunesmith.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _closure(requirements: list[str]) -> set[str]:
    """Installed distributions that `requirements` pull in, recursively (markers evaluated)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = metadata.distribution(req.name).metadata["Name"].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(req.name) or []]
    return seen


def _top_levels(dist: str) -> set[str]:
    """The site-packages entries a distribution installed (packages, modules, dist-info)."""
    files = metadata.distribution(dist).files or []
    return {f.parts[0] for f in files if not f.parts[0].startswith("..") and f.parts[0] != "bin"}


@pytest.fixture(scope="module")
def core_env(tmp_path_factory) -> Path:
    """python of a fresh venv holding tunesmith (src/) and its core distributions only."""
    home = tmp_path_factory.mktemp("core-venv")
    venv.create(home, with_pip=False, symlinks=True)
    (site,) = home.glob("lib/python*/site-packages")
    source = Path(metadata.distribution("torch").locate_file(""))
    for entry in sorted({t for d in _closure(PYPROJECT["dependencies"]) for t in _top_levels(d)}):
        if (source / entry).exists() and not (site / entry).exists():
            (site / entry).symlink_to(source / entry)
    (site / "tunesmith-src.pth").write_text(str(ROOT / "src") + "\n")
    return home / "bin" / "python"


def tunesmith(python: Path, *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(cwd)}
    return subprocess.run(
        [str(python), "-m", "tunesmith", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_core_dependencies_hold_no_optional_module():
    core = _closure(PYPROJECT["dependencies"])
    optional = {m for m, _ in EXTRAS.items() if m != "deepspeed"}
    owners = metadata.packages_distributions()
    leaked = {m for m in optional if {d.lower() for d in owners.get(m, [])} & core}
    assert leaked == set()
    extras = PYPROJECT["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(extras)
    assert "tunesmith[all]" in extras["dev"]


def test_core_install_trains_and_names_the_extra_of_the_rest(core_env, tmp_path):
    probe = "import fastapi"
    missing = subprocess.run([str(core_env), "-c", probe], capture_output=True, text=True)
    assert "No module named 'fastapi'" in missing.stderr  # a real core-only environment

    done = tunesmith(
        core_env,
        "train",
        "configs/tiny-qwen2/lora.yaml",
        "train.max_steps=2",
        f"output.dir={tmp_path / 'run'}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["steps"] == 2
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").exists()

    for argv, extra, module in (
        (["serve", "--model", "tiny-qwen2", "--port", "0"], "serve", "fastapi"),
        (
            ["export", "gguf", "--model", "tiny-deepseek-v3-base", "--output", "g"],
            "export",
            "gguf",
        ),
    ):
        done = tunesmith(core_env, *argv, cwd=tmp_path)
        command = " ".join(argv[:2]) if argv[0] == "export" else argv[0]
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (
            f"error: `tunesmith {command}` needs the '{extra}' extra (module {module} is not "
            f"installed): pip install 'tunesmith[{extra}]'\n"
        )
