"""Typed config (one dataclass per section), YAML loading, dotted overrides and --help text.

Names load on first use, so importing a schema (`tunesmith.config.commands`, as the CLI does
to build its parsers) does not import the YAML loader.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "format_help": "help",
    "apply_overrides": "load",
    "check_config": "load",
    "config_from_dict": "load",
    "config_to_dict": "load",
    "config_to_yaml": "load",
    "load_config": "load",
    "save_config": "load",
    "Config": "schema",
    "DataConfig": "schema",
    "EvalConfig": "schema",
    "LoraConfig": "schema",
    "MethodConfig": "schema",
    "ModelConfig": "schema",
    "OutputConfig": "schema",
    "TrainConfig": "schema",
    "describe_fields": "settings",
    "load_settings": "settings",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tunesmith.config' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tunesmith.config.{_WHERE[name]}"), name)
