"""The settings of `tunesmith export merge | prune | quantize | gguf | report`, declared once:
flags, `--help`, YAML files, dotted overrides, errors and UI forms come from these.

    tunesmith export prune prune.yaml sparsity=0.6      # mode, model, output in prune.yaml
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.schema import opt
from tunesmith.errors import ConfigError

DTYPES = ["float32", "bfloat16", "float16"]
PRUNE_MODES = ["unstructured", "structured"]
PRUNE_SCOPES = ["layer", "global"]
PRUNE_IMPORTANCE = ["magnitude", "activation"]
GGUF_OUTTYPES = ["f16", "q8_0", "f32"]
OVERWRITE = "replace the output if it exists and is not empty"
EVAL_DATA = (
    "records (any format tunesmith eval reads) for perplexity and the task metric "
    "(default: the demo task's held-out questions)"
)
METRICS = "task metrics, comma separated; loss / perplexity is always added"
MODEL = "a float model dir, a full fine-tune run dir (its model/) or tiny-deepseek-v3-base"


@dataclass
class MergeSettings:
    adapter: str = opt(
        "",
        "a tunesmith run dir, its adapter/ dir, or any PEFT LoRA / DoRA adapter dir",
        required=True,
        metavar="DIR",
    )
    output: str = opt("", "the merged model directory", required=True, metavar="DIR")
    base: str | None = opt(
        None,
        "base preset or model dir (default: base_model_name_or_path in adapter_config.json)",
        metavar="DIR",
    )
    dtype: str = opt("float32", "dtype the merge runs and the weights are saved in", choices=DTYPES)
    overwrite: bool = opt(False, OVERWRITE)


@dataclass
class PruneSettings:
    """`prune_model`'s options; the settings of the other mode keep their defaults."""

    mode: str = opt(
        "",
        "unstructured (zero the smallest weights) or structured (remove neurons / heads)",
        required=True,
        choices=PRUNE_MODES,
    )
    model: str = opt("", MODEL, metavar="DIR")
    output: str = opt("", "the pruned model directory", metavar="DIR")
    sparsity: float | None = opt(
        None, "unstructured: fraction of weights zeroed (required)", gt=0.0, lt=1.0, metavar="S"
    )
    scope: str = opt(
        "layer",
        "unstructured: layer (the sparsity in every weight tensor) or global (one threshold "
        "over all)",
        choices=PRUNE_SCOPES,
    )
    ffn_ratio: float = opt(
        0.0,
        "structured: fraction of FFN neurons removed from every MLP / expert",
        min=0.0,
        lt=1.0,
        metavar="R",
    )
    head_ratio: float = opt(
        0.0,
        "structured: fraction of attention heads removed from every layer",
        min=0.0,
        lt=1.0,
        metavar="R",
    )
    importance: str = opt(
        "magnitude",
        "structured: magnitude (weight norms) or activation (needs calib)",
        choices=PRUNE_IMPORTANCE,
    )
    calib: list[str] = opt(
        [],
        "records (any data format): their loss is reported before and after, and activation "
        "importance is measured on them",
        metavar="FILE",
    )
    calib_samples: int = opt(32, "calibration samples used (the first ones)", min=1, metavar="N")
    dtype: str = opt("float32", "dtype the model is pruned and saved in", choices=DTYPES)
    overwrite: bool = opt(False, OVERWRITE)


def check_prune(s: PruneSettings) -> None:
    """Cross-setting rules: each mode's settings apply to that mode only."""
    defaults = PruneSettings()
    own = {
        "unstructured": ("sparsity", "scope"),
        "structured": ("ffn_ratio", "head_ratio", "importance"),
    }
    other = "structured" if s.mode == "unstructured" else "unstructured"
    for key in own[other]:
        if getattr(s, key) != getattr(defaults, key):
            raise ConfigError(f"{key} applies to mode {other} only")
    if s.calib_samples != defaults.calib_samples and not s.calib:
        raise ConfigError("calib_samples applies only with calib (records to measure on)")
    if s.mode == "unstructured" and s.sparsity is None:
        raise ConfigError("mode unstructured needs sparsity (0 < sparsity < 1)")
    if s.mode == "structured" and not (s.ffn_ratio or s.head_ratio):
        raise ConfigError("mode structured needs ffn_ratio and/or head_ratio above 0")
    if s.importance == "activation" and not s.calib:
        raise ConfigError("importance activation needs calib (records to measure activations on)")


def check_prune_command(s: PruneSettings) -> None:
    """The command also needs the model and the output (the library takes them apart)."""
    check_prune(s)
    for key in ("model", "output"):
        if not getattr(s, key):
            raise ConfigError(f"--{key}: required (or `{key}:` in CONFIG)")


@dataclass
class QuantizeSettings:
    model: str = opt("", MODEL, required=True, metavar="DIR")
    scheme: str = opt(
        "",
        "int8-weight-only, int8-dynamic, int4-weight-only (CPU); nf4, bnb-int8, gptq (CUDA)",
        required=True,
    )
    output: str = opt("", "the quantized model directory", required=True, metavar="DIR")
    eval_data: str | None = opt(None, EVAL_DATA, metavar="FILE")
    metrics: str = opt("em", METRICS)
    max_samples: int = opt(0, "evaluate the first N records (0: all)", min=0, metavar="N")
    group_size: int = opt(
        32, "int4-weight-only / gptq: weights per scale, 32, 64, 128 or 256", min=1, metavar="N"
    )
    overwrite: bool = opt(False, OVERWRITE)


@dataclass
class GgufSettings:
    model: str = opt("", MODEL, required=True, metavar="DIR")
    output: str = opt(
        "",
        "a .gguf file (Modelfile beside it) or a directory (model.gguf, Modelfile, "
        "export_report.json)",
        required=True,
        metavar="FILE_OR_DIR",
    )
    outtype: str = opt("f16", "the type of the weights", choices=GGUF_OUTTYPES)
    overwrite: bool = opt(False, "replace the files if they exist")


@dataclass
class ReportSettings:
    dirs: list[str] = opt(
        [],
        "model / run / export directories; the first is the reference of the ratios",
        required=True,
        positional=True,
        flag="DIR",
        metavar="DIR",
    )
    output: str = opt(
        "runs/export-report", "where report.md, report.json and report.png go", metavar="DIR"
    )
    eval_data: str | None = opt(None, EVAL_DATA, metavar="FILE")
    metrics: str = opt("em", METRICS)
    max_samples: int = opt(0, "evaluate the first N records (0: all)", min=0, metavar="N")
    reuse: bool = opt(
        False,
        "use the tokens/s and quality an export recorded in its export_report.json (faster; "
        "those figures are marked * as not measured in this run); default: measure every "
        "variant now, in this process (a fair comparison)",
    )
