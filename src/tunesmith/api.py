"""Python API beside the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.config.load import config_from_dict, config_to_dict, load_config
from tunesmith.config.schema import Config


def resolve_config(
    config_or_path: Config | dict | str | Path | None,
    overrides: list[str] | None = None,
    **kw_overrides: Any,
) -> Config:
    """A Config from a Config, a dict, a YAML path or None (defaults), with overrides applied.

    Keyword overrides use `__` for dots: `train__lr=1e-3` is `train.lr=1e-3`.
    """
    dotted = {k.replace("__", "."): v for k, v in kw_overrides.items()}
    if isinstance(config_or_path, Config):
        config_or_path = config_to_dict(config_or_path)
    if isinstance(config_or_path, dict):
        cfg = config_from_dict(config_or_path)
        base = config_to_dict(cfg)
        return load_config(None, _apply_dict(base, overrides or [], dotted))
    cfg = load_config(config_or_path, overrides or [])
    if dotted:
        cfg = load_config(None, _apply_dict(config_to_dict(cfg), [], dotted))
    return cfg


def _apply_dict(base: dict, overrides: list[str], dotted: dict[str, Any]) -> dict:
    from tunesmith.config.load import apply_overrides

    return apply_overrides(apply_overrides(base, overrides), dotted)


def train(
    config_or_path: Config | dict | str | Path | None = None,
    overrides: list[str] | None = None,
    **kw_overrides: Any,
) -> Path:
    """Fine-tune; return the run directory. `tunesmith.train("cfg.yaml", train__lr=1e-4)`.

    Overriding data.train without data.validation holds out part of the new data for
    validation instead of the config's own validation files (`validation_rule`).
    """
    import os
    import sys

    from tunesmith.log import quiet_libraries

    quiet_libraries()  # before accelerate imports DeepSpeed
    from tunesmith.training.data import override_keys, validation_rule
    from tunesmith.training.loop import train as run

    cfg = resolve_config(config_or_path, overrides, **kw_overrides)
    notice = validation_rule(cfg, override_keys(overrides, kw_overrides))
    if notice is not None and os.environ.get("RANK", "0") == "0":
        print(notice, file=sys.stderr, flush=True)
    return run(cfg)
