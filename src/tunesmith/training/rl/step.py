"""One rollout batch of recipe=grpo, from prompts to the micro-batches the update trains on,
and the held-out evaluation (greedy completions scored by the same rewards).

    make_rollout(...)   this process's prompts -> engine completions -> rewards (summed over
                        processes) -> advantages -> dropped groups -> micro-batches with old
                        and reference log-probs -> RolloutBatch(window, stats)

The window holds `train.grad_accum` micro-batches per process at the positions
`accumulate_gradients` gives each process (rank r: r, r + world, ...); the others' slots are
None, never read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.training.rl.advantages import constant_groups, group_advantages
from tunesmith.training.rl.batch import pack, shares_prompts, split_evenly, token_logps
from tunesmith.training.rl.objective import Reference
from tunesmith.training.rl.prompts import Prompts, advantage_scale
from tunesmith.training.rl.rewards import RewardFunction, score
from tunesmith.training.rl.rollout import Rollout, RolloutSettings, batch_prompts, generate
from tunesmith.training.setup import Engine, Optimization


@dataclass
class RolloutBatch:
    window: list[dict[str, Any] | None]
    stats: dict[str, float] = field(default_factory=dict)


def settings(cfg: Config, tok: PreTrainedTokenizerBase) -> RolloutSettings:
    g = cfg.grpo
    return RolloutSettings(
        group_size=g.group_size, max_tokens=g.max_completion_length, temperature=g.temperature,
        top_p=g.top_p, top_k=g.top_k, stop_token_ids=(tok.eos_token_id,),
        prefix_block_size=g.prefix_block_size, seed=cfg.train.seed,
    )  # fmt: skip


def decode(tok: PreTrainedTokenizerBase, ro: Rollout) -> list[str]:
    """Completion texts without the stop token (<think> markers kept)."""
    return [
        tok.decode(ids if cut else ids[:-1], skip_special_tokens=False)
        for ids, cut in zip(ro.completion_ids, ro.truncated, strict=True)
    ]


def make_rollout(
    cfg: Config, tok: PreTrainedTokenizerBase, prompts: Prompts,
    functions: list[RewardFunction], reference: Reference, engine: Engine,
    model: torch.nn.Module, batch: int,
) -> RolloutBatch:  # fmt: skip
    g, ranks = cfg.grpo, engine.ranks
    P, G = g.prompts_per_step, g.group_size
    order = batch_prompts(len(prompts.train.ids), P, batch, cfg.train.seed)
    mine = list(range(ranks.rank, P, ranks.world))  # positions in the rollout batch
    records = [prompts.train.records[order[i]] for i in mine]
    module = ranks.unwrap(model)
    ro = generate(
        module, [prompts.train.ids[order[i]] for i in mine], mine, batch, settings(cfg, tok)
    )
    texts = decode(tok, ro)
    scores = score(
        functions,
        [r.raw_prompt for r in records for _ in range(G)],
        texts,
        [r.fields for r in records for _ in range(G)],
        completion_ids=ro.completion_ids,
    )
    rows = torch.tensor([i * G + j for i in mine for j in range(G)])
    rewards = _gather(ranks, torch.nan_to_num(scores.total, nan=0.0), rows, P * G)
    adv_all = group_advantages(rewards, G, advantage_scale(cfg))
    constant = constant_groups(rewards, G)
    advantages = adv_all[rows]
    keep = [
        k for k in range(len(rows)) if not (g.drop_constant_groups and constant[int(rows[k]) // G])
    ]

    window: list[dict[str, Any] | None] = [None] * (cfg.train.grad_accum * ranks.world)
    parts = split_evenly(len(keep), cfg.train.grad_accum)
    for a, part in enumerate(parts):
        picked = [keep[i] for i in part]
        window[a * ranks.world + ranks.rank] = _micro_batch(
            cfg, ro, picked, advantages, reference, module
        )
    stats = _stats(cfg, ro, scores, rewards, constant, ranks)
    return RolloutBatch(window, stats)


def _gather(ranks: Any, local: torch.Tensor, rows: torch.Tensor, n: int) -> torch.Tensor:
    """The whole batch's values (every process's rows in place), on every process."""
    full = torch.zeros(n, dtype=torch.float64)
    full[rows] = local.double()
    return torch.tensor(ranks.sum(full.tolist()), dtype=torch.float32)


def _micro_batch(
    cfg: Config, ro: Rollout, picked: list[int], advantages: torch.Tensor,
    reference: Reference, module: torch.nn.Module,
) -> dict[str, Any]:  # fmt: skip
    g = cfg.grpo
    empty = not picked
    rows = picked or [0]  # an empty share still runs forward/backward (weight 0) for DDP
    batch: dict[str, Any] = pack(
        [ro.prompt_ids[k] for k in rows],
        [ro.completion_ids[k] for k in rows],
        share_prompts=shares_prompts(module),  # a group's prompt computed once
    )
    width = max(len(ro.completion_ids[k]) for k in rows)
    train_mask = torch.zeros(len(rows), width)
    for i, k in enumerate(rows):
        cut = g.mask_truncated and ro.truncated[k]
        if not (empty or cut):
            train_mask[i, : len(ro.completion_ids[k])] = 1.0
    batch["train_mask"] = train_mask
    batch["advantages"] = advantages[rows].float()
    batch["completion_count"] = 0 if empty else len(rows)
    batch["token_count"] = int(train_mask.sum())
    if g.num_iterations > 1:  # the rollout policy's log-probs, for the importance ratios
        batch["old_logps"] = _no_grad_logps(module, batch, g.temperature)
    ref = reference.logps(module, batch, g.temperature)
    if ref is not None:
        batch["ref_logps"] = ref
    return batch


@torch.no_grad()
def _no_grad_logps(module: torch.nn.Module, batch: dict, temperature: float) -> torch.Tensor:
    was_training = module.training
    module.eval()
    try:
        return token_logps(module, batch, temperature)[0]
    finally:
        module.train(was_training)


def _stats(
    cfg: Config, ro: Rollout, scores: Any, rewards: torch.Tensor, constant: torch.Tensor,
    ranks: Any,
) -> dict[str, float]:  # fmt: skip
    """Means over the whole rollout batch (every process), TRL's metric names."""
    names = list(scores.per_function)
    sums: list[float] = []
    for name in names:
        vals = [v for v in scores.per_function[name] if v is not None]
        sums += [sum(vals), sum(v * v for v in vals), float(len(vals))]
    lengths = [len(c) for c in ro.completion_ids]
    local = [
        float(sum(lengths)), float(len(lengths)), float(sum(ro.truncated)),
        float(ro.generated_tokens), ro.seconds, float(ro.prefill_tokens), float(ro.prompt_tokens),
    ]  # fmt: skip
    total = ranks.sum([*sums, *local])
    top = max(lengths)
    if ranks.world > 1:
        t = torch.tensor([float(top)])
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        top = int(t.item())
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        s, sq, n = total[3 * i : 3 * i + 3]
        mean = s / n if n else math.nan
        out[f"rewards/{name}/mean"] = mean
        out[f"rewards/{name}/std"] = math.sqrt(max(sq / n - mean * mean, 0.0)) if n else math.nan
    length_sum, count, cut, generated, seconds, prefill, prompt_tokens = total[3 * len(names) :]
    seconds /= ranks.world  # each process generated its share at the same time
    out.update({
        "reward": float(rewards.mean()),
        "reward_std": float(rewards.std()) if rewards.numel() > 1 else 0.0,
        "completions/mean_length": length_sum / count,
        "completions/max_length": float(top),
        "completions/clipped_ratio": cut / count,
        "frac_reward_zero_std": float(constant.float().mean()),
        "groups_dropped": float(constant.sum()) if cfg.grpo.drop_constant_groups else 0.0,
        "rollout_seconds": seconds,
        "rollout_tokens_per_s": generated / max(seconds, 1e-9),
        "prefill_shared_frac": 1.0 - prefill / max(prompt_tokens, 1.0),
    })  # fmt: skip
    return out


