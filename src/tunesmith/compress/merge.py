"""Fold a LoRA / DoRA adapter into its base and write a plain Hugging Face model directory.

    report = merge_adapter("runs/demo/run", "runs/demo/merged")
    # runs/demo/merged: config.json, model.safetensors, tokenizer files, export_report.json

The adapter is a tunesmith run directory, its `adapter/`, or any PEFT LoRA directory; the
base is `--base` or the adapter's `base_model_name_or_path` (a preset or a local directory).
LoRA targets given as parameters (`target_parameters`: DeepSeek-V3's fused experts and
shared experts) merge like module targets. The output is written to a temporary sibling
directory and moved into place, so a failed merge leaves no half-written model.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.compress import report as rep
from tunesmith.compress.card import write_export_card
from tunesmith.errors import ConfigError
from tunesmith.output_dir import check_output_dir, staged_dir

ATTN = "sdpa"  # a kernel plain transformers knows, since the config is saved with the model


def find_adapter(adapter: str | Path) -> tuple[Path, dict]:
    """The adapter directory (a run dir's `adapter/` when given a run) and its config."""
    path = Path(adapter).expanduser()
    if not path.is_dir():
        raise ConfigError(f"--adapter: '{adapter}' is not a directory")
    if (path / "adapter").is_dir():
        path = path / "adapter"
    elif (path / "model").is_dir() and not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"--adapter: '{adapter}' is a full fine-tune; there is no adapter to merge "
            f"('{path / 'model'}' already is a plain Hugging Face model directory)"
        )
    config = path / "adapter_config.json"
    if not config.is_file():
        raise ConfigError(
            f"--adapter: '{path}' has no adapter_config.json "
            "(expected a PEFT adapter directory or a tunesmith run directory)"
        )
    try:
        data = json.loads(config.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{config}: not valid JSON ({e})") from None
    kind = data.get("peft_type")
    if kind != "LORA":
        why = (
            "prefix tuning adds learned key/value tokens to every layer's cache, which are not "
            "weights and cannot be folded into them; serve it as is "
            "(tunesmith serve --model RUN) or train with method.name=lora or dora"
            if kind == "PREFIX_TUNING"
            else "only LoRA and DoRA adapters can be merged"
        )
        raise ConfigError(f"--adapter: '{path}' is a {kind} adapter: {why}")
    return path, data


def _describe(config: object) -> str:
    keys = ("hidden_size", "num_hidden_layers", "vocab_size")
    return (
        f"{config.model_type} (" + ", ".join(f"{k} {getattr(config, k, '?')}" for k in keys) + ")"
    )


def _model_config(name: str) -> object | None:
    """The config of a preset or local model directory; None if `name` is neither."""
    from transformers import AutoConfig

    from tunesmith.models.registry import PRESETS

    preset = PRESETS.get(name)
    if preset is not None and preset.config is not None:
        return preset.config()
    path = preset.path() if preset is not None else Path(name).expanduser()
    if path is None or not (path / "config.json").is_file():
        return None
    return AutoConfig.from_pretrained(path, local_files_only=True)


def check_base(base: str, trained_on: str | None, adapter: Path) -> None:
    """Refuse a quantized base, and a base of another architecture / shape than the one
    the adapter was trained on (when that one can be found here)."""
    from tunesmith.models.load import resolve_model_dir

    try:
        base_dir = resolve_model_dir(base)
    except ConfigError as e:
        raise ConfigError(str(e).replace("model.name_or_path", "--base", 1)) from None
    if base_dir is not None:
        raw = json.loads((base_dir / "config.json").read_text())
        quant = raw.get("quantization_config")
        if quant:
            method = quant.get("quant_method", "unknown")
            raise ConfigError(
                f"--base: '{base}' is quantized ({method}, quantization_config in "
                f"{base_dir / 'config.json'}); a LoRA delta cannot be added to quantized "
                "weights without dequantizing them, which loses precision twice. Merge into "
                "the unquantized base (--base DIR of the float weights) and quantize the "
                "merged model afterwards; dequantize -> merge -> requantize (--requantize) "
                "is not implemented yet"
            )
    if trained_on is None or trained_on == base:
        return
    expected = _model_config(trained_on)
    if expected is None:
        return  # the recorded base is not here (e.g. a hub name); the weights check still runs
    got = _model_config(base)
    keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size")
    if any(getattr(expected, k, None) != getattr(got, k, None) for k in keys):
        raise ConfigError(
            f"--adapter '{adapter}' was trained on '{trained_on}', {_describe(expected)}, "
            f"but --base '{base}' is {_describe(got)}; pass the base it was trained on"
        )


def _attach(base_model: object, adapter: Path, base: str) -> object:
    """PeftModel over `base_model`; an adapter whose weights do not fit is a ConfigError."""
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict

    try:
        model = PeftModel.from_pretrained(base_model, adapter)
    except (ValueError, RuntimeError, KeyError) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if not ln.startswith("Error(s) in loading")), "")
        raise ConfigError(
            f"--adapter '{adapter}' does not fit --base '{base}': "
            f"{detail[:300] or type(e).__name__}"
        ) from None
    weights = adapter / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as f:
            saved = set(f.keys())
        state = get_peft_model_state_dict(model, save_embedding_layers=False)
        loaded = {k.replace(".default", "") for k in state}
        missing = sorted(saved - loaded)
        if missing:
            raise ConfigError(
                f"--adapter '{adapter}' does not fit --base '{base}': {len(missing)} adapter "
                f"tensors have no place in the base, e.g. {missing[0]}"
            )
    return model


