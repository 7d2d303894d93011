"""Loading a directory that `tunesmith export quantize` wrote (or any pre-quantized HF dir).

Transformers reads `quantization_config` from config.json and deserializes the quantized
weights itself; this checks first that the library and hardware the method needs are here,
so a missing one is one clear line instead of a traceback deep in the load.

torchao's import-time warnings are hidden by `tunesmith.log.quiet_import_warnings()`, which
`import tunesmith` runs.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tunesmith.errors import ConfigError

# quant_method in config.json -> (package, needs CUDA)
METHODS = {"torchao": ("torchao", False), "bitsandbytes": ("bitsandbytes", True)}
METHODS |= {"gptq": ("gptqmodel", True), "awq": ("gptqmodel", True)}


def quantization_method(model_dir: Path) -> str | None:
    """`quant_method` of the directory's config.json; None for a float model."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    quant = config.get("quantization_config")
    if not isinstance(quant, dict):
        return None
    return str(quant.get("quant_method", "unknown"))


def prepare_quantized(model_dir: Path, field: str = "model.name_or_path") -> str | None:
    """Check that a quantized `model_dir` can load here; returns its method (None: float)."""
    import torch

    method = quantization_method(model_dir)
    if method is None:
        return None
    package, needs_cuda = METHODS.get(method, (None, False))
    if package is None:
        raise ConfigError(
            f"{field}: '{model_dir}' is quantized with '{method}', which tunesmith does not "
            f"load (supported: {', '.join(METHODS)})"
        )
    if needs_cuda and not torch.cuda.is_available():
        raise ConfigError(
            f"{field}: '{model_dir}' is quantized with {method}, which needs a CUDA GPU; "
            "this machine has none (CPU-loadable exports: tunesmith export quantize "
            "--scheme int8-weight-only, int8-dynamic or int4-weight-only)"
        )
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"{field}: '{model_dir}' is quantized with {method}; loading it needs the "
            f"'{package}' package, which is not installed"
        )
    return method
