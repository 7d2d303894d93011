"""The New-run form: preset values as text, changed fields as CLI overrides, validated by the
same loader (and so the same messages) as `tunesmith train`.

    values = preset_values(roots, "configs/tiny-qwen2/lora.yaml")
    plan = plan_run(roots, preset, {"train.max_steps": "4"}, name="mine", nproc=None)
    plan.argv   # [python, -m, tunesmith, train, configs/..., train.max_steps=4, output.dir=runs/mine]
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunesmith.errors import ConfigError
from tunesmith.ui.schema_fields import list_fields
from tunesmith.ui.settings import Roots

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def as_text(value: Any) -> str:
    """A value as typed in the form and on the command line (YAML flow: `[a, b]`, `true`)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10**6)
        .strip()
        .removesuffix("...")
        .strip()
    )


def presets(roots: Roots) -> list[str]:
    """Training configs under `configs/` of the project (data pipeline configs left out)."""
    base = roots.project / "configs"
    found = sorted(p for p in base.glob("*/*.yaml") if p.parent.name != "data")
    return [roots.display(p) for p in found]


def preset_values(roots: Roots, preset: str | None) -> dict[str, str]:
    """Every field's value as text: the defaults overlaid with the preset's values."""
    from tunesmith.config import config_to_dict, load_config

    cfg = load_config(roots.resolve(preset) if preset else None)
    flat = _flatten(config_to_dict(cfg))
    return {f.key: as_text(flat.get(f.key, f.default)) for f in list_fields()}


def _changed(text: str, base: str) -> bool:
    """Whether a form value differs from the preset's: compared as YAML values, a single
    value against a one-item list (a list field shown as a choice, e.g. output.report_to)
    equal to that list."""
    if text.strip() == base:
        return False
    try:
        got, want = yaml.safe_load(text), yaml.safe_load(base)
    except yaml.YAMLError:
        return True
    if isinstance(want, list) and not isinstance(got, list):
        got = [got]
    return got != want


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


@dataclass
class RunPlan:
    run_dir: Path
    overrides: list[str]
    args: list[str]  # after `tunesmith`
    argv: list[str]  # what is executed (no shell)
    command: str  # the same, as a person types it
    yaml: str  # the resolved config


def plan_run(
    roots: Roots,
    preset: str | None,
    values: dict[str, str],
    name: str,
    nproc: int | None = None,
) -> RunPlan:
    """Overrides for the changed fields, validated by `load_config`; a ConfigError otherwise."""
    from tunesmith.config import config_to_yaml, load_config

    if not RUN_NAME.match(name or ""):
        raise ConfigError(
            f"run name {name!r}: use letters, digits, '.', '_' or '-' (1-100 characters)"
        )
    base = preset_values(roots, preset)
    overrides = [
        f"{key}={text}"
        for key, text in values.items()
        if key != "output.dir" and key in base and _changed(text, base[key])
    ]
    run_dir = roots.runs / name
    overrides.append(f"output.dir={roots.display(run_dir)}")
    if nproc is not None and nproc < 1:
        raise ConfigError(f"--nproc: {nproc} processes; expected 1 or more")
    config_path = roots.resolve(preset) if preset else None
    cfg = load_config(config_path, overrides)
    if nproc and nproc > 1 and cfg.distributed.strategy == "none":
        raise ConfigError(
            f"--nproc {nproc}: distributed.strategy is 'none'; set distributed.strategy to ddp, "
            "deepspeed or fsdp"
        )
    args = ["train", roots.display(config_path) if config_path else _empty_config(roots)]
    args += overrides + ([f"--nproc={nproc}"] if nproc and nproc > 1 else [])
    return RunPlan(
        run_dir=run_dir,
        overrides=overrides,
        args=args,
        argv=tunesmith_argv(args),
        command=shlex.join(["tunesmith", *args]),
        yaml=config_to_yaml(cfg),
    )


def _empty_config(roots: Roots) -> str:
    """`tunesmith train` needs a CONFIG file: an empty one (defaults only) in the runs root."""
    path = roots.runs / ".ui" / "defaults.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# defaults only: every setting comes from the overrides\n{}\n")
    return roots.display(path)


def tunesmith_argv(args: list[str]) -> list[str]:
    """`tunesmith ARGS` as run by this interpreter (the same install as the UI)."""
    return [sys.executable, "-m", "tunesmith", *args]


def resume_argv(argv: list[str]) -> list[str]:
    """The recorded command with `train.resume=auto` (replacing any other resume setting)."""
    kept = [a for a in argv if not a.startswith("train.resume=")]
    at = next((i for i, a in enumerate(kept) if a.startswith("--nproc")), len(kept))
    return kept[:at] + ["train.resume=auto"] + kept[at:]
