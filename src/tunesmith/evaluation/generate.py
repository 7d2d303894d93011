"""Greedy generation for evaluation: rendered prompts in, completion texts out.

`generate_answers` is the one entry point evaluation uses. It runs the inference engine
(tunesmith.inference: continuous batching over a slot KV cache) for plain Hugging Face
models and for PeftModels of LoRA-style adapters (LoRA, DoRA, trainable tokens; an unnamed
request runs the active adapter). Prefix-tuning models go through batched Hugging Face
`generate` on left-padded prompts (`generate_texts`). `tunesmith eval run` merges LoRA
adapters into the base first.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import PreTrainedTokenizerBase


def generate_answers(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    advance: Callable[[int], None] | None = None,
) -> list[str]:
    """Greedy completions of rendered prompts, in order (eos excluded, special tokens kept).

    `batch_size` sequences decode together; `advance(n)` reports each finished batch.
    """
    was_training = model.training
    engine = _engine(model, batch_size) if uses_engine(model) else None
    outputs: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            if engine is None:
                outputs += generate_texts(
                    model, tok, chunk, max_new_tokens=max_new_tokens, batch_size=batch_size
                )
            else:
                outputs += _engine_texts(engine, tok, chunk, max_new_tokens)
            if advance is not None:
                advance(len(chunk))
    finally:
        model.train(was_training)
    return outputs


def uses_engine(model: torch.nn.Module) -> bool:
    """Whether `generate_answers` runs `model` on the inference engine: plain models, and
    PeftModels of LoRA-style adapters (trainable tokens included) with one active adapter,
    which the engine runs for unnamed requests. Prompt-learning adapters (prefix tuning)
    feed their own past keys/values, so they go through Hugging Face `generate`."""
    configs = getattr(model, "peft_config", None)
    if not configs:
        return True
    if any(c.is_prompt_learning for c in configs.values()):
        return False
    return len(model.active_adapters) == 1


def _engine(model: torch.nn.Module, batch_size: int):  # noqa: ANN202 - imported lazily
    from tunesmith.inference import Engine

    return Engine(model, max_batch=batch_size)


def _engine_texts(
    engine: object, tok: PreTrainedTokenizerBase, prompts: list[str], max_new_tokens: int
) -> list[str]:
    from tunesmith.inference import SamplingParams

    params = SamplingParams(
        max_tokens=max_new_tokens, temperature=0.0, stop_token_ids=[tok.eos_token_id]
    )
    ids = [tok.encode(p, add_special_tokens=False) for p in prompts]
    outs = engine.generate(ids, params)  # type: ignore[attr-defined]
    return [_decode(tok, out.token_ids) for out in outs]


def _decode(tok: PreTrainedTokenizerBase, ids: list[int]) -> str:
    if tok.eos_token_id in ids:
        ids = ids[: ids.index(tok.eos_token_id)]
    return tok.decode(ids, skip_special_tokens=False).replace(tok.pad_token, "")


@torch.no_grad()
def generate_texts(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy completions with Hugging Face `generate` (left-padded batches)."""
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    pad_id = tok.pad_token_id
    for start in range(0, len(prompts), batch_size):
        chunk = [
            tok.encode(p, add_special_tokens=False) for p in prompts[start : start + batch_size]
        ]
        width = max(len(ids) for ids in chunk)
        ids = torch.full((len(chunk), width), pad_id)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, seq in enumerate(chunk):
            ids[row, width - len(seq) :] = torch.tensor(seq)
            mask[row, width - len(seq) :] = 1
        device = next(model.parameters()).device
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            eos_token_id=tok.eos_token_id,
        )
        outputs += [_decode(tok, row) for row in out[:, width:].cpu().tolist()]
    model.train(was_training)
    return outputs
