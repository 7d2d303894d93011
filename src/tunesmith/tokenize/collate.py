"""Turn a micro-batch of samples into tensors for the model."""

from __future__ import annotations

import torch

from tunesmith.tokenize.packing import IGNORE, Sample


def collate_packed(samples: list[Sample]) -> dict[str, torch.Tensor]:
    """One row, no padding; position ids restart at each sample boundary."""
    ids: list[int] = []
    targets: list[int] = []
    pos: list[int] = []
    for s in samples:
        ids += s.input_ids
        targets += s.targets
        pos += range(len(s.input_ids))
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([pos]),
        "targets": torch.tensor([targets]),
    }


def collate_padded(samples: list[Sample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest sample, with an attention mask."""
    width = max(len(s.input_ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id)
    targets = torch.full((len(samples), width), IGNORE)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for row, s in enumerate(samples):
        n = len(s.input_ids)
        ids[row, :n] = torch.tensor(s.input_ids)
        targets[row, :n] = torch.tensor(s.targets)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "targets": targets}
