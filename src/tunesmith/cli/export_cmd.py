"""`tunesmith export`: turn a training output into the model a runtime wants.

tunesmith export merge --adapter runs/demo/run --output runs/demo/merged
tunesmith export merge --adapter runs/sql/adapter --base models/my-base --output merged --overwrite
tunesmith export prune --model runs/full/model --output pruned --mode structured --ffn-ratio 0.25
tunesmith export quantize --model runs/demo/merged --scheme int8-weight-only --output runs/demo/int8
tunesmith export gguf --model runs/demo/merged --output runs/demo/gguf --outtype q8_0
tunesmith export report runs/demo/merged runs/demo/int8 runs/demo/gguf
tunesmith export prune prune.yaml sparsity=0.6 --output pruned   # CONFIG + overrides + flags
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tunesmith.config.export_settings import (
    GgufSettings,
    MergeSettings,
    PruneSettings,
    QuantizeSettings,
    ReportSettings,
    check_prune_command,
)
from tunesmith.config.settings import add_settings_args, settings_from_args


def export_merge(args: argparse.Namespace) -> int:
    from tunesmith.compress.merge import merge_adapter
    from tunesmith.compress.report import REPORT_NAME

    s = settings_from_args(args)
    report = merge_adapter(s.adapter, s.output, base=s.base, dtype=s.dtype, overwrite=s.overwrite)
    print(
        f"merged {report['peft_type']} adapter {report['adapter']} into {report['base']}\n"
        f"  parameters         {report['parameters']:,}\n"
        f"  size on disk       {report['size_bytes'] / 2**20:.1f} MiB\n"
        f"  max |logit diff|   {report['max_abs_logit_diff']:.3g} "
        f"(vs the adapter model, {report['probe_prompts']} prompts)\n"
        f"{s.output}  (report: {s.output.rstrip('/')}/{REPORT_NAME})"
    )
    return 0


def export_prune(args: argparse.Namespace) -> int:
    from tunesmith.compress.prune import prune_model, summary
    from tunesmith.compress.report import REPORT_NAME

    s = settings_from_args(args, check=check_prune_command)
    report = prune_model(s.model, s.output, s, dtype=s.dtype, overwrite=s.overwrite)
    print("\n".join(summary(report)))
    print(f"{s.output}  (report: {s.output.rstrip('/')}/{REPORT_NAME})")
    return 0


def export_quantize(args: argparse.Namespace) -> int:
    from tunesmith.compress.quantize import quantize_model, summary
    from tunesmith.compress.report import REPORT_NAME

    s = settings_from_args(args)
    report = quantize_model(
        s.model,
        s.scheme,
        s.output,
        eval_data=s.eval_data,
        metrics=s.metrics,
        max_samples=s.max_samples,
        group_size=s.group_size,
        overwrite=s.overwrite,
    )
    print("\n".join(summary(report)))
    print(f"{s.output}  (report: {s.output.rstrip('/')}/{REPORT_NAME})")
    return 0


def export_gguf(args: argparse.Namespace) -> int:
    from tunesmith.compress.gguf_export import export_gguf as write_gguf
    from tunesmith.compress.gguf_export import summary

    s = settings_from_args(args)
    report = write_gguf(s.model, s.output, outtype=s.outtype, overwrite=s.overwrite)
    print("\n".join(summary(report)))
    return 0


def export_report(args: argparse.Namespace) -> int:
    from tunesmith.compress.variants import compare_variants

    s = settings_from_args(args)
    rows, paths = compare_variants(
        s.dirs,
        s.output,
        eval_data=s.eval_data,
        metrics=s.metrics,
        max_samples=s.max_samples,
        reuse=s.reuse,
    )
    print(paths["markdown"].read_text(encoding="utf-8"), end="")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export merge": export_merge,
    "export prune": export_prune,
    "export quantize": export_quantize,
    "export gguf": export_gguf,
    "export report": export_report,
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="merge, prune, quantize, convert to GGUF, compare model variants"
    )
    export_sub = p.add_subparsers(metavar="ACTION", required=True)
    for action, schema, text in (
        ("merge", MergeSettings, "fold a LoRA / DoRA adapter into its base; write a plain HF model dir"),
        ("prune", PruneSettings, "magnitude pruning to a sparsity, or remove FFN neurons / attention heads"),
        ("quantize", QuantizeSettings, "int8 / int4 (CPU, torchao) or nf4 / int8 / gptq (CUDA) quantization"),
        ("gguf", GgufSettings, "write a llama.cpp / Ollama GGUF file (llama, qwen2, deepseek_v3) + Modelfile"),
        ("report", ReportSettings, "compare model variants: size, parameters, tokens/s, quality (+ PNG)"),
    ):  # fmt: skip
        p = export_sub.add_parser(action, help=text)
        add_settings_args(p, schema)
        p.set_defaults(command=f"export {action}")
        if action == "report":
            p.add_argument(
                "--remeasure",
                action="store_false",
                dest="setting__reuse",
                help="measure every variant now, in this process (the default)",
            )
