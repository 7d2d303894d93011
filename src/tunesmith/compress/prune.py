"""Prune a model and write a plain Hugging Face model directory with `export_report.json`.

    prune_model("runs/full/model", "pruned", PruneOptions("unstructured", sparsity=0.5))
    prune_model("runs/full/model", "smaller",
                PruneOptions("structured", ffn_ratio=0.25, head_ratio=0.5))

unstructured  zero the smallest-magnitude weights of the decoder layers (prune_unstructured.py);
              same shapes, same size on disk, the sparsity reported per layer.
structured    remove FFN neurons and attention heads (prune_structured.py): a genuinely
              smaller model whose config says so (intermediate_size, num_attention_heads, ...).

The result is saved to a temporary sibling directory, reloaded with plain transformers and
compared with the pruned model in memory, then moved into place. With `calib` records, the
mean loss on them before and after is reported (and activation importance uses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from tunesmith.compress import report as rep
from tunesmith.compress.card import write_export_card
from tunesmith.compress.merge import ATTN
from tunesmith.compress.prune_unstructured import SCOPES
from tunesmith.errors import ConfigError
from tunesmith.output_dir import check_output_dir, staged_dir

MODES = ("unstructured", "structured")
IMPORTANCE = ("magnitude", "activation")
CALIB_MAX_LEN = 512  # tokens per calibration sample


@dataclass
class PruneOptions:
    mode: str
    sparsity: float | None = None
    scope: str | None = None
    ffn_ratio: float | None = None
    head_ratio: float | None = None
    importance: str | None = None
    calib: list[str] | None = None
    calib_samples: int | None = None

    def check(self) -> PruneOptions:
        """Every option in range and meaningful for the mode (ConfigError); defaults filled."""
        _one_of("--mode", self.mode, MODES)
        flags = {
            "unstructured": {"--sparsity": self.sparsity, "--scope": self.scope},
            "structured": {
                "--ffn-ratio": self.ffn_ratio,
                "--head-ratio": self.head_ratio,
                "--importance": self.importance,
            },
        }
        other = "structured" if self.mode == "unstructured" else "unstructured"
        for flag, value in flags[other].items():
            if value is not None:
                raise ConfigError(f"{flag} applies to --mode {other} only")
        if self.calib_samples is not None:
            if not self.calib:
                raise ConfigError("--calib-samples applies only with --calib FILE")
            if self.calib_samples < 1:
                raise ConfigError(
                    f"--calib-samples: {self.calib_samples} is out of range; expected >= 1"
                )
        self.calib_samples = self.calib_samples or 32
        if self.mode == "unstructured":
            if self.sparsity is None:
                raise ConfigError("--mode unstructured needs --sparsity (0 < sparsity < 1)")
            if not 0 < self.sparsity < 1:
                raise ConfigError(
                    f"--sparsity: {self.sparsity:g} is out of range; expected 0 < sparsity < 1"
                )
            self.scope = self.scope or "layer"
            _one_of("--scope", self.scope, SCOPES)
            return self
        for flag, value in (("--ffn-ratio", self.ffn_ratio), ("--head-ratio", self.head_ratio)):
            if value is not None and not 0 <= value < 1:
                raise ConfigError(f"{flag}: {value:g} is out of range; expected 0 <= ratio < 1")
        self.ffn_ratio, self.head_ratio = self.ffn_ratio or 0.0, self.head_ratio or 0.0
        if not (self.ffn_ratio or self.head_ratio):
            raise ConfigError("--mode structured needs --ffn-ratio and/or --head-ratio above 0")
        self.importance = self.importance or "magnitude"
        _one_of("--importance", self.importance, IMPORTANCE)
        if self.importance == "activation" and not self.calib:
            raise ConfigError(
                "--importance activation needs --calib FILE (records to measure activations on)"
            )
        return self


def _one_of(flag: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{flag}: '{value}' is not one of {', '.join(valid)}")


@torch.no_grad()
def probe_nll(logits: list[torch.Tensor], tok: object) -> float:
    """Mean next-token loss of the probe prompts given their logits (a quality check)."""
    total, n = 0.0, 0
    for text, lg in zip(rep.PROMPTS, logits, strict=True):
        ids = torch.tensor(tok(text)["input_ids"])
        total += float(F.cross_entropy(lg[0, :-1], ids[1:], reduction="sum"))
        n += len(ids) - 1
    return total / max(n, 1)


def _calibration(opts: PruneOptions, tok: object) -> list:
    from tunesmith.data.load import load_conversations
    from tunesmith.evaluation.loglik import encode_for_loss

    convs = load_conversations(opts.calib or []).conversations
    samples = [s for s in encode_for_loss(tok, convs, CALIB_MAX_LEN) if s is not None]
    if not samples:
        raise ConfigError(f"--calib: no usable records in {', '.join(opts.calib or [])}")
    return samples[: opts.calib_samples]


def _mean_loss(model: torch.nn.Module, samples: list) -> float:
    from tunesmith.evaluation.loglik import sample_losses

    losses = sample_losses(model, samples, batch_tokens=CALIB_MAX_LEN)
    return sum(t for t, _ in losses) / max(sum(n for _, n in losses), 1)


def _structured(model: torch.nn.Module, opts: PruneOptions, samples: list) -> tuple:
    from transformers import AutoModelForCausalLM

    from tunesmith.compress.prune_calib import collect_activations
    from tunesmith.compress.prune_layout import check_supported
    from tunesmith.compress.prune_structured import prune_units

    config = model.config
    what = " and ".join(
        w for w, r in (("attention heads", opts.head_ratio), ("FFN neurons", opts.ffn_ratio)) if r
    )
    check_supported(config, what)
    acts = None
    if opts.importance == "activation":
        acts = collect_activations(
            model, config, samples, heads=opts.head_ratio > 0, ffn=opts.ffn_ratio > 0
        )
    sd, new_config, layers = prune_units(
        model.state_dict(),
        config,
        ffn_ratio=opts.ffn_ratio,
        head_ratio=opts.head_ratio,
        activations=acts.means if acts else None,
        routed=acts.routed if acts else None,
    )
    pruned = AutoModelForCausalLM.from_config(
        new_config, dtype=model.dtype, attn_implementation=ATTN
    )
    pruned.load_state_dict(sd, strict=True)  # the new config holds exactly these shapes
    pruned.generation_config = model.generation_config
    keys = ("num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size")
    keys += ("moe_intermediate_size",)
    changes = {
        k: [getattr(config, k, None), getattr(new_config, k, None)]
        for k in keys
        if getattr(config, k, None) != getattr(new_config, k, None)
    }
    info = {
        "importance": opts.importance,
        "ffn_ratio": opts.ffn_ratio,
        "head_ratio": opts.head_ratio,
        "config_changes": changes,
        "layers": layers,
    }
    if acts is not None:
        info["calibration_tokens"] = acts.tokens
        info["experts_without_calibration_tokens"] = sum(
            int((c == 0).sum()) for c in acts.routed.values()
        )
    return pruned, info


def prune_model(
    model: str | Path,
    output: str | Path,
    options: PruneOptions,
    dtype: str = "float32",
    overwrite: bool = False,
) -> dict:
    """Prune as `options` say, save, reload in plain transformers, compare logits on the
    probe prompts with the pruned model in memory, write `export_report.json`. Returns it."""
    opts = options.check()
    _one_of("--dtype", dtype, ("float32", "bfloat16", "float16"))
    src = rep.source_model_dir(model, "prune")
    output = Path(output).expanduser()
    check_output_dir(output, overwrite, [src])

    from transformers import AutoModelForCausalLM

    from tunesmith.compress.prune_unstructured import magnitude_prune, sparsity_report
    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import DTYPES, load_model_and_tokenizer

    net, tok = load_model_and_tokenizer(
        ModelConfig(name_or_path=str(src), dtype=dtype, attn_implementation=ATTN)
    )
    net.eval()
    samples = _calibration(opts, tok) if opts.calib else []
    before = {"parameters": rep.param_count(net), "nll": probe_nll(rep.probe_logits(net, tok), tok)}
    if samples:
        before["calib"] = _mean_loss(net, samples)
    report: dict = {"kind": "prune", "mode": opts.mode, "model": str(src)}
    if opts.mode == "unstructured":
        counts = magnitude_prune(net, opts.sparsity, opts.scope)
        report.update(sparsity_target=opts.sparsity, scope=opts.scope, **sparsity_report(counts))
        pruned = net
    else:
        pruned, info = _structured(net, opts, samples)
        report.update(info)
        del net
    expected = rep.probe_logits(pruned, tok)
    report.update(
        model_type=pruned.config.model_type,
        dtype=dtype,
        parameters_before=before["parameters"],
        parameters=rep.param_count(pruned),
        probe_prompts=len(rep.PROMPTS),
        probe_nll_before=before["nll"],
        probe_nll_after=probe_nll(expected, tok),
    )
    if samples:
        report.update(
            calib_files=list(opts.calib or []),
            calib_samples=len(samples),
            calib_loss_before=before["calib"],
            calib_loss_after=_mean_loss(pruned, samples),
        )
    with staged_dir(output) as tmp:
        pruned.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        del pruned
        reloaded = AutoModelForCausalLM.from_pretrained(
            tmp, dtype=DTYPES[dtype], local_files_only=True
        )
        report["max_abs_logit_diff"] = rep.max_abs_diff(expected, rep.probe_logits(reloaded, tok))
        report["size_bytes"] = rep.dir_size(tmp)
        rep.write_report(tmp, report)
        write_export_card("prune", report, src, tmp, output)
    return report


def summary(report: dict) -> list[str]:
    """The lines `tunesmith export prune` prints."""
    before, after = report["parameters_before"], report["parameters"]
    if report["mode"] == "unstructured":
        lines = [
            f"pruned {report['model']}: unstructured magnitude, {report['scope']} scope, "
            f"target {report['sparsity_target']:.2%}",
            "  layer  sparsity  (min - max over its weight tensors)",
        ]
        lines += [
            f"  {row['layer']:<5}  {row['sparsity']:>7.2%}  ({row['min']:.2%} - {row['max']:.2%})"
            for row in report["layers"]
        ]
        lines.append(
            f"  overall {report['sparsity']:.2%} of {report['pruned_weights']:,} weights "
            f"({report['zeroed']:,} zeros); parameters {after:,} (zeros are stored)"
        )
    else:
        lines = [f"pruned {report['model']}: structured, {report['importance']} importance"]
        lines += [f"  {k:<22} {a} -> {b}" for k, (a, b) in report["config_changes"].items()]
        lines.append(
            f"  parameters             {before:,} -> {after:,} ({after / before - 1:+.1%})"
        )
    lines.append(f"  size on disk           {report['size_bytes'] / 2**20:.1f} MiB")
    nll = report["probe_nll_before"], report["probe_nll_after"]
    lines.append(
        f"  probe loss             {nll[0]:.3f} -> {nll[1]:.3f} ({report['probe_prompts']} prompts)"
    )
    if "calib_loss_before" in report:
        lines.append(
            f"  calibration loss       {report['calib_loss_before']:.3f} -> "
            f"{report['calib_loss_after']:.3f} ({report['calib_samples']} samples)"
        )
    lines.append(
        f"  max |logit diff|       {report['max_abs_logit_diff']:.3g} (reloaded vs pruned)"
    )
    return lines