def merge_adapter(
    adapter: str | Path,
    output: str | Path,
    base: str | None = None,
    dtype: str = "float32",
    overwrite: bool = False,
) -> dict:
    """Merge, save (safetensors + tokenizer), reload in plain transformers, compare logits
    on fixed prompts with the adapter model, and write `export_report.json`. Returns it."""
    adapter_dir, adapter_cfg = find_adapter(adapter)
    output = Path(output).expanduser()
    from tunesmith.models.adapter_base import find_adapter_base, try_adapter_base

    recorded = adapter_cfg.get("base_model_name_or_path") or None
    trained_on = try_adapter_base(adapter_dir, recorded)  # wherever the run now lives
    if base is None:
        base = find_adapter_base(adapter_dir, recorded, hint="pass --base PRESET_OR_DIR")
    check_base(base, trained_on, adapter_dir)
    sources = [adapter_dir, adapter_dir.parent] if adapter_dir.name == "adapter" else [adapter_dir]
    if Path(base).expanduser().is_dir():
        sources.append(Path(base).expanduser())
    check_output_dir(output, overwrite, sources)

    from transformers import AutoModelForCausalLM

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import DTYPES, load_model_and_tokenizer
    from tunesmith.tokenize.templates import load_tokenizer

    try:
        base_model, tok = load_model_and_tokenizer(
            ModelConfig(name_or_path=base, dtype=dtype, attn_implementation=ATTN)
        )
    except ConfigError as e:
        raise ConfigError(str(e).replace("model.name_or_path", "--base", 1)) from None
    if (adapter_dir / "tokenizer.json").is_file():
        tok = load_tokenizer(adapter_dir)
    model = _attach(base_model, adapter_dir, base)
    expected = rep.probe_logits(model, tok)
    merged = model.merge_and_unload()
    leftover = [n for n, _ in merged.named_parameters() if "lora_" in n]
    if leftover:  # would be a PEFT bug; never write a half-merged model
        raise RuntimeError(f"merge left adapter weights behind, e.g. {leftover[0]}")
    params = rep.param_count(merged)

    with staged_dir(output) as tmp:
        merged.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        del merged, model, base_model
        reloaded = AutoModelForCausalLM.from_pretrained(
            tmp, dtype=DTYPES[dtype], local_files_only=True
        )
        diff = rep.max_abs_diff(expected, rep.probe_logits(reloaded, tok))
        report = {
            "kind": "merge",
            "adapter": str(adapter_dir),
            "peft_type": "DORA" if adapter_cfg.get("use_dora") else "LORA",
            "r": adapter_cfg.get("r"),
            "target_modules": adapter_cfg.get("target_modules"),
            "target_parameters": adapter_cfg.get("target_parameters"),
            "base": base,
            "model_type": reloaded.config.model_type,
            "dtype": dtype,
            "parameters": params,
            "size_bytes": rep.dir_size(tmp),
            "probe_prompts": len(rep.PROMPTS),
            "max_abs_logit_diff": diff,
        }
        rep.write_report(tmp, report)
        write_export_card("merge", report, adapter_dir, tmp, output)
    return report
