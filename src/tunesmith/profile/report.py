"""The profile as terminal tables (rich): modules, operators by time and by memory, summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    return table


def print_report(report: dict, console: Console, top: int) -> None:
    o = report["options"]
    step_ms = report["profiled_step_time_s"] * 1e3
    modules = _table(
        f"Top modules by time (forward, incl. children; profiled step {step_ms:.1f} ms)",
        ["module", "calls/step", "ms/step", "% step", "MiB/step", "fwd FLOPs"],
    )
    for r in report["modules"][:top]:
        modules.add_row(
            r["module"],
            f"{r['calls_per_step']:g}",
            f"{r['time_ms_per_step']:.2f}",
            f"{100 * r['share_of_step']:.1f}",
            f"{r['memory_mib_per_step']:.2f}",
            _si(r["forward_flops_per_step"], ""),
        )
    ops = _table(
        "Top operators by self time",
        ["operator", "calls/step", "ms/step", "% self", "MiB/step", "FLOPs/step", "FLOP/s"],
    )
    for r in report["operators"][:top]:
        ms = r["self_time_ms_per_step"]
        rate = r["flops_per_step"] / (ms / 1e3) if ms > 0 and r["flops_per_step"] else 0
        ops.add_row(
            r["op"],
            f"{r['calls_per_step']:g}",
            f"{ms:.2f}",
            f"{100 * r['share_of_self_time']:.1f}",
            f"{r['self_memory_mib_per_step']:.2f}",
            _si(r["flops_per_step"], "") if r["flops_per_step"] else "-",
            _si(rate, "") if rate else "-",
        )
    memory = _table(
        "Top operators by memory allocated", ["operator", "MiB/step", "calls/step", "ms/step"]
    )
    for r in report["operators_by_memory"][:top]:
        memory.add_row(
            r["op"],
            f"{r['self_memory_mib_per_step']:.2f}",
            f"{r['calls_per_step']:g}",
            f"{r['self_time_ms_per_step']:.2f}",
        )
    for table in (modules, ops, memory):
        console.print(table)
    adapter = f" + {o['adapter']}" if o["adapter"] else ""
    console.print(
        f"{o['mode']} step on {o['model']}{adapter}: batch {o['batch_size']} x "
        f"{o['seq_len']} tokens, {o['dtype']}, {report['device']}\n"
        f"  parameters          {report['parameters']:,} "
        f"({report['trainable_parameters']:,} trainable)\n"
        f"  step time           {report['step_time_s'] * 1e3:.2f} ms "
        f"(mean of {o['steps']} unprofiled steps), {report['tokens_per_s']:,.0f} tokens/s\n"
        f"  FLOPs per step      {report['flops_per_step']:,}\n"
        f"  FLOPs per token     {report['flops_per_token']:,.0f}\n"
        f"  achieved            {_si(report['achieved_flops_per_s'], 'FLOP/s')}\n"
        f"  matmul peak         {_si(report['peak_matmul_flops_per_s'], 'FLOP/s')} "
        f"(measured: {report['peak_matmul_size']}^3 {o['dtype']} matmul)\n"
        f"  fraction of peak    {100 * report['fraction_of_peak']:.1f}%\n"
        f"  peak memory         {report['peak_memory_mib']:,.1f} MiB "
        f"({report['peak_memory_kind']})\n"
        f"  trace               {report['trace']}  (chrome://tracing or ui.perfetto.dev)",
        highlight=False,
    )
