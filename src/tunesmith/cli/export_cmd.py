"""`tunesmith export`: turn a training output into the model a runtime wants.

tunesmith export merge --adapter runs/demo/run --output runs/demo/merged
tunesmith export merge --adapter runs/sql/adapter --base models/my-base --output merged --overwrite
tunesmith export prune --model runs/full/model --output pruned --mode structured --ffn-ratio 0.25
tunesmith export quantize --model runs/demo/merged --scheme int8-weight-only --output runs/demo/int8
tunesmith export gguf --model runs/demo/merged --output runs/demo/gguf --outtype q8_0
tunesmith export report runs/demo/merged runs/demo/int8 runs/demo/gguf
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def export_merge(args: argparse.Namespace) -> int:
    from tunesmith.compress.merge import merge_adapter
    from tunesmith.compress.report import REPORT_NAME

    report = merge_adapter(
        args.adapter, args.output, base=args.base, dtype=args.dtype, overwrite=args.overwrite
    )
    print(
        f"merged {report['peft_type']} adapter {report['adapter']} into {report['base']}\n"
        f"  parameters         {report['parameters']:,}\n"
        f"  size on disk       {report['size_bytes'] / 2**20:.1f} MiB\n"
        f"  max |logit diff|   {report['max_abs_logit_diff']:.3g} "
        f"(vs the adapter model, {report['probe_prompts']} prompts)\n"
        f"{args.output}  (report: {args.output.rstrip('/')}/{REPORT_NAME})"
    )
    return 0


def export_prune(args: argparse.Namespace) -> int:
    from tunesmith.compress.prune import PruneOptions, prune_model, summary
    from tunesmith.compress.report import REPORT_NAME

    options = PruneOptions(
        mode=args.mode,
        sparsity=args.sparsity,
        scope=args.scope,
        ffn_ratio=args.ffn_ratio,
        head_ratio=args.head_ratio,
        importance=args.importance,
        calib=args.calib,
        calib_samples=args.calib_samples,
    )
    report = prune_model(
        args.model, args.output, options, dtype=args.dtype, overwrite=args.overwrite
    )
    print("\n".join(summary(report)))
    print(f"{args.output}  (report: {args.output.rstrip('/')}/{REPORT_NAME})")
    return 0


def export_quantize(args: argparse.Namespace) -> int:
    from tunesmith.compress.quantize import quantize_model, summary
    from tunesmith.compress.report import REPORT_NAME

    report = quantize_model(
        args.model,
        args.scheme,
        args.output,
        eval_data=args.eval_data,
        metrics=args.metrics,
        max_samples=args.max_samples,
        group_size=args.group_size,
        overwrite=args.overwrite,
    )
    print("\n".join(summary(report)))
    print(f"{args.output}  (report: {args.output.rstrip('/')}/{REPORT_NAME})")
    return 0


def export_gguf(args: argparse.Namespace) -> int:
    from tunesmith.compress.gguf_export import export_gguf as write_gguf
    from tunesmith.compress.gguf_export import summary

    report = write_gguf(args.model, args.output, outtype=args.outtype, overwrite=args.overwrite)
    print("\n".join(summary(report)))
    return 0


def export_report(args: argparse.Namespace) -> int:
    from tunesmith.compress.variants import compare_variants

    rows, paths = compare_variants(
        args.dirs,
        args.output,
        eval_data=args.eval_data,
        metrics=args.metrics,
        max_samples=args.max_samples,
        reuse=args.reuse,
    )
    print(paths["markdown"].read_text(encoding="utf-8"), end="")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


DTYPES = ("float32", "bfloat16", "float16")
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

    p = export_sub.add_parser(
        "merge", help="fold a LoRA / DoRA adapter into its base; write a plain HF model dir"
    )
    p.add_argument(
        "--adapter",
        required=True,
        metavar="DIR",
        help="a tunesmith run dir, its adapter/ dir, or any PEFT LoRA / DoRA adapter dir",
    )
    p.add_argument("--output", required=True, metavar="DIR", help="the merged model directory")
    p.add_argument(
        "--base",
        metavar="DIR",
        help="base preset or model dir (default: base_model_name_or_path in adapter_config.json)",
    )
    dtype_help = "dtype the merge runs and the weights are saved in (default: %(default)s)"
    p.add_argument("--dtype", default="float32", choices=DTYPES, help=dtype_help)
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output if it exists and is not empty"
    )
    p.set_defaults(command="export merge")
    _add_prune_parser(export_sub)
    _add_quantize_parser(export_sub)
    _add_gguf_parser(export_sub)
    _add_report_parser(export_sub)


def _add_prune_parser(export_sub: argparse._SubParsersAction) -> None:
    p = export_sub.add_parser(
        "prune",
        help="magnitude pruning to a sparsity, or remove FFN neurons / attention heads",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="a model dir, a full fine-tune run dir (its model/) or tiny-deepseek-v3-base",
    )
    p.add_argument("--output", required=True, metavar="DIR", help="the pruned model directory")
    p.add_argument(
        "--mode",
        required=True,
        metavar="MODE",
        help="unstructured (zero the smallest weights) or structured (remove neurons / heads)",
    )
    p.add_argument(
        "--sparsity",
        type=float,
        metavar="S",
        help="unstructured: fraction of weights zeroed, 0 < x < 1",
    )
    p.add_argument(
        "--scope",
        metavar="SCOPE",
        help="unstructured: layer (the sparsity in every weight tensor, default) or global "
        "(one threshold over all)",
    )
    p.add_argument(
        "--ffn-ratio",
        type=float,
        metavar="R",
        help="structured: fraction of FFN neurons removed from every MLP / expert, 0 <= x < 1",
    )
    p.add_argument(
        "--head-ratio",
        type=float,
        metavar="R",
        help="structured: fraction of attention heads removed from every layer, 0 <= x < 1",
    )
    p.add_argument(
        "--importance",
        metavar="KIND",
        help="structured: magnitude (weight norms, default) or activation (needs --calib)",
    )
    p.add_argument(
        "--calib",
        nargs="+",
        metavar="FILE",
        help="records (any data format): their loss is reported before and after, and "
        "activation importance is measured on them",
    )
    p.add_argument(
        "--calib-samples",
        type=int,
        metavar="N",
        help="calibration samples used (default 32, the first ones)",
    )
    dtype_help = "dtype the model is pruned and saved in (default: %(default)s)"
    p.add_argument("--dtype", default="float32", choices=DTYPES, help=dtype_help)
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output if it exists and is not empty"
    )
    p.set_defaults(command="export prune")


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="a float model dir, a full fine-tune run dir (its model/) or tiny-deepseek-v3-base",
    )


def _add_measure_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--eval-data",
        metavar="FILE",
        help="records (any format tunesmith eval reads) for perplexity and the task metric "
        "(default: the demo task's held-out questions)",
    )
    p.add_argument(
        "--metrics",
        default="em",
        help="task metrics, comma separated; loss / perplexity is always added "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--max-samples", type=int, default=0, help="evaluate the first N records (0: all)"
    )


def _add_quantize_parser(export_sub: argparse._SubParsersAction) -> None:
    p = export_sub.add_parser(
        "quantize", help="int8 / int4 (CPU, torchao) or nf4 / int8 / gptq (CUDA) quantization"
    )
    _add_model_arg(p)
    p.add_argument(
        "--scheme",
        required=True,
        help="int8-weight-only, int8-dynamic, int4-weight-only (CPU); nf4, bnb-int8, gptq (CUDA)",
    )
    p.add_argument("--output", required=True, metavar="DIR", help="the quantized model directory")
    _add_measure_args(p)
    p.add_argument(
        "--group-size",
        type=int,
        default=32,
        help="int4-weight-only / gptq: weights per scale, 32, 64, 128 or 256 (default: 32)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output if it exists and is not empty"
    )
    p.set_defaults(command="export quantize")


def _add_gguf_parser(export_sub: argparse._SubParsersAction) -> None:
    p = export_sub.add_parser(
        "gguf", help="write a llama.cpp / Ollama GGUF file (llama, qwen2, deepseek_v3) + Modelfile"
    )
    _add_model_arg(p)
    p.add_argument(
        "--output",
        required=True,
        metavar="FILE_OR_DIR",
        help="a .gguf file (Modelfile beside it) or a directory (model.gguf, Modelfile, "
        "export_report.json)",
    )
    p.add_argument(
        "--outtype", default="f16", help="f16 (default), q8_0 or f32: the type of the weights"
    )
    p.add_argument("--overwrite", action="store_true", help="replace the files if they exist")
    p.set_defaults(command="export gguf")


def _add_report_parser(export_sub: argparse._SubParsersAction) -> None:
    p = export_sub.add_parser(
        "report", help="compare model variants: size, parameters, tokens/s, quality (+ PNG)"
    )
    p.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="model / run / export directories; the first is the reference of the ratios",
    )
    p.add_argument(
        "--output",
        default="runs/export-report",
        metavar="DIR",
        help="where report.md, report.json and report.png go (default: %(default)s)",
    )
    _add_measure_args(p)
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--remeasure",
        action="store_false",
        dest="reuse",
        help="measure every variant now, in this process (the default: a fair comparison)",
    )
    when.add_argument(
        "--reuse",
        action="store_true",
        help="use the tokens/s and quality an export recorded in its export_report.json "
        "(faster; those figures are marked * as not measured in this run)",
    )
    p.set_defaults(command="export report", reuse=False)
