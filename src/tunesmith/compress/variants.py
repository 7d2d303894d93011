"""`tunesmith export report`: compare model variants on size, parameters, speed and quality.

    rows, paths = compare_variants(["runs/demo/merged", "runs/demo/int8"], "runs/demo/report")
    # report.md (table), report.json (rows), report.png (one bar panel per column)

A variant is any directory `tunesmith eval` loads (a model directory, a run directory, an
adapter) or a `tunesmith export gguf` directory. `parameters` and `size_bytes` come from its
export_report.json when it has one. Quality (on `eval_data`, default: the demo task's test
split) and decode tokens/s are measured now, for every variant, one after another in this
one process (compress.measure): speeds taken at different moments, under different load,
are not comparable. With `reuse`, the `measured` block an export recorded (quantize) is used
instead where there is one; those figures are marked `*` in the table and hatched in the
PNG, with the time they were recorded. GGUF files are not run (they need llama.cpp): their
speed and quality show as "—". The first variant is the reference of the ratio columns.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunesmith.compress import measure
from tunesmith.compress import report as rep
from tunesmith.errors import ConfigError

MARKDOWN, JSON, PLOT = "report.md", "report.json", "report.png"


@dataclass
class Variant:
    name: str
    path: str
    kind: str
    """merge, quantize, prune, distill, gguf (from export_report.json) or model"""
    parameters: int | None = None
    size_bytes: int | None = None
    tokens_per_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    eval_data: str | None = None
    measured_now: bool = False
    recorded_at: str | None = None
    """when the reused figures were recorded (export_report.json's time), else None"""

    @property
    def stale(self) -> bool:
        """Figures reused from an earlier run rather than measured in this one."""
        return not self.measured_now and self.recorded_at is not None


def _read_report(path: Path) -> dict | None:
    file = path / rep.REPORT_NAME
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{file}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a JSON object")
    return data


def _model_size(path: Path) -> int:
    """Bytes a deployment needs: the model directory; for an adapter, adapter + base."""
    from tunesmith.models.adapter_base import find_adapter_base
    from tunesmith.models.load import resolve_model_dir

    for sub in (path, path / "model"):
        if (sub / "config.json").is_file():
            return rep.dir_size(sub)
    adapter = path / "adapter" if (path / "adapter").is_dir() else path
    config = json.loads((adapter / "adapter_config.json").read_text())
    base = resolve_model_dir(find_adapter_base(adapter, config.get("base_model_name_or_path")))
    return rep.dir_size(adapter) + (rep.dir_size(base) if base is not None else 0)


def _check(path: Path, arg: str) -> None:
    loadable = (
        (path / "config.json").is_file()
        or (path / "model" / "config.json").is_file()
        or (path / "adapter").is_dir()
        or (path / "adapter_config.json").is_file()
    )
    if not path.is_dir():
        raise ConfigError(f"DIR '{arg}' is not a directory")
    if not loadable and _read_report(path) is None:
        raise ConfigError(
            f"DIR '{arg}' is not a model: no config.json, model/, adapter/ or "
            f"{rep.REPORT_NAME} in it"
        )


def _recorded_at(path: Path) -> str:
    import datetime as dt

    mtime = (path / rep.REPORT_NAME).stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _variant(arg: str, items: list, metrics: list[str], reuse: bool, label: str) -> Variant:
    path = Path(arg).expanduser()
    _check(path, arg)
    report = _read_report(path) or {}
    kind = str(report.get("kind", "model"))
    v = Variant(name=path.name, path=str(path), kind=kind)
    v.parameters = report.get("parameters")
    v.size_bytes = report.get("size_bytes")
    recorded = report.get("measured") if reuse else None
    if isinstance(recorded, dict):
        v.tokens_per_s = recorded.get("tokens_per_s")
        v.metrics = dict(recorded.get("metrics") or {})
        v.eval_data = recorded.get("eval_data")
        v.recorded_at = _recorded_at(path)
    if kind == "gguf":
        return v
    if v.size_bytes is None:
        v.size_bytes = _model_size(path)
    if v.parameters is None or v.tokens_per_s is None or not v.metrics:
        from tunesmith.evaluation.load import load_for_eval

        model, tok = load_for_eval(str(path))
        v.parameters = v.parameters or rep.param_count(model)
        if v.tokens_per_s is None or not v.metrics:
            prompts = measure.prompts_of(items) or list(rep.PROMPTS)
            block = measure.measured(model, tok, items, metrics, prompts, label)
            v.tokens_per_s, v.metrics = block["tokens_per_s"], block["metrics"]
            v.eval_data, v.measured_now, v.recorded_at = block["eval_data"], True, None
    return v


def _ratio(value: float | None, ref: float | None) -> str:
    return "—" if value is None or not ref else f"{value / ref:.2f}×"


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


STALE_MARK = "*"


def _mark(text: str, stale: bool) -> str:
    return f"{text} {STALE_MARK}" if stale and text != "—" else text


def footnote(rows: list[Variant]) -> str | None:
    """The line under the table naming the figures not measured in this run, or None."""
    stale = [r for r in rows if r.stale]
    if not stale:
        return None
    which = ", ".join(f"{r.name} ({r.recorded_at})" for r in stale)
    return (
        f"{STALE_MARK} not measured in this run: tokens/s and quality of {which} are from "
        "export_report.json, taken at another moment under other load; run without --reuse "
        "to measure every variant now"
    )


def table(rows: list[Variant]) -> tuple[list[str], list[list[str]]]:
    keys = list(dict.fromkeys(k for r in rows for k in r.metrics if k != "loss"))
    header = ["variant", "kind", "parameters", "size MiB", "size", "tokens/s", "speed", *keys]
    ref = rows[0]
    body = []
    for r in rows:
        size = None if r.size_bytes is None else r.size_bytes / 2**20
        stale = r.stale or ref.stale  # a ratio to a reused figure is not fair either
        body.append(
            [r.name, r.kind, _num(r.parameters, ","), _num(size, ".2f")]
            + [_ratio(r.size_bytes, ref.size_bytes), _mark(_num(r.tokens_per_s, ".0f"), r.stale)]
            + [_mark(_ratio(r.tokens_per_s, ref.tokens_per_s), stale)]
            + [_mark(_num(r.metrics.get(k), ".4f"), r.stale) for k in keys]
        )
    return header, body


def plot(rows: list[Variant], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(k for r in rows for k in r.metrics if k != "loss"))
    panels = [
        ("size (MiB)", [None if r.size_bytes is None else r.size_bytes / 2**20 for r in rows])
    ]
    panels.append(
        ("parameters (M)", [None if r.parameters is None else r.parameters / 1e6 for r in rows])
    )
    panels.append(("decode tokens/s", [r.tokens_per_s for r in rows]))
    panels += [(k, [r.metrics.get(k) for r in rows]) for k in keys]
    measured = {"decode tokens/s", *keys}  # the panels a reused figure can be stale in
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 0.5 * len(rows) + 1.6))
    names = [r.name for r in rows]
    for ax, (title, values) in zip(axes, panels, strict=True):
        stale = [title in measured and r.stale for r in rows]
        bars = ax.barh(names, [v or 0.0 for v in values], color="#4c72b0")
        for bar, old in zip(bars, stale, strict=True):
            if old:  # reused from an earlier run: hatched and pale
                bar.set(facecolor="#c9d3e6", hatch="//", edgecolor="#4c72b0")
        ax.set_title(title)
        ax.invert_yaxis()
        for y, v in enumerate(values):  # not measured (a GGUF file): "n/a", not a zero bar
            text = " n/a" if v is None else f" {v:.4g}" + (f" {STALE_MARK}" if stale[y] else "")
            ax.text(v or 0.0, y, text, va="center", fontsize=8)
        ax.margins(x=0.25)
    for ax in axes[1:]:
        ax.set_yticklabels([])
    note = footnote(rows)
    fig.tight_layout(rect=(0, 0.12 if note else 0, 1, 1))
    if note:
        fig.text(0.01, 0.02, note.split("; run without")[0], fontsize=7, color="#a33")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def compare_variants(
    dirs: list[str],
    output: str | Path,
    *,
    eval_data: str | None = None,
    metrics: str | list[str] = "em",
    max_samples: int = 0,
    reuse: bool = False,
) -> tuple[list[Variant], dict[str, Path]]:
    """Measure every variant now (with `reuse`: only what no export recorded), then write
    report.md / .json / .png."""
    from tunesmith.evaluation.registry import parse_metrics

    if not dirs:
        raise ConfigError("DIR: give at least one model directory to compare")
    names = [m for m in parse_metrics(metrics) if m != "loss"]
    for arg in dirs:
        _check(Path(arg).expanduser(), arg)
    items = measure.eval_items(eval_data, names, max_samples)
    rows = [
        _variant(arg, items, names, reuse, f"export report: {Path(arg).name} ({i}/{len(dirs)})")
        for i, arg in enumerate(dirs, 1)
    ]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    from tunesmith.evaluation.report import markdown_table

    header, body = table(rows)
    paths = {"markdown": out / MARKDOWN, "json": out / JSON, "plot": out / PLOT}
    note = footnote(rows)
    text = markdown_table(header, body) + (f"\n{note}\n" if note else "")
    paths["markdown"].write_text(text, encoding="utf-8")
    paths["json"].write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    plot(rows, paths["plot"])
    return rows, paths
