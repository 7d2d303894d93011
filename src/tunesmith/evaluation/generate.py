"""Batched greedy generation with a Hugging Face model (left-padded prompts)."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase


@torch.no_grad()
def generate_texts(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy completions of already-rendered prompts (special tokens kept, eos removed)."""
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
        for row in out[:, width:].cpu().tolist():
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id)]
            outputs.append(tok.decode(row, skip_special_tokens=False).replace(tok.pad_token, ""))
    model.train(was_training)
    return outputs
