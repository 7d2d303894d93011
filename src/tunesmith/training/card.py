"""The model card (README.md) of a run's adapter/ or model/, from the config and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.config.schema import Config
from tunesmith.model_card import ModelCard, base_license, table, write_card
from tunesmith.models.load import resolve_model_dir


def _method_rows(cfg: Config) -> list[tuple[str, Any]]:
    m, t = cfg.method, cfg.train
    rows: list[tuple[str, Any]] = [("recipe", cfg.recipe), ("method", m.name)]
    if m.name in ("lora", "dora", "qlora"):
        lo = m.lora
        rows += [
            ("lora.r", lo.r), ("lora.alpha", lo.alpha), ("lora.dropout", lo.dropout),
            ("lora.target_modules", lo.target_modules), ("lora.use_rslora", lo.use_rslora),
            ("lora.modules_to_save", lo.modules_to_save or None),
            ("lora.trainable_tokens", lo.trainable_tokens or None),
        ]  # fmt: skip
    elif m.name == "prefix":
        rows += [("prefix.num_virtual_tokens", m.prefix.num_virtual_tokens)]
    elif m.name == "freeze":
        rows += [
            ("freeze.trainable_layers", m.freeze.trainable_layers),
            ("freeze.trainable_modules", m.freeze.trainable_modules),
        ]
    if cfg.recipe == "distill":
        d = cfg.distill
        rows += [("distill.teacher", d.teacher), ("distill.alpha", d.alpha),
                 ("distill.temperature", d.temperature)]  # fmt: skip
    if cfg.recipe == "preference":
        rows += [("preference.loss", cfg.preference.loss), ("preference.beta", cfg.preference.beta)]
    rows += [
        ("lr", t.lr), ("scheduler", t.scheduler), ("warmup_steps", t.warmup_steps or None),
        ("epochs", None if t.max_steps else t.epochs), ("max_steps", t.max_steps or None),
        ("batch_tokens" if cfg.data.packing else "batch_size",
         t.batch_tokens if cfg.data.packing else t.batch_size),
        ("grad_accum", t.grad_accum), ("weight_decay", t.weight_decay),
        ("precision", t.precision), ("neftune_alpha", t.neftune_alpha or None),
        ("seed", t.seed), ("distributed", cfg.distributed.strategy),
    ]  # fmt: skip
    return rows


def _data_section(cfg: Config, summary: dict) -> str:
    d = cfg.data
    lines = [f"- train: {', '.join(f'`{f}`' for f in d.train)}"]
    if d.validation:
        lines.append(f"- validation: {', '.join(f'`{f}`' for f in d.validation)}")
    elif d.val_split:
        lines.append(f"- validation: {d.val_split:.0%} of train held out")
    lines.append(
        f"- format `{d.format}`, max_len {d.max_len}, packing {str(d.packing).lower()}"
        + (", streaming" if d.streaming else "")
    )
    splits = {
        name: st
        for name, st in summary.get("data", {}).items()
        if name == "train" or st.get("records")
    }
    keys = list(dict.fromkeys(k for st in splits.values() for k in st))
    if splits:
        lines += ["", "| split | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, st in splits.items():
            cells = [
                f"{st[k]:,}" if isinstance(st.get(k), int) else str(st.get(k, "")) for k in keys
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if d.streaming:
        lines.append("\nStreaming: train counts are those read by the end of training.")
    return "\n".join(lines)


def _training_section(summary: dict) -> str:
    seconds = summary.get("train_seconds", 0.0)
    return table([
        ("optimizer steps", summary.get("steps")),
        ("training time", f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.1f} min"),
        ("tokens per second", round(summary.get("tokens_per_s", 0.0), 1)),
        ("processes", summary.get("distributed", {}).get("processes")),
        ("trainable parameters", f"{summary.get('trainable_params', 0):,}"),
        ("total parameters", f"{summary.get('total_params', 0):,}"),
        ("stopped early", summary.get("stopped_early")),
    ])  # fmt: skip


def _results_section(summary: dict) -> str:
    rows: list[tuple[str, Any]] = []
    if summary.get("final_train_loss") is not None:
        rows.append(("final train loss", summary["final_train_loss"]))
    for k, v in (summary.get("final") or {}).items():
        if k != "step":
            rows.append((k, v))
    best = summary.get("best")
    if best:
        rows.append((f"best {best['metric']} (step {best['step']})", best["value"]))
    return table(rows) if rows else "No metrics were recorded."


def _load_section(out_dir: Path, run_dir: Path, base: str, adapter: bool) -> str:
    if adapter:
        code = (
            "```python\nfrom peft import AutoPeftModelForCausalLM\nfrom transformers import "
            f'AutoTokenizer\n\nmodel = AutoPeftModelForCausalLM.from_pretrained("{out_dir}")\n'
            f'tok = AutoTokenizer.from_pretrained("{out_dir}")\n```\n\n'
            f"The adapter's base is `{base}` (adapter_config.json names it; tunesmith finds a "
            "shipped preset by name). Fold it into the base for llama.cpp or vLLM with "
            f"`tunesmith export merge --adapter {run_dir} --output MERGED`."
        )
    else:
        code = (
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{out_dir}")\n'
            f'tok = AutoTokenizer.from_pretrained("{out_dir}")\n```\n\n'
            f"For llama.cpp: `tunesmith export gguf --model {run_dir} --output GGUF_DIR`."
        )
    return (
        f"{code}\n\nServe it over the OpenAI API: `tunesmith serve --model {run_dir}`; "
        f"chat with it: `tunesmith chat --model {run_dir}`."
    )


def training_card(cfg: Config, summary: dict, out_dir: Path, run_dir: Path) -> ModelCard:
    adapter = out_dir.name == "adapter" or (out_dir / "adapter_config.json").is_file()
    base = cfg.model.name_or_path
    try:
        base_dir = resolve_model_dir(base)
    except Exception:  # a card never fails a finished run
        base_dir = None
    tags = ["tunesmith", cfg.recipe, cfg.method.name, "peft" if adapter else "full-finetune"]
    if cfg.train.neftune_alpha:
        tags.append("neftune")
    return ModelCard(
        title=f"{run_dir.name} ({cfg.method.name} {cfg.recipe} of {Path(base).name})",
        summary=(
            f"{'A ' + cfg.method.name.upper() + ' adapter' if adapter else 'A full model'} "
            f"trained from `{base}` with tunesmith (recipe `{cfg.recipe}`, method "
            f"`{cfg.method.name}`). Run directory: `{run_dir}`."
        ),
        base_model=base,
        relation="adapter" if adapter else "finetune",
        library_name="peft" if adapter else "transformers",
        tags=tags,
        license=base_license(base_dir),
        sections=[
            ("Method", table(_method_rows(cfg))),
            ("Data", _data_section(cfg, summary)),
            ("Training", _training_section(summary)),
            ("Results", _results_section(summary)),
            ("How to load", _load_section(out_dir, run_dir, base, adapter)),
        ],
    )


def write_training_card(cfg: Config, summary: dict, out_dir: Path, run_dir: Path) -> Path:
    return write_card(out_dir, training_card(cfg, summary, out_dir, run_dir))
