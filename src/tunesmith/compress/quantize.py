"""Quantize a float model directory and write one that reloads quantized, with a report.

    report = quantize_model("runs/demo/merged", "int8-weight-only", "runs/demo/int8")
    # runs/demo/int8: config.json (with quantization_config), model.safetensors (quantized
    # tensors + torchao metadata), tokenizer files, export_report.json

Order: the scheme is checked (known, and runnable on this hardware) and the evaluation data
read before any weights load. Then the float model is measured (quality on the evaluation
set, decode speed in the inference engine), quantized by transformers with the scheme's
config, saved to a temporary sibling of `output`, reloaded the way `tunesmith serve` and
`tunesmith eval` load it (deserialized, not quantized again: the reloaded logits equal the
in-memory quantized model's), measured again, and moved into place.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.compress import measure
from tunesmith.compress import report as rep
from tunesmith.compress.card import write_export_card
from tunesmith.compress.quantize_schemes import Scheme, check_scheme
from tunesmith.errors import ConfigError
from tunesmith.models.quantize_load import quantization_method
from tunesmith.output_dir import check_output_dir, staged_dir


def _check_group_size(model: torch.nn.Module, scheme: Scheme, group_size: int) -> None:
    if scheme.name not in ("int4-weight-only", "gptq"):
        return
    for name, module in model.named_modules():
        linear = isinstance(module, torch.nn.Linear) and name != "lm_head"
        if linear and module.in_features % group_size:
            raise ConfigError(
                f"--group-size: {group_size} does not divide the {module.in_features} "
                f"input features of {name}; choose a group size that does (e.g. 32)"
            )


def _quantized_count(model: torch.nn.Module) -> int:
    """Parameters held in quantized tensors (tensor subclasses, bitsandbytes params)."""
    plain = (torch.nn.Parameter, torch.Tensor)
    total = 0
    for p in model.parameters():
        data = p.data if isinstance(p, torch.nn.Parameter) else p
        if type(p) not in plain or type(data) not in plain:
            total += p.numel()
    return total


def _weights_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def _library(scheme: Scheme) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{scheme.package} {version(scheme.package)}"
    except PackageNotFoundError:
        return scheme.package


def quantize_model(
    model: str,
    scheme: str,
    output: str | Path,
    *,
    eval_data: str | Path | None = None,
    metrics: str | list[str] = "em",
    max_samples: int = 0,
    group_size: int = 32,
    overwrite: bool = False,
) -> dict:
    """Quantize, save, reload, measure before and after; write and return the report."""
    from tunesmith.evaluation.registry import parse_metrics

    chosen = check_scheme(scheme, group_size)
    src = rep.source_model_dir(model, "quantize")
    output = Path(output).expanduser()
    check_output_dir(output, overwrite, [src])
    names = [m for m in parse_metrics(metrics) if m != "loss"]
    items = measure.eval_items(eval_data, names, max_samples)

    from transformers import AutoModelForCausalLM

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    cuda = chosen.device == "cuda"
    float_model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=str(src)))
    _check_group_size(float_model, chosen, group_size)
    params = rep.param_count(float_model)
    if cuda:
        float_model.cuda()
    expected = rep.probe_logits(float_model, tok)
    prompts = measure.prompts_of(items) or list(rep.PROMPTS)
    baseline = measure.measured(
        float_model, tok, items, names, prompts, "export quantize: float model"
    )
    baseline |= {"size_bytes": rep.dir_size(src), "weights_bytes": _weights_bytes(src)}
    del float_model

    config = chosen.build(group_size, prompts, tok)
    quantized = AutoModelForCausalLM.from_pretrained(
        src,
        dtype=torch.bfloat16 if cuda else torch.float32,
        local_files_only=True,
        attn_implementation=ModelConfig().attn_implementation,  # as the reload below
        quantization_config=config,
        device_map={"": 0} if cuda else None,
    )
    in_memory = rep.probe_logits(quantized, tok)

    with staged_dir(output) as tmp:
        quantized.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        del quantized
        reloaded, tok = load_model_and_tokenizer(ModelConfig(name_or_path=str(tmp)))
        if cuda:
            reloaded.cuda()
        after = rep.probe_logits(reloaded, tok)
        report = {
            "kind": "quantize",
            "source": str(src),
            "scheme": chosen.name,
            "library": _library(chosen),
            "quant_method": quantization_method(tmp),
            "group_size": group_size if chosen.name in ("int4-weight-only", "gptq") else None,
            "device": "cuda" if cuda else "cpu",
            "model_type": reloaded.config.model_type,
            "parameters": params,
            "quantized_parameters": _quantized_count(reloaded),
            "size_bytes": rep.dir_size(tmp),
            "weights_bytes": _weights_bytes(tmp),
            "probe_prompts": len(rep.PROMPTS),
            "max_abs_logit_diff": rep.max_abs_diff(expected, after),
            "reload_max_abs_logit_diff": rep.max_abs_diff(in_memory, after),
            "measured": measure.measured(
                reloaded, tok, items, names, prompts, f"export quantize: {chosen.name}"
            ),
            "baseline": baseline,
        }
        rep.write_report(tmp, report)
        write_export_card("quantize", report, src, tmp, output)
    return report


def summary(report: dict) -> list[str]:
    """The lines `tunesmith export quantize` prints."""
    before, after = report["baseline"], report["measured"]

    def row(label: str, a: float, b: float, spec: str, ratio: bool = False) -> str:
        tail = f"   ({b / a:.2f}×)" if ratio and a else ""
        return f"  {label:<22}{format(a, spec):>12}{format(b, spec):>12}{tail}"

    setup = after["speed_setup"]
    lines = [
        f"quantized {report['source']} with {report['scheme']} ({report['library']}, "
        f"{report['device']})",
        f"  {'':<22}{'before':>12}{'after':>12}",
        row("size on disk (MiB)", before["size_bytes"] / 2**20, report["size_bytes"] / 2**20,
            ".2f", ratio=True),
        row("tokens/s", before["tokens_per_s"], after["tokens_per_s"], ".0f", ratio=True),
    ]  # fmt: skip
    for key, value in after["metrics"].items():
        if key != "loss":
            lines.append(row(key, before["metrics"][key], value, ".4f"))
    share = report["quantized_parameters"] / report["parameters"]
    lines += [
        f"  quantized parameters  {report['quantized_parameters']:,} of "
        f"{report['parameters']:,} ({share:.1%})",
        f"  max |logit diff|      {report['max_abs_logit_diff']:.3g} vs the float model, "
        f"{report['reload_max_abs_logit_diff']:.3g} reloaded vs in memory "
        f"({report['probe_prompts']} prompts)",
        f"  evaluated on {after['eval_data']} ({after['eval_samples']} samples); speed: "
        f"engine, {setup['prompts']} prompts x {setup['new_tokens']} new tokens, "
        f"best of {setup['best_of']}",
    ]
    return lines
