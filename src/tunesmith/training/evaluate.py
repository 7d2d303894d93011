"""Evaluation during training: `eval.metrics` on the validation split, keyed eval_<metric>.

`loss` is the token-weighted mean loss over the encoded validation samples (plus eval_ppl);
every other metric goes through the evaluator of `tunesmith eval run` (evaluation/runner.py)
on the validation conversations (text samples skipped).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import EVAL_METRICS, EvalConfig
from tunesmith.errors import ConfigError
from tunesmith.evaluation.generate import generate_answers
from tunesmith.evaluation.loglik import sample_losses
from tunesmith.evaluation.metrics import exact_match, final_answer, perplexity
from tunesmith.evaluation.records import items_from_conversations
from tunesmith.evaluation.runner import EvalOptions, evaluate_items
from tunesmith.records import Conversation
from tunesmith.tokenize.packing import Sample
from tunesmith.tokenize.templates import render_prompt

METRICS = EVAL_METRICS


def eval_loss(model: torch.nn.Module, samples: list[Sample], batch_tokens: int) -> float:
    """Mean next-token loss over every target token of `samples`."""
    losses = sample_losses(model, samples, batch_tokens)
    return sum(t for t, _ in losses) / max(sum(n for _, n in losses), 1)


def reference_of(conv: Conversation) -> str:
    """The last assistant turn's answer (reasoning excluded)."""
    return next(m.content for m in reversed(conv.messages) if m.role == "assistant")


def eval_exact_match(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    convs: list[Conversation],
    cfg: EvalConfig,
) -> tuple[float, list[dict]]:
    """Mean exact match of the final answers of greedy generations, and per-sample rows
    (the demo's before / after measure)."""
    prompts = [render_prompt(c) for c in convs]
    preds = generate_answers(
        model, tok, prompts, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size
    )
    rows = []
    for conv, prompt, pred in zip(convs, prompts, preds, strict=True):
        ref = reference_of(conv)
        em = exact_match(final_answer(pred), ref)
        rows.append({"prompt": prompt, "reference": ref, "prediction": pred, "em": em})
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
    if "pairwise_accuracy" in cfg.metrics:
        raise ConfigError(
            "eval.metrics: pairwise_accuracy scores preference pairs; recipe=preference reports "
            "it on its validation pairs (eval_pairwise_accuracy), sft validation data has none"
        )
    out: dict[str, float] = {}
    if "loss" in cfg.metrics:
        loss = eval_loss(model, samples, batch_tokens)
        out["eval_loss"], out["eval_ppl"] = loss, perplexity(loss)
    others = [m for m in cfg.metrics if m != "loss"]
    chats = [c for c in convs if not c.is_text]
    if others and chats:
        opts = EvalOptions(
            others,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.batch_size,
            batch_tokens=batch_tokens,
            score_reasoning=cfg.score_reasoning,
        )
        items = items_from_conversations(chats, others)
        result = evaluate_items(model, tok, items, opts, source="the validation data")
        out |= {f"eval_{key}": value for key, value in result.metrics.items()}
    return out
