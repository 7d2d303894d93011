"""Micro-batches of preference items, packed padding-free, and per-sequence log-probs.

Packed (data.packing, the default): the two sequences of every item in a micro-batch are laid
end to end in one row, position ids restarting at 0 for each, exactly as SFT packs samples, so
the `tunesmith_varlen` attention runs causal SDPA per sequence and no token sees another
sequence. Padded: one sequence per row, right-padded to the longest (what TRL does).

Either way the batch carries `seq_ids` beside `targets`: the sequence (0 .. 2 x items - 1,
item k's sequences at 2k and 2k + 1) each target belongs to. `sequence_logps` turns one
forward's logits into per-sequence sums of target log-probs and target counts with one
`index_add`, so the loss never sees padding and packing changes nothing but speed.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import IGNORE, Sample, pack_bins
from tunesmith.training.preference.encode import PreferenceItem

NON_MODEL_KEYS = ("targets", "seq_ids", "index", "desirable")


def _sequences(items: list[PreferenceItem]) -> list[Sample]:
    return [s for item in items for s in item.sequences]


def _seq_ids(samples: list[Sample]) -> list[list[int]]:
    return [[k if t != IGNORE else -1 for t in s.targets] for k, s in enumerate(samples)]


def collate_items(
    items: list[PreferenceItem], *, packing: bool, pad_id: int
) -> dict[str, torch.Tensor]:
    """Model inputs of `items` plus targets, seq_ids, the items' indices and KTO labels."""
    samples = _sequences(items)
    ids = _seq_ids(samples)
    if packing:
        batch = collate_packed(samples)
        batch["seq_ids"] = torch.tensor([[k for row in ids for k in row]])
    else:
        batch = collate_padded(samples, pad_id)
        seq = torch.full(batch["targets"].shape, -1)
        for row, values in enumerate(ids):
            seq[row, : len(values)] = torch.tensor(values)
        batch["seq_ids"] = seq
    batch["index"] = torch.tensor([item.index for item in items])
    batch["desirable"] = torch.tensor([bool(item.desirable) for item in items])
    return batch


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items() if k not in NON_MODEL_KEYS}


def n_sequences(batch: dict[str, torch.Tensor]) -> int:
    return 2 * int(batch["index"].numel())


def sequence_logps(
    logits: torch.Tensor, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of target log-probs, target count) per sequence, shape [2 x items] each, fp32."""
    device = logits.device
    targets = batch["targets"].to(device).reshape(-1)
    seq = batch["seq_ids"].to(device).reshape(-1)
    keep = targets != IGNORE
    scored = logits.reshape(-1, logits.shape[-1])[keep].float()
    token_logps = -F.cross_entropy(scored, targets[keep], reduction="none")
    n = n_sequences(batch)
    sums = torch.zeros(n, device=device).index_add(0, seq[keep], token_logps)
    counts = torch.zeros(n, device=device).index_add(0, seq[keep], torch.ones_like(token_logps))
    return sums, counts


def forward_logps(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward of the batch; per-sequence log-prob sums and counts (see sequence_logps)."""
    device = next(model.parameters()).device
    logits = model(**model_inputs(batch, device), use_cache=False).logits
    return sequence_logps(logits, batch)


def plan_items(
    items: list[PreferenceItem], *, packing: bool, batch_tokens: int, batch_size: int, seed: int
) -> list[list[int]]:
    """Deterministic micro-batches (lists of item positions) of one epoch: packed into at most
    `batch_tokens` tokens (an item's two sequences always travel together), or `batch_size`
    items each."""
    rng = random.Random(seed)
    if packing:
        groups = pack_bins([item.length for item in items], batch_tokens)
    else:
        order = list(range(len(items)))
        rng.shuffle(order)
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(groups)
    return groups
