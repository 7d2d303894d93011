"""Reference log-probs without a second copy of the model.

mode      when (preference.reference: auto picks)         memory
adapter   LoRA / DoRA / QLoRA / prefix: the same model       none: the base weights are
          with its adapter disabled (PEFT disable_adapter)   the reference
cached    full / freeze: every sequence's log-prob under     one float per sequence, in
          the initial weights, computed once before the      RUN/reference_logps.safetensors
          first step and stored in the run directory         (resume reads it back)
copy      on request: a frozen copy of the initial model     a second model
none      reference-free losses (orpo, simpo, cpo)           nothing loaded

The cache is keyed by a fingerprint of the items' token ids: a run resumed on other data,
other max_len or another tokenizer recomputes it rather than using stale numbers.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from peft import PeftModel
from safetensors import safe_open
from safetensors.torch import save_file

from tunesmith.adapters.peft_setup import ADAPTER_METHODS
from tunesmith.errors import ConfigError
from tunesmith.evaluation.pairwise import forward_logps
from tunesmith.tokenize.packing import pack_bins
from tunesmith.tokenize.preference import PreferenceItem, collate_items
from tunesmith.training.preference.losses import REFERENCE_FREE

MODES = ("auto", "adapter", "cached", "copy")
CACHE_FILE = "reference_logps.safetensors"


def choose_mode(requested: str, loss: str, method: str) -> str:
    """The reference mode a run uses (see the module docstring)."""
    if loss in REFERENCE_FREE:
        return "none"
    if requested == "adapter" and method not in ADAPTER_METHODS:
        raise ConfigError(
            f"preference.reference: adapter needs an adapter method ({', '.join(ADAPTER_METHODS)}); "
            f"method.name is {method}: use cached or copy"
        )
    if requested != "auto":
        return requested
    return "adapter" if method in ADAPTER_METHODS else "cached"


def fingerprint(items: list[PreferenceItem]) -> str:
    h = hashlib.sha256()
    for item in items:
        for s in item.sequences:
            h.update(len(s.input_ids).to_bytes(4, "little"))
            h.update(torch.tensor(s.input_ids, dtype=torch.int64).numpy().tobytes())
            h.update(torch.tensor(s.targets, dtype=torch.int64).numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def compute_logps(
    model: torch.nn.Module,
    items: list[PreferenceItem],
    batch_tokens: int,
    *,
    rank: int = 0,
    world: int = 1,
    autocast: Callable = torch.autocast,
) -> torch.Tensor:
    """[len(items), 2] log-prob sums of every item's sequences; with world > 1 each rank
    computes its share of the packed batches and the results are summed over ranks."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.zeros(len(items), 2, dtype=torch.float32, device=device)
    groups = pack_bins([item.length for item in items], batch_tokens)
    for group in groups[rank::world]:
        batch = collate_items([items[i] for i in group], packing=True, pad_id=0)
        with autocast():
            sums, _ = forward_logps(model, batch)
        out[torch.tensor(group, device=device)] = sums.float().view(-1, 2)
    if world > 1:
        dist.all_reduce(out)
    model.train(was_training)
    return out.cpu()


class Reference:
    """Reference log-probs per micro-batch: `logps(model, batch)` -> [2 x items] or None."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.cache: dict[str, torch.Tensor] = {}
        self.frozen: torch.nn.Module | None = None

    @property
    def free(self) -> bool:
        return self.mode == "none"

    def keep_copy(self, model: torch.nn.Module) -> None:
        """mode copy: a frozen, eval-mode copy of `model` as it is now (before the method)."""
        self.frozen = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def logps(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], split: str = "train"
    ) -> torch.Tensor | None:
        if self.mode == "none":
            return None
        if self.mode == "cached":
            rows = self.cache[split][batch["index"]]
            return rows.reshape(-1).to(next(model.parameters()).device)
        if self.mode == "copy":
            assert self.frozen is not None
            return forward_logps(self.frozen, batch)[0].detach()
        while not isinstance(model, PeftModel) and hasattr(model, "module"):
            model = model.module  # DDP / DeepSpeed wrappers: the PeftModel inside
        if not isinstance(model, PeftModel):
            raise ConfigError("preference.reference: adapter mode on a model without an adapter")
        was_training = model.training
        model.eval()  # no adapter dropout in the reference pass
        with model.disable_adapter():
            sums = forward_logps(model, batch)[0].detach()
        model.train(was_training)
        return sums

    def fill_cache(
        self, model: torch.nn.Module, splits: dict[str, list[PreferenceItem]], run_dir: Path,
        batch_tokens: int, *, rank: int, world: int, autocast: Callable, say: Callable[[str], None],
    ) -> None:  # fmt: skip
        """mode cached: read RUN/reference_logps.safetensors when its fingerprints match the
        items, else compute every split's log-probs with `model` (its initial weights) and
        write the file (rank 0). Every rank calls this."""
        if self.mode != "cached":
            return
        path = run_dir / CACHE_FILE
        prints = {name: fingerprint(items) for name, items in splits.items()}
        stored = read_cache(path)
        if stored is not None and stored[1] == prints:
            self.cache = stored[0]
            say(f"reference: cached log-probs read from {path}")
            return
        self.cache = {
            name: compute_logps(
                model, items, batch_tokens, rank=rank, world=world, autocast=autocast
            )
            for name, items in splits.items()
        }
        if rank == 0:
            tmp = path.with_suffix(".tmp")
            save_file(self.cache, tmp, metadata=prints)
            tmp.replace(path)
        if world > 1:
            dist.barrier()
        n = sum(len(v) for v in splits.values())
        say(f"reference: log-probs of {n:,} items under the initial weights stored in {path}")


def read_cache(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118
