"""The real-dimension memory table: measured deltas, per-layer slope, full-depth estimate."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_real_table(report: dict, console: Console) -> None:
    depths = report["layers_measured"]
    full = report["full_layers"]
    table = Table(
        title=f"training memory, {report['dimensions_of']} dimensions at {depths} layers "
        f"(RSS delta over load only, MB; {full}-layer figures extrapolated per layer)"
    )
    columns = ["arm", "seq", "trainable", *[f"delta L={d}" for d in depths]]
    columns += ["per layer", f"delta L={full} (est.)", "vs Trainer", f"vs Trainer L={full}"]
    columns += ["fp32 logits", "chunked saves"]
    for col in columns:
        table.add_column(col, justify="left" if col == "arm" else "right")
    for e in sorted(report["arms"], key=lambda e: (e["seq"], e["arm"])):
        table.add_row(
            e["arm"],
            f"{e['seq']:,}",
            f"{e['trainable_params']:,}",
            *[_mb(e["delta_mb"].get(d)) for d in depths],
            _mb(e["per_layer_mb"]),
            _mb(e["full_depth_delta_mb"]),
            _ratio(e.get("vs_trainer")),
            _ratio(e.get("vs_trainer_full_depth")),
            _mb(e["logits_fp32_mb"]),
            _mb(e.get("chunked_saving_mb")),
        )
    console.print(table)
    console.print(
        "target: tunesmith LoRA at 4,096 tokens <= 0.40 of the Trainer + PEFT LoRA delta "
        "('vs Trainer'); 'fp32 logits' is one \\[seq, vocab] fp32 tensor, the plain path holds "
        "several (logits, their fp32 copy, softmax, gradient)"
    )
