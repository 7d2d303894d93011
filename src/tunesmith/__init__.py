"""tunesmith: fine-tune, evaluate, compress and serve DeepSeek-family LLMs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.log import quiet_import_warnings

__version__ = "0.1.0"

# before anything imports transformers, which imports torchao when it is installed
quiet_import_warnings()


def train(config_or_path: Any = None, overrides: list[str] | None = None, **kw: Any) -> Path:
    """Fine-tune; return the run directory. `tunesmith.train("cfg.yaml", train__lr=1e-4)`.

    `config_or_path`: a YAML path, a dict, a `Config` or None (defaults). Overrides are dotted
    strings (`["train.lr=1e-4"]`) or keywords with `__` for dots.
    """
    from tunesmith.api import train as _train  # imported on use: keeps `import tunesmith` light

    return _train(config_or_path, overrides, **kw)


__all__ = ["__version__", "train"]
