"""Turn the two arms' raw numbers into the report (JSON) and a rich table with ratios."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def tail_mean(values: list[float], frac: float = 0.1) -> float:
    """Mean of the last `frac` of `values` (at least one)."""
    k = max(1, int(len(values) * frac))
    return sum(values[-k:]) / k


def summarize(runs: list[dict]) -> dict:
    """The per-arm numbers of the report, from the arm's fastest run."""
    raw = min(runs, key=lambda r: r["train_seconds"])
    secs = raw["train_seconds"]
    return {
        "real_tokens": raw["real_tokens"],
        "padded_tokens": raw["padded_tokens"],
        "pad_fraction": 1 - raw["real_tokens"] / max(raw["padded_tokens"], 1),
        "real_tokens_per_s": raw["real_tokens"] / max(secs, 1e-9),
        "processed_tokens_per_s": raw["padded_tokens"] / max(secs, 1e-9),
        "steps": raw["steps"],
        "train_seconds": secs,
        "wall_seconds": raw["arm_seconds"],
        "process_seconds": raw["process_seconds"],
        "cpu_seconds": raw["arm_cpu_seconds"],
        "cpu_utilization": raw["arm_cpu_seconds"] / (raw["arm_seconds"] * raw["torch_threads"]),
        "runs_real_tokens_per_s": [r["real_tokens"] / r["train_seconds"] for r in runs],
        "peak_rss_mb": raw["peak_rss_mb"],
        "final_train_loss": tail_mean(raw["step_losses"]),
        "heldout_loss": raw["heldout_loss"],
        "torch_threads": raw["torch_threads"],
    }


def build_report(runs: dict[str, list[dict]], settings: dict) -> dict:
    """Per-arm summaries, the ratios (`speedup` = our real tokens/s over the baseline's)."""
    base, ours = summarize(runs["baseline"]), summarize(runs["tunesmith"])
    return {
        "baseline": base,
        "tunesmith": ours,
        "speedup": ours["real_tokens_per_s"] / base["real_tokens_per_s"],
        "loss_ratio": ours["heldout_loss"] / base["heldout_loss"],
        "train_loss_ratio": ours["final_train_loss"] / base["final_train_loss"],
        "wall_ratio": base["wall_seconds"] / ours["wall_seconds"],
        "rss_ratio": ours["peak_rss_mb"] / base["peak_rss_mb"],
        "real_token_ratio": ours["real_tokens"] / base["real_tokens"],
        "cpu_speedup": base["cpu_seconds"] / ours["cpu_seconds"],
        "settings": settings,
    }


ROWS = (
    # label, key, format, ratio shown as tunesmith/baseline (True) or baseline/tunesmith (False)
    ("real tokens / s", "real_tokens_per_s", "{:,.0f}", True),
    ("real tokens seen", "real_tokens", "{:,}", True),
    ("tokens processed (incl. pad)", "padded_tokens", "{:,}", True),
    ("padding", "pad_fraction", "{:.1%}", None),
    ("optimizer steps", "steps", "{:,}", True),
    ("train seconds", "train_seconds", "{:.1f}", False),
    ("wall seconds (setup+train+save)", "wall_seconds", "{:.1f}", False),
    ("CPU seconds (setup+train+save)", "cpu_seconds", "{:.1f}", False),
    ("CPU utilization (of threads)", "cpu_utilization", "{:.0%}", None),
    ("peak RSS MB", "peak_rss_mb", "{:,.0f}", True),
    ("model GFLOP/s", "model_gflops_per_s", "{:,.2f}", True),
    ("MFU (arm's precision)", "mfu", "{:.1%}", None),
    ("MFU of the bf16 peak", "mfu_of_bf16_peak", "{:.1%}", None),
    ("train loss (last 10% of steps)", "final_train_loss", "{:.4f}", True),
    ("held-out loss", "heldout_loss", "{:.4f}", True),
)


def print_report(report: dict, console: Console) -> None:
    s = report["settings"]
    table = Table(
        title=f"bench train: {s['model']}, "
        f"{'LoRA r=' + str(s['lora']['r']) if s.get('method', 'lora') == 'lora' else 'full'}, "
        f"{s.get('precision', 'fp32')}, "
        f"{s['train_data']['tokens']:,} tokens, {s['torch_threads']} threads"
    )
    table.add_column("metric")
    table.add_column("Trainer + PEFT", justify="right")
    table.add_column("tunesmith", justify="right")
    table.add_column("ratio", justify="right")
    base, ours = report["baseline"], report["tunesmith"]
    for label, key, fmt, ours_over_base in ROWS:
        if ours_over_base is None:
            ratio = ""
        elif ours_over_base:
            ratio = f"{ours[key] / base[key]:.2f}x" if base[key] else ""
        else:
            ratio = f"{base[key] / ours[key]:.2f}x faster" if ours[key] else ""
        table.add_row(label, fmt.format(base[key]), fmt.format(ours[key]), ratio)
    console.print(table)
    if "model_flops" in report:
        m = report["model_flops"]
        console.print(
            f"matmul peak measured in this run: fp32 {m['peak_flops_per_s']['fp32'] / 1e9:,.1f}, "
            f"bf16 {m['peak_flops_per_s']['bf16'] / 1e9:,.1f} GFLOP/s; model FLOPs of the epoch "
            f"{m['epoch_flops'] / 1e12:,.2f} TFLOP (same real samples for both arms)"
        )
    console.print(
        f"speedup (real tokens/s) [bold]{report['speedup']:.2f}x[/bold], "
        f"held-out loss ratio {report['loss_ratio']:.3f}"
    )
    if min(base["cpu_utilization"], ours["cpu_utilization"]) < 0.75:
        console.print(
            "[yellow]warning: an arm used under 75% of its threads' CPU time; other work on "
            "this machine likely slowed it, so the timings are noisy (try `tunesmith bench train --repeats 2`)[/yellow]"
        )


def print_two_arms(
    title: str, rows: tuple[tuple[str, str, str], ...], report: dict, console: object
) -> None:
    """The TRL-vs-tunesmith table of `bench preference` / `bench rl`: one row per
    (label, key, format) over report["trl"] and report["tunesmith"]."""
    table = Table(title=title)
    for name in ("", "TRL", "tunesmith"):
        table.add_column(name, justify="right" if name else "left")
    for label, key, fmt in rows:
        table.add_row(label, fmt.format(report["trl"][key]), fmt.format(report["tunesmith"][key]))
    console.print(table)
