"""Typed config (one dataclass per section), YAML loading, dotted overrides and --help text."""

from tunesmith.config.help import format_help
from tunesmith.config.load import (
    apply_overrides,
    check_config,
    config_from_dict,
    config_to_dict,
    config_to_yaml,
    load_config,
    save_config,
)
from tunesmith.config.schema import (
    Config,
    DataConfig,
    EvalConfig,
    LoraConfig,
    MethodConfig,
    ModelConfig,
    OutputConfig,
    TrainConfig,
)

__all__ = [
    "Config",
    "DataConfig",
    "EvalConfig",
    "LoraConfig",
    "MethodConfig",
    "ModelConfig",
    "OutputConfig",
    "TrainConfig",
    "apply_overrides",
    "check_config",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "format_help",
    "load_config",
    "save_config",
]
