"""Which base model an adapter goes on, wherever the adapter directory now lives.

Written (`base_reference`, at save time) as `base_model_name_or_path` in adapter_config.json:

- a shipped preset: its name (`tiny-deepseek-v3-base`), never a path into the installed
  package, so the run works under another install or on another machine;
- a base inside the run directory (a random-init preset's `base/`): the path relative to
  the adapter directory (`../base`), so the run can be moved or copied as a whole;
- any other model directory: its absolute path (it lives outside the run).

Read (`find_adapter_base`): a preset name; a relative path against the adapter directory
(then the current one, as plain transformers would); an absolute path. Runs written before
this rule stored absolute paths: `<old run>/base` is found as the moved run's own `base/`,
and `<old install>/assets/models/<preset>` as the preset. Plain PEFT:

    cfg = json.load(open(f"{adapter}/adapter_config.json"))
    base = AutoModelForCausalLM.from_pretrained(os.path.join(adapter, cfg["base_model_name_or_path"]))
    model = PeftModel.from_pretrained(base, adapter)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tunesmith.errors import ConfigError
from tunesmith.models.registry import PRESETS

EDIT_HINT = (
    "copy that model there, or set base_model_name_or_path in {config} to a preset name or "
    "a model directory (absolute, or relative to the adapter directory)"
)


def base_reference(base: str, out_dir: Path, run_dir: Path) -> str:
    """The `base_model_name_or_path` to write for an adapter saved in `out_dir` of the run
    `run_dir`, whose base is `base` (a preset name or a model directory)."""
    if base in PRESETS:
        return base
    base_dir, run_dir = Path(base).resolve(), run_dir.resolve()
    if base_dir.is_relative_to(run_dir):
        return os.path.relpath(base_dir, out_dir.resolve())
    return str(base_dir)


def write_base_reference(adapter_dir: Path, reference: str) -> None:
    """Set base_model_name_or_path in a saved adapter_config.json. PEFT saves with the
    absolute base path (it reads the base's config to decide whether to save embeddings);
    this then writes the portable reference."""
    config = adapter_dir / "adapter_config.json"
    data = json.loads(config.read_text())
    data["base_model_name_or_path"] = reference
    config.write_text(json.dumps(data, indent=2, sort_keys=True))


def base_path(base: str) -> str:
    """The absolute directory of `base` (a preset name or a directory)."""
    preset = PRESETS.get(base)
    path = preset.path() if preset is not None else None
    return str(path if path is not None else Path(base).resolve())


def _has_model(path: Path) -> bool:
    return (path / "config.json").is_file()


def try_adapter_base(adapter_dir: Path, recorded: str | None) -> str | None:
    """A name_or_path `resolve_model_dir` accepts (a preset name or an existing directory)
    for the base `recorded` in the adapter's config, or None when it is not here."""
    if not recorded:
        return None
    if recorded in PRESETS:
        return recorded
    path = Path(recorded).expanduser()
    candidates = [path] if path.is_absolute() else [adapter_dir / path, Path.cwd() / path]
    for candidate in candidates:
        if _has_model(candidate):
            return str(candidate.resolve())
    if path.is_absolute():  # written before relative paths: the run or the install moved
        own = adapter_dir.parent / "base"
        if path.name == "base" and _has_model(own):
            return str(own.resolve())
        for name, preset in PRESETS.items():
            if preset.shipped_dir == path.name and path.parent.name == "models":
                return name
    return None


def find_adapter_base(adapter_dir: Path, recorded: str | None = None, hint: str = "") -> str:
    """`try_adapter_base`, or a ConfigError naming the missing base and how to point at it
    (`hint` adds the command's own way, e.g. "pass --base PRESET_OR_DIR")."""
    adapter_dir = Path(adapter_dir)
    config = adapter_dir / "adapter_config.json"
    if recorded is None:
        recorded = json.loads(config.read_text()).get("base_model_name_or_path")
    found = try_adapter_base(adapter_dir, recorded)
    if found is not None:
        return found
    ways = EDIT_HINT.format(config=config)
    if hint:
        ways = f"{hint}; or {ways}"
    if not recorded:
        raise ConfigError(f"{config}: no base_model_name_or_path; {ways}")
    path = Path(recorded).expanduser()
    where = f"'{path}'" if path.is_absolute() else f"'{(adapter_dir / path).resolve()}'"
    raise ConfigError(
        f"{adapter_dir}: the adapter's base model '{recorded}' (base_model_name_or_path in "
        f"{config.name}) is not here: not a preset and no model at {where}; {ways}"
    )