class Evaluator:
    """Held-out rewards: one greedy completion per validation prompt (eval.max_samples at
    most), scored by the training rewards; eval_reward and eval_rewards/<name>. Processes
    split the prompts. Writes the first grpo.eval_samples completions to samples.log."""

    def __init__(
        self, cfg: Config, tok: PreTrainedTokenizerBase, prompts: Prompts,
        functions: list[RewardFunction], engine: Engine, opt: Optimization, run_dir: Path,
    ) -> None:  # fmt: skip
        self.cfg, self.tok, self.functions = cfg, tok, functions
        self.engine, self.opt, self.run_dir = engine, opt, run_dir
        split = prompts.validation
        n = cfg.eval.max_samples or len(split.ids)
        self.records, self.ids = split.records[:n], split.ids[:n]
        self.state: Any = None  # the loop's TrainState (the step samples.log names)

    def __call__(self) -> dict[str, float]:
        if not self.ids:
            return {}
        ranks = self.engine.ranks
        mine = list(range(ranks.rank, len(self.ids), ranks.world))
        module = ranks.unwrap(self.opt.model)
        ro = generate(
            module, [self.ids[i] for i in mine], mine, -1, settings(self.cfg, self.tok), greedy=True
        )
        texts = decode(self.tok, ro)
        recs = [self.records[i] for i in mine]
        scores = score(self.functions, [r.raw_prompt for r in recs], texts,
                       [r.fields for r in recs], completion_ids=ro.completion_ids)  # fmt: skip
        names = list(scores.per_function)
        sums: list[float] = []
        for name in names:
            vals = [v for v in scores.per_function[name] if v is not None]
            sums += [sum(vals), float(len(vals))]
        totals = torch.nan_to_num(scores.total, nan=0.0)
        sums += [float(totals.sum()), float(len(mine))]
        summed = ranks.sum(sums)
        out = {"eval_reward": summed[-2] / max(summed[-1], 1.0)}
        for i, name in enumerate(names):
            s, n = summed[2 * i : 2 * i + 2]
            out[f"eval_rewards/{name}"] = s / n if n else math.nan
        if ranks.is_main:
            self._log_samples(recs, texts, scores, out)
        return out

    def _log_samples(self, recs: list, texts: list[str], scores: Any, evals: dict) -> None:
        k = self.cfg.grpo.eval_samples
        if not k:
            return
        step = self.state.step if self.state is not None else 0
        lines = [f"=== step {step}: " + json.dumps(evals)]
        for i, (rec, text) in enumerate(zip(recs[:k], texts[:k], strict=False)):
            rewards = {n: v[i] for n, v in scores.per_function.items()}
            lines += [
                f"--- prompt: {rec.raw_prompt if isinstance(rec.raw_prompt, str) else json.dumps(rec.raw_prompt)}",
                f"    answer: {rec.fields.get('answer')!r}   rewards: {json.dumps(rewards)}",
                "    completion: " + text.replace("\n", "\n                "),
            ]
        with (self.run_dir / "samples.log").open("a") as fh:
            fh.write("\n".join(lines) + "\n\n")
