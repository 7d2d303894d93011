"""NEFTune: noisy input embeddings during training (train.neftune_alpha).

Jain et al. 2023, "NEFTune: Noisy Embeddings Improve Instruction Finetuning"
(arXiv:2310.05914), Algorithm 1: to each training forward's input embeddings X (a row of
L positions, d dimensions) add eps * alpha / sqrt(L * d) with eps ~ Uniform(-1, 1) drawn per
element. The noise is a forward hook on the input embedding module, active only while that
module is in training mode (evaluation, generation and saving see the plain embeddings) and
removed when the loop ends; hooks are never part of a saved state dict.

L is the row the embedding module sees: the padded row when unpacked, the packed row when
packing, as transformers' Trainer and TRL compute it, so alpha values tuned there carry over.
"""

from __future__ import annotations

import math

import torch
from torch.utils.hooks import RemovableHandle


def neftune_noise(embeds: torch.Tensor, alpha: float) -> torch.Tensor:
    """`embeds` [batch, L, d] plus Uniform(-1, 1) * alpha / sqrt(L * d) noise."""
    scale = alpha / math.sqrt(embeds.size(1) * embeds.size(2))
    return embeds + torch.zeros_like(embeds).uniform_(-scale, scale)


class NEFTune:
    """The hook on a model's input embeddings; `remove()` takes it off again."""

    def __init__(self, model: torch.nn.Module, alpha: float) -> None:
        self.alpha = alpha
        self.module = model.get_input_embeddings()
        self.handle: RemovableHandle | None = self.module.register_forward_hook(self._hook)

    def _hook(
        self, module: torch.nn.Module, args: tuple, output: torch.Tensor
    ) -> torch.Tensor | None:
        if not module.training:
            return None
        return neftune_noise(output, self.alpha)

    def remove(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


def attach_neftune(model: torch.nn.Module, alpha: float) -> NEFTune | None:
    """The hook when alpha > 0, else None."""
    return NEFTune(model, alpha) if alpha > 0 else None
