"""Python API beside the CLI."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tunesmith.config.load import apply_overrides, check_config, config_from_dict, load_config
from tunesmith.config.schema import Config


def resolve_config(
    config_or_path: Config | dict | str | Path | None,
    overrides: list[str] | None = None,
    **kw_overrides: Any,
) -> Config:
    """A Config from a Config, a dict, a YAML path or None (defaults), with overrides applied,
    then validated once (so an override may make a partial file valid).

    Keyword overrides use `__` for dots: `train__lr=1e-3` is `train.lr=1e-3`.
    """
    dotted = {k.replace("__", "."): v for k, v in kw_overrides.items()}
    if isinstance(config_or_path, Config):
        cfg = copy.deepcopy(config_or_path)
    elif isinstance(config_or_path, dict):
        cfg = config_from_dict(config_or_path, check=False)
    else:
        cfg = load_config(config_or_path, check=False)
    cfg = apply_overrides(apply_overrides(cfg, overrides or []), dotted)
    check_config(cfg)
    return cfg


def train(
    config_or_path: Config | dict | str | Path | None = None,
    overrides: list[str] | None = None,
    **kw_overrides: Any,
) -> Path:
    """Fine-tune; return the run directory. `tunesmith.train("cfg.yaml", train__lr=1e-4)`."""
    from tunesmith.log import quiet_libraries

    quiet_libraries()  # before accelerate imports DeepSpeed
    from tunesmith.training.loop import train as run

    return run(resolve_config(config_or_path, overrides, **kw_overrides))
