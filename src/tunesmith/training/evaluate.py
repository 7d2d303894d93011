"""Evaluation during training: mean token loss / perplexity and generative exact match."""

from __future__ import annotations

import math

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import EVAL_METRICS, EvalConfig
from tunesmith.data.types import Conversation
from tunesmith.evaluation.generate import generate_texts
from tunesmith.evaluation.metrics import exact_match
from tunesmith.tokenize.collate import collate_packed
from tunesmith.tokenize.packing import Sample, pack_bins
from tunesmith.tokenize.templates import render_prompt
from tunesmith.training.loss import count_targets, forward_loss_sum

METRICS = EVAL_METRICS


@torch.no_grad()
def eval_loss(model: torch.nn.Module, samples: list[Sample], batch_tokens: int) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for group in pack_bins([len(s.input_ids) for s in samples], batch_tokens):
        batch = collate_packed([samples[i] for i in group])
        total += float(forward_loss_sum(model, batch))
        count += count_targets(batch)
    model.train(was_training)
    return total / max(count, 1)


def reference_of(conv: Conversation) -> str:
    """The last assistant turn's answer (reasoning excluded)."""
    return next(m.content for m in reversed(conv.messages) if m.role == "assistant")


def eval_exact_match(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    convs: list[Conversation],
    cfg: EvalConfig,
) -> tuple[float, list[dict]]:
    """Mean exact match of greedy generations, and per-sample rows."""
    prompts = [render_prompt(c) for c in convs]
    preds = generate_texts(
        model, tok, prompts, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size
    )
    rows = []
    for conv, prompt, pred in zip(convs, prompts, preds, strict=True):
        ref = reference_of(conv)
        rows.append(
            {"prompt": prompt, "reference": ref, "prediction": pred, "em": exact_match(pred, ref)}
        )
    return sum(r["em"] for r in rows) / max(len(rows), 1), rows


def evaluate(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    samples: list[Sample],
    convs: list[Conversation],
    cfg: EvalConfig,
    batch_tokens: int,
) -> dict[str, float]:
    """The configured metrics on the validation split, keyed eval_<metric>."""
    if cfg.max_samples:
        samples, convs = samples[: cfg.max_samples], convs[: cfg.max_samples]
    out: dict[str, float] = {}
    if "loss" in cfg.metrics:
        loss = eval_loss(model, samples, batch_tokens)
        out["eval_loss"] = loss
        out["eval_ppl"] = math.exp(min(loss, 50.0))
    if "em" in cfg.metrics:
        out["eval_em"], _ = eval_exact_match(model, tok, [c for c in convs if not c.is_text], cfg)
    return out
