"""What recipe=grpo reads before it trains: its settings checked, the reward functions, the
prompts (data/rl.py records, rendered with the chat template and tokenized once) and the
number of optimizer steps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.data.rl import RLData, RLRecord, load_rl_records
from tunesmith.data.types import Conversation
from tunesmith.errors import ConfigError
from tunesmith.tokenize.templates import render_prompt
from tunesmith.training.distributed import world_size
from tunesmith.training.rl.losses import PolicyLossConfig
from tunesmith.training.rl.rewards import RewardFunction, load_reward_functions


def check_grpo(cfg: Config) -> None:
    """Settings that need no weights (every process checks them alike)."""
    g, t = cfg.grpo, cfg.train
    if g.rollout_backend == "vllm":
        where = "a CUDA GPU and the vllm extra" if not torch.cuda.is_available() else "work"
        raise ConfigError(
            "grpo.rollout_backend: vllm is not available in this release (it needs "
            f"{where} to colocate a vLLM copy and sync LoRA weights into it); use engine: "
            "tunesmith's engine generates the rollouts on the training weights themselves"
        )
    if not cfg.data.train:
        raise ConfigError("data.train: recipe grpo needs prompt records (docs/rl.md)")
    world = world_size()
    if g.prompts_per_step % world:
        raise ConfigError(
            f"grpo.prompts_per_step: {g.prompts_per_step} prompts do not split over {world} "
            "processes; use a multiple of the process count"
        )
    if t.save_every and t.save_every % g.num_iterations:
        raise ConfigError(
            f"train.save_every: {t.save_every} is not a multiple of grpo.num_iterations "
            f"({g.num_iterations}); a checkpoint must fall between rollout batches"
        )
    if len(g.reward_weights) not in (0, len(g.rewards)):
        raise ConfigError(
            f"grpo.reward_weights: {len(g.reward_weights)} weights for {len(g.rewards)} "
            "reward functions (give one per function, or none)"
        )
    if cfg.method.name == "prefix":
        raise ConfigError("method.name: prefix adapters cannot run in the engine; use lora")
    if cfg.distributed.strategy in ("deepspeed", "fsdp"):
        raise ConfigError(
            f"distributed.strategy: recipe grpo runs with none or ddp (the engine generates "
            f"from unsharded weights), not {cfg.distributed.strategy}"
        )
    loss_config(cfg)


def loss_config(cfg: Config) -> PolicyLossConfig:
    g = cfg.grpo
    return PolicyLossConfig(
        loss_type=g.loss_type,
        epsilon_low=g.epsilon_low,
        epsilon_high=g.epsilon_high or g.epsilon_low,
        beta=g.beta,
        max_completion_length=g.max_completion_length,
    )


def advantage_scale(cfg: Config) -> str:
    s = cfg.grpo.scale_rewards
    if s != "auto":
        return s
    return "none" if cfg.grpo.loss_type == "dr_grpo" else "group"


def reward_functions(cfg: Config) -> list[RewardFunction]:
    g = cfg.grpo
    weights = g.reward_weights or [1.0] * len(g.rewards)
    specs = [{"function": r, "weight": w} for r, w in zip(g.rewards, weights, strict=True)]
    try:
        return load_reward_functions(
            specs, defaults={"length": {"max_len": g.max_completion_length}}
        )
    except ConfigError as e:
        raise ConfigError(f"grpo.{e}") from None


@dataclass
class SplitStats:
    """Counts of one split (records in = kept + dropped, by reason)."""

    records: int = 0
    kept: int = 0
    rejected: int = 0
    too_long: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records, "kept": self.kept, "rejected": self.rejected,
            "dropped_too_long": self.too_long, "rejected_by_reason": self.by_reason,
        }  # fmt: skip


@dataclass
class PromptSplit:
    records: list[RLRecord]
    ids: list[list[int]]


@dataclass
class Prompts:
    """Tokenized prompts of the train and validation splits, with their counts."""

    train: PromptSplit
    validation: PromptSplit
    stats: dict[str, SplitStats]

    def describe(self) -> list[str]:
        out = []
        for name, st in self.stats.items():
            if name != "train" and not st.records:
                continue
            out.append(
                f"data {name}: {st.records:,} records -> {st.kept:,} prompts ({st.rejected:,} "
                f"rejected, {st.too_long:,} longer than data.max_len)"
            )
        return out

    def total_steps(self, cfg: Config) -> int:
        """train.max_steps, else epochs over the train prompts in rollout batches, each
        num_iterations optimizer steps."""
        g, t = cfg.grpo, cfg.train
        if t.max_steps:
            return t.max_steps
        batches = max(1, math.ceil(t.epochs * len(self.train.ids) / g.prompts_per_step))
        return batches * g.num_iterations


def load_prompts(cfg: Config, tok: PreTrainedTokenizerBase) -> Prompts:
    d = cfg.data
    required = ("answer",) if any(r == "accuracy" for r in cfg.grpo.rewards) else ()
    splits, stats = {}, {}
    for name, paths in (("train", d.train), ("validation", d.validation)):
        data = load_rl_records(paths, d.on_error, required, d.system_prompt) if paths else RLData()
        split, st = _encode(data, tok, d.max_len)
        splits[name], stats[name] = split, st
    if not splits["train"].ids:
        raise ConfigError(
            f"data.train: no usable prompt in {', '.join(d.train)} ({stats['train'].as_dict()})"
        )
    return Prompts(splits["train"], splits["validation"], stats)


def _encode(
    data: RLData, tok: PreTrainedTokenizerBase, max_len: int
) -> tuple[PromptSplit, SplitStats]:
    st = SplitStats(data.records_in, 0, data.rejected, 0, dict(data.rejected_by_reason))
    split = PromptSplit([], [])
    for rec in data.records:
        text = render_prompt(Conversation(messages=rec.prompt, source=rec.source))
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(ids) > max_len:
            st.too_long += 1
            continue
        split.records.append(rec)
        split.ids.append(ids)
    st.kept = len(split.ids)
    return split, st
