"""Batched multi-LoRA for the engine's own forward (punica / S-LoRA style).

Every adapter of a `PeftModel` is stacked per target linear: `A` `[N + 1, r, in]` and `B`
`[N + 1, out, r]` (the scaling folded into B; index 0 is the base, all zeros; ranks padded
to the largest). A step's token rows each carry their adapter's index, and one forward pass
adds `B[idx_t] (A[idx_t] x_t)` to each row's base projection: requests of different
adapters (and of the base) share every matmul of the base weights. Fused projections
(QKV, gate+up, MLA's q_a+kv_a) fuse their LoRAs too: the A matrices concatenate along the
rank, the B matrices go block-diagonal.

MLA's `kv_b_proj` is absorbed into the query and output paths, so an adapter on it gets
its own merged `W_UK`/`W_UV` (per adapter, gathered per row) instead.

Runs plain LoRA on linear layers; DoRA, LoRA biases, `modules_to_save`, trainable tokens and
LoRA on expert parameters run on the HF forward (`unsupported` says why).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunesmith.inference.checks import BASE

Lora = dict[str, torch.Tensor | int | tuple[torch.Tensor, torch.Tensor]]
"""{"idx": [T] adapter index per row, or one int when every row runs the same adapter,
name: (A, B) stacks of one (fused) linear}"""


def base_linear(module: torch.nn.Module) -> torch.nn.Module:
    """The base `nn.Linear` under a peft LoRA wrapper (the module itself when unwrapped)."""
    return getattr(module, "base_layer", module)


def lora_linear(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, lora: Lora | None, name: str
) -> torch.Tensor:
    out = F.linear(x, w, b)
    if lora is not None and name in lora:
        a, bm = lora[name]
        idx = lora["idx"]
        if isinstance(idx, int):  # one adapter for every row: two plain matmuls
            if idx:
                out = out + F.linear(F.linear(x, a[idx]), bm[idx])
            return out
        mid = torch.einsum("ti,tri->tr", x, a[idx])
        out = out + torch.einsum("tr,tor->to", mid, bm[idx])
    return out


def unsupported(model: torch.nn.Module) -> str | None:
    """Why a PeftModel's adapters cannot run batched in the engine's forward (None: they can)."""
    from peft.tuners.lora import Linear as LoraLinear

    for name, cfg in model.peft_config.items():
        kind = getattr(cfg.peft_type, "value", cfg.peft_type)
        if kind != "LORA":
            return f"adapter '{name}' is {kind}, not LoRA"
        for field, bad in (
            ("use_dora", True), ("modules_to_save", None), ("trainable_token_indices", None),
            ("target_parameters", None), ("lora_bias", True),
        ):  # fmt: skip
            value = getattr(cfg, field, None)
            if (bad is True and value) or (bad is None and value):
                return f"adapter '{name}' uses {field}"
        if getattr(cfg, "bias", "none") != "none":
            return f"adapter '{name}' trains biases"
    for mod_name, module in model.named_modules():
        if hasattr(module, "lora_A") and not isinstance(module, LoraLinear):
            return f"LoRA on {mod_name} ({type(module).__name__}) is not a linear layer"
    return None


class LoraSet:
    """The adapters of a PeftModel, stacked per target linear (see module doc)."""

    def __init__(self, model: torch.nn.Module):
        self.names: tuple[str, ...] = tuple(model.peft_config)
        self.index = {BASE: 0, **{n: i + 1 for i, n in enumerate(self.names)}}
        self.wrapped = {n for n, m in model.named_modules() if hasattr(m, "lora_A")}
        self.used: set[int] = set()
        """ids of the modules whose LoRA the forward applies (`missing` checks them all)"""
        self._names = {id(m): n for n, m in model.named_modules()}

    def missing(self) -> list[str]:
        """LoRA-wrapped modules the engine's forward does not apply (must be none)."""
        return sorted(n for n in self.wrapped if n not in {self._names.get(i) for i in self.used})

    def rows(
        self, adapters: list[str | None], device: torch.device, *, uniform: bool = True
    ) -> torch.Tensor | int:
        """Each row's adapter index `[T]`; with `uniform`, the index itself (an int) when
        every row runs the same adapter, so the LoRA matmuls need no per-row gather."""
        index = [self.index[a or BASE] for a in adapters]
        if uniform and index and all(i == index[0] for i in index):
            return index[0]
        return torch.tensor(index, device=device)

    def _pair(self, module: torch.nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        self.used.add(id(module))
        if not hasattr(module, "lora_A") or name not in module.lora_A:
            return None
        a = module.lora_A[name].weight.detach()
        b = module.lora_B[name].weight.detach() * module.scaling[name]
        return a, b

    def stack(self, *modules: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(A, B) of the linears `modules` fused along their outputs; None without LoRA."""
        pairs = [[self._pair(m, n) for n in self.names] for m in modules]
        if all(p is None for per in pairs for p in per):
            return None
        ranks = [max((p[0].shape[0] for p in per if p is not None), default=0) for per in pairs]
        outs = [base_linear(m).weight.shape[0] for m in modules]
        first = base_linear(modules[0]).weight
        n, r, d_in = len(self.names) + 1, sum(ranks), first.shape[1]
        a_all = first.new_zeros(n, r, d_in)
        b_all = first.new_zeros(n, sum(outs), r)
        row = col = 0
        for per, rank, out in zip(pairs, ranks, outs, strict=True):
            for i, p in enumerate(per, start=1):
                if p is not None:
                    a_all[i, col : col + p[0].shape[0]] = p[0]
                    b_all[i, row : row + out, col : col + p[1].shape[1]] = p[1]
            row, col = row + out, col + rank
        return a_all, b_all

    def merged(self, module: torch.nn.Module) -> torch.Tensor:
        """`[N + 1, out, in]`: the base weight, then the base plus each adapter's delta."""
        w = base_linear(module).weight.detach()
        out = [w]
        for name in self.names:
            p = self._pair(module, name)
            out.append(w if p is None else w + p[1] @ p[0])
        return torch.stack(out)
