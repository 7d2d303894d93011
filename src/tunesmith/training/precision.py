"""bf16 training: autocast over fp32 weights, or bf16 weights trained through fp32 masters.

    train: {precision: bf16}                      # autocast; weights, grads, AdamW state fp32
    train: {precision: bf16, pure_bf16: true}     # weights bf16; fp32 masters + state in AdamW

`precision: bf16` runs matmuls in bf16 under autocast (accelerate's mixed precision, on CPU
and CUDA alike; CPUs with AVX-512 BF16 / AMX run bf16 matmuls about twice as fast as fp32)
while every weight stays fp32.

`pure_bf16` also stores the model's weights in bf16: a frozen LoRA base takes half the memory
and no per-step casts, and full fine-tuning keeps bf16 weights and gradients. The optimizer,
`Fp32MasterAdamW`, holds an fp32 master copy of every bf16 trainable weight: it steps AdamW on
the masters (fp32 moments, fp32 update) from the bf16 gradients and writes the rounded result
back into the model, so updates smaller than a bf16 ulp are not lost. Trainable weights that
are fp32 already (PEFT keeps LoRA adapters fp32 over a bf16 base) are stepped in place. The
masters are part of the optimizer's state dict (`master`), so checkpoints resume exactly.
"""

from __future__ import annotations

from typing import Any

import torch

from tunesmith.errors import ConfigError

LOW = (torch.bfloat16, torch.float16)


def check_precision(precision: str, pure_bf16: bool, strategy: str) -> None:
    if not pure_bf16:
        return
    if precision != "bf16":
        raise ConfigError(
            f"train.pure_bf16: needs train.precision bf16 (now {precision}); it keeps the "
            "weights in bf16 and trains them through fp32 master copies"
        )
    if strategy in ("deepspeed", "fsdp"):
        raise ConfigError(
            f"train.pure_bf16: not with distributed.strategy {strategy}, whose engine keeps "
            "its own fp32 master weights under bf16; use precision bf16 alone"
        )


def to_bf16(model: torch.nn.Module) -> torch.nn.Module:
    """All floating-point weights and buffers in bf16 (before adapters are attached)."""
    return model.to(torch.bfloat16)


class Fp32MasterAdamW(torch.optim.AdamW):
    """AdamW over fp32 masters of the model's low-precision trainable weights.

    Built from the param groups of an ordinary AdamW over the model's parameters; its own
    param groups hold the masters (fp32 weights stay themselves), so schedulers and clipping
    of the model's gradients work as usual."""

    def __init__(self, groups: list[dict[str, Any]], **defaults: Any) -> None:
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # (model weight, master)
        master_groups = []
        for group in groups:
            params = []
            for p in group["params"]:
                if p.dtype in LOW:
                    master = p.detach().float().requires_grad_(True)
                    self.pairs.append((p, master))
                    params.append(master)
                else:
                    params.append(p)
            master_groups.append({**group, "params": params})
        super().__init__(master_groups, foreach=False, **defaults)

    @classmethod
    def like(cls, opt: torch.optim.AdamW) -> Fp32MasterAdamW:
        """The same groups and hyperparameters as `opt`, with masters."""
        d = opt.defaults
        groups = [dict(g) for g in opt.param_groups]
        for g in groups:
            g.pop("initial_lr", None)
        return cls(groups, lr=d["lr"], betas=d["betas"], eps=d["eps"], weight_decay=0.0)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: ANN401
        for p, master in self.pairs:
            master.grad = None if p.grad is None else p.grad.float()
        out = super().step(closure)
        for p, master in self.pairs:
            if p.grad is not None:
                p.copy_(master)
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for p, _ in self.pairs:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        index = {id(p): i for i, p in enumerate(q for g in self.param_groups for q in g["params"])}
        for _, master in self.pairs:
            sd["state"].setdefault(index[id(master)], {})["master"] = master.detach()
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        sd = {**state_dict, "state": {k: dict(v) for k, v in state_dict["state"].items()}}
        flat = [q for g in self.param_groups for q in g["params"]]
        masters = {}
        for idx, st in sd["state"].items():
            if "master" in st:
                masters[int(idx)] = st.pop("master")
        sd["state"] = {k: v for k, v in sd["state"].items() if v}
        super().load_state_dict(sd)
        model_of = {id(m): p for p, m in self.pairs}
        with torch.no_grad():
            for idx, value in masters.items():
                flat[idx].copy_(value)
                model_of[id(flat[idx])].copy_(flat[idx])
