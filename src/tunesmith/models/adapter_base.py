"""Which base model an adapter goes on, wherever the adapter directory now lives.

Written (`base_reference`, at save time) as `base_model_name_or_path` in adapter_config.json:

- a shipped preset: its name (`tiny-deepseek-v3-base`), never a path into the installed
  package, so the run works under another install or on another machine;
- a model directory (a random-init preset's `base/` inside the run, or the user's model):
  its absolute path, which plain transformers / PEFT load from any working directory
  (`AutoPeftModelForCausalLM.from_pretrained("runs/x/adapter")`, as the README shows).

Read (`find_adapter_base`): a preset name; an absolute path; a relative path against the
adapter directory, then the current one. When the run was moved or copied (to another
directory or machine), the recorded `<old run>/base` is found as the run's own `base/`, and
`<old install>/assets/models/<preset>` as the preset. Plain PEFT on a moved run loads the
base from the run itself:

    base = AutoModelForCausalLM.from_pretrained("runs/moved/base")
    model = PeftModel.from_pretrained(base, "runs/moved/adapter")
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.errors import ConfigError
from tunesmith.models.registry import PRESETS

EDIT_HINT = (
    "copy that model there, or set base_model_name_or_path in {config} to a preset name or "
    "a model directory (absolute, or relative to the adapter directory)"
)


def base_reference(base: str) -> str:
    """The `base_model_name_or_path` to write for an adapter whose base is `base` (a preset
    name or a model directory): the preset's name, else the directory's absolute path."""
    return base if base in PRESETS else str(Path(base).resolve())


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


def _places(adapter_dir: Path, recorded: str) -> list[Path]:
    """Where a recorded base is looked for, in order (presets aside)."""
    path = Path(recorded).expanduser()
    if not path.is_absolute():
        return [(adapter_dir / path).resolve(), (Path.cwd() / path).resolve()]
    own = (adapter_dir.parent / "base").resolve()  # a moved run's own base/
    return [path, own] if path.name == "base" and own != path else [path]


def try_adapter_base(adapter_dir: Path, recorded: str | None) -> str | None:
    """A name_or_path `resolve_model_dir` accepts (a preset name or an existing directory)
    for the base `recorded` in the adapter's config, or None when it is not here."""
    if not recorded:
        return None
    if recorded in PRESETS:
        return recorded
    for candidate in _places(adapter_dir, recorded):
        if _has_model(candidate):
            return str(candidate.resolve())
    path = Path(recorded).expanduser()
    if path.is_absolute():  # written by an install that has moved (or an older tunesmith)
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
    raise ConfigError(
        f"{adapter_dir}: the adapter's base model '{recorded}' (base_model_name_or_path in "
        f"{config.name}) is not here: not a preset and no model at "
        f"{' or '.join(repr(str(p)) for p in _places(adapter_dir, recorded))}; {ways}"
    )
