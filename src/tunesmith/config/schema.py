"""Typed config: one dataclass per section. Each field's `help` becomes `tunesmith train --help`.

Field metadata keys understood by the validator in `config/load.py`:
  help     one line shown in --help
  choices  allowed values (strings)
  min/max  inclusive numeric bounds
  gt/lt    exclusive lower / upper bounds
Keys used by the other commands' schemas (`config/settings.py`): required, flag, metavar,
repeat (a flag given once per value), positional (the command's positional arguments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def opt(default: Any, help: str, **meta: Any) -> Any:
    """A config field with a default, a help line and optional validation metadata."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class ModelConfig:
    name_or_path: str = opt(
        "tiny-deepseek-v3-base",
        "a preset name (see `tunesmith models`) or a local Hugging Face model directory",
    )
    tokenizer: str | None = opt(
        None, "tokenizer directory; default: the model's, else the shipped one"
    )
    dtype: str = opt(
        "float32", "weight dtype when loading", choices=["float32", "bfloat16", "float16"]
    )
    attn_implementation: str = opt(
        "tunesmith_varlen",
        "attention kernel; tunesmith_varlen = SDPA per packed sample (no cross-sample attention)",
        choices=["tunesmith_varlen", "sdpa", "eager"],
    )


@dataclass
class DataConfig:
    train: list[str] = opt([], "training files (jsonl, json, csv, parquet)")
    validation: list[str] = opt([], "validation files; if empty, `val_split` of train is held out")
    format: str = opt(
        "auto",
        "record format",
        choices=["auto", "alpaca", "messages", "sharegpt", "cqa", "text"],
    )
    val_split: float = opt(
        0.0,
        "fraction of train held out for validation when `validation` is empty",
        min=0.0,
        max=0.5,
    )
    max_len: int = opt(1024, "maximum tokens per sample", min=8)
    truncation: str = opt(
        "right", "what to do with samples longer than max_len", choices=["right", "left", "drop"]
    )
    train_on_prompt: bool = opt(False, "also compute loss on system/user tokens")
    packing: bool = opt(
        True, "padding-free packing of samples into rows (no attention across samples)"
    )
    system_prompt: str | None = opt(None, "system prompt added to conversations that have none")
    on_error: str = opt(
        "raise",
        "malformed record: stop with an error, or skip it into rejects.jsonl",
        choices=["raise", "skip"],
    )
    max_record_chars: int = opt(
        1_000_000, "a record with more characters (all turns) is bad input", min=1
    )
    streaming: bool = opt(
        False,
        "read data.train (jsonl) as a stream, never whole: a shuffle buffer, packing on the "
        "fly, the read position in checkpoints; needs train.max_steps (the sample count is "
        "known only after a pass)",
    )
    shuffle_buffer: int = opt(
        1000, "streaming: records held and drawn from at random (1 = file order)", min=1
    )


@dataclass
class LoraConfig:
    r: int = opt(16, "LoRA rank", min=1)
    alpha: float = opt(32.0, "LoRA alpha (scaling = alpha / r)", gt=0.0)
    dropout: float = opt(
        0.0,
        "LoRA dropout (must be 0 when MoE / MLP weights of DeepSeek models are adapted)",
        min=0.0,
        max=0.9,
    )
    target_modules: list[str] = opt(["all-linear"], "module names to adapt, or ['all-linear']")
    trainable_tokens: list[str] = opt(
        [],
        "tokens whose input-embedding and output rows are trained in full, e.g. "
        "[all-special] for the chat template's special tokens",
    )
    modules_to_save: list[str] = opt(
        [],
        "modules trained in full and saved with the adapter, e.g. [lm_head] when the base "
        "never saw the chat template's special tokens",
    )
    use_rslora: bool = opt(False, "rank-stabilised scaling alpha / sqrt(r) instead of alpha / r")
    plus_lr_ratio: float = opt(
        0.0, "LoRA+: lora_B learns at lr x this ratio (e.g. 16); 0 = off", min=0.0
    )


@dataclass
class QLoraConfig:
    quant_type: str = opt("nf4", "4-bit data type of the frozen base", choices=["nf4", "fp4"])
    double_quant: bool = opt(True, "also quantize the quantization constants")
    compute_dtype: str = opt(
        "bfloat16", "dtype the 4-bit weights are dequantized to", choices=["bfloat16", "float16"]
    )


@dataclass
class PrefixConfig:
    num_virtual_tokens: int = opt(16, "virtual key/value positions prepended in every layer", min=1)
    projection: bool = opt(False, "reparameterise the prefix through a 2-layer MLP")
    projection_dim: int = opt(256, "hidden size of that MLP", min=1)


@dataclass
class FreezeConfig:
    trainable_layers: list[str] = opt(
        [],
        "decoder layers trained in full, as indices or ranges: ['8-11'], ['-2:'] (the last two)",
    )
    trainable_modules: list[str] = opt(
        [],
        "parameter-name patterns trained in full (fnmatch), e.g. ['lm_head', '*.norm.*']",
    )


METHODS = ["lora", "dora", "qlora", "prefix", "freeze", "full"]


@dataclass
class MethodConfig:
    name: str = opt(
        "lora",
        "fine-tuning method: lora, dora (weight-decomposed LoRA), qlora (LoRA on a 4-bit "
        "base, CUDA), prefix (prefix tuning), freeze (chosen layers/modules in full) or full; "
        "which weights train, whatever the recipe",
        choices=METHODS,
    )
    lora: LoraConfig = field(
        default_factory=LoraConfig, metadata={"help": "LoRA settings (also dora and qlora)"}
    )
    qlora: QLoraConfig = field(default_factory=QLoraConfig, metadata={"help": "QLoRA base"})
    prefix: PrefixConfig = field(
        default_factory=PrefixConfig, metadata={"help": "prefix tuning settings"}
    )
    freeze: FreezeConfig = field(
        default_factory=FreezeConfig, metadata={"help": "what `freeze` trains"}
    )


@dataclass
class DistributedConfig:
    strategy: str = opt(
        "none",
        "none (one process), ddp, deepspeed (ZeRO) or fsdp (FSDP2); launch with --nproc N",
        choices=["none", "ddp", "deepspeed", "fsdp"],
    )
    zero_stage: int = opt(2, "DeepSpeed ZeRO stage", choices=[1, 2, 3])
    offload_optimizer: str = opt("none", "DeepSpeed: optimizer state on", choices=["none", "cpu"])
    offload_params: str = opt(
        "none", "DeepSpeed ZeRO-3 / FSDP: parameters on", choices=["none", "cpu"]
    )
    fsdp_reshard_after_forward: bool = opt(
        True, "FSDP: free gathered parameters after forward (FULL_SHARD); false = SHARD_GRAD_OP"
    )
    backend: str = opt(
        "auto",
        "process-group backend: auto = nccl on CUDA, gloo on CPU",
        choices=["auto", "gloo", "nccl"],
    )
    timeout_minutes: int = opt(30, "collective timeout", min=1)


@dataclass
class TrainConfig:
    epochs: float = opt(1.0, "passes over the training data (ignored when max_steps > 0)", gt=0.0)
    max_steps: int = opt(0, "optimizer steps; 0 = derived from epochs", min=0)
    batch_size: int = opt(8, "samples per micro-batch (unpacked) ", min=1)
    batch_tokens: int = opt(4096, "tokens per micro-batch when packing", min=8)
    grad_accum: int = opt(1, "micro-batches per optimizer step (token-weighted loss)", min=1)
    lr: float = opt(2e-4, "peak learning rate", gt=0.0)
    weight_decay: float = opt(0.0, "AdamW weight decay", min=0.0)
    adam_beta1: float = opt(0.9, "AdamW beta1", min=0.0, max=0.999999)
    adam_beta2: float = opt(0.999, "AdamW beta2", min=0.0, max=0.999999)
    adam_eps: float = opt(1e-8, "AdamW epsilon", gt=0.0)
    scheduler: str = opt(
        "cosine", "learning-rate schedule", choices=["cosine", "linear", "constant"]
    )
    warmup_steps: int = opt(0, "linear warmup steps (overrides warmup_ratio when > 0)", min=0)
    warmup_ratio: float = opt(0.0, "warmup as a fraction of total steps", min=0.0, max=1.0)
    max_grad_norm: float = opt(1.0, "gradient clipping norm; 0 disables", min=0.0)
    precision: str = opt(
        "fp32", "compute precision (bf16 works on CPU)", choices=["fp32", "bf16", "fp16"]
    )
    pure_bf16: bool = opt(
        False,
        "with precision bf16: weights stored in bf16 (frozen ones at half the memory), trainable "
        "ones updated through fp32 master copies with fp32 AdamW state",
    )
    gradient_checkpointing: bool = opt(False, "recompute activations in backward to save memory")
    offload_activations: bool = opt(
        False,
        "CUDA: keep the activations saved for backward (with gradient_checkpointing, the layer "
        "inputs) in pinned host memory instead of GPU memory",
    )
    loss_impl: str = opt(
        "auto",
        "LM head + loss: chunked (never the full [tokens, vocab] logits), plain, liger (CUDA, "
        "liger-kernel), auto = liger if usable, else chunked; plain when lm_head is PEFT-wrapped",
        choices=["auto", "chunked", "plain", "liger"],
    )
    loss_chunk_tokens: int = opt(
        0, "rows per chunk of the chunked loss; 0 = about 8M logits per chunk", min=0
    )
    seed: int = opt(42, "random seed for data order, init and dropout")
    log_every: int = opt(1, "log metrics every N optimizer steps", min=1)
    eval_every: int = opt(0, "evaluate every N steps; 0 = only at the end", min=0)
    save_every: int = opt(0, "checkpoint every N steps; 0 = only the final output", min=0)
    keep_last: int = opt(2, "checkpoints to keep", min=1)
    resume: str = opt(
        "none", "'none', 'auto' (last checkpoint in the run dir) or a checkpoint path"
    )
    early_stopping_patience: int = opt(0, "stop after N evals without improvement; 0 = off", min=0)
    early_stopping_metric: str = opt(
        "eval_loss", "metric watched for early stopping and save_best, e.g. eval_loss, eval_em"
    )
    early_stopping_mode: str = opt(
        "min", "whether lower or higher is better", choices=["min", "max"]
    )
    save_best: bool = opt(
        False, "also write the best evaluation's weights to best/ (by early_stopping_metric)"
    )
    neftune_alpha: float = opt(
        0.0,
        "NEFTune (Jain et al. 2023, arXiv:2310.05914): uniform noise of scale alpha/sqrt(L*d) "
        "added to the input embeddings in training forwards only (L: row length, d: hidden "
        "size); the paper uses 5-15; 0 = off",
        min=0.0,
    )
    router_aux_loss_coef: float = opt(
        0.0, "MoE load-balancing loss weight added to the LM loss (logged as aux_loss)", min=0.0
    )
    progress: bool = opt(True, "show a progress bar")


@dataclass
class DistillConfig:
    teacher: str | None = opt(
        None,
        "teacher for recipe=distill: a model directory, a tunesmith run directory "
        "(adapter or full) or a preset with weights (tiny-deepseek-v3-base); same tokenizer "
        "as the student (the model section, trained with method.name)",
    )
    alpha: float = opt(
        0.5,
        "weight of the teacher term in alpha * T^2 * KL + (1 - alpha) * CE (KL of the "
        "student from the teacher at temperature T, CE on the labels)",
        min=0.0,
        max=1.0,
    )
    temperature: float = opt(
        2.0, "softmax temperature T applied to teacher and student logits", gt=0.0
    )


# Metric names (what each needs and computes: evaluation/registry.py, docs/eval.md).
EVAL_METRICS = (
    "loss",
    "em",
    "f1",
    "bleu",
    "rouge1",
    "rouge2",
    "rouge_l",
    "accuracy",
    "macro_f1",
    "roc_auc",
    "pairwise_accuracy",
)


@dataclass
class EvalConfig:
    metrics: list[str] = opt(
        ["loss"],
        "metrics on the validation split, logged as eval_<name> (loss also gives eval_ppl): "
        + ", ".join(EVAL_METRICS),
    )
    max_new_tokens: int = opt(64, "generation budget for generative metrics", min=1)
    batch_size: int = opt(16, "samples per generation batch", min=1)
    max_samples: int = opt(0, "cap on evaluated samples; 0 = all", min=0)
    score_reasoning: bool = opt(
        False, "score whole outputs, <think> block included (default: the final answer only)"
    )


TRACKERS = ["tensorboard", "mlflow", "wandb", "trackio"]


@dataclass
class OutputConfig:
    dir: str = opt("runs/run", "run directory")
    overwrite: bool = opt(False, "allow writing into a non-empty run directory without resuming")
    tensorboard: bool = opt(
        True, "write TensorBoard events (false drops tensorboard from report_to)"
    )
    report_to: list[str] = opt(
        ["tensorboard"],
        "experiment trackers the metrics go to: tensorboard (RUN/tensorboard), mlflow "
        "(MLFLOW_TRACKING_URI, else RUN/mlruns), wandb (WANDB_MODE, files in RUN/wandb), "
        "trackio (local); each but tensorboard needs its pip extra; [] = metrics.jsonl only",
        choices=TRACKERS,
    )
    project: str = opt(
        "tunesmith", "mlflow experiment / wandb and trackio project the run is logged under"
    )
    plot: bool = opt(True, "write loss_curve.png")


# Preference losses and reference modes (training/preference/; a test keeps them equal).
PREFERENCE_LOSSES = ["dpo", "robust", "ipo", "hinge", "orpo", "simpo", "cpo", "kto"]


@dataclass
class PreferenceConfig:
    loss: str = opt(
        "dpo",
        "dpo (sigmoid; label_smoothing > 0: conservative DPO), robust (rDPO), ipo, hinge, kto "
        "(unpaired data), orpo, simpo, cpo (the last three need no reference model)",
        choices=PREFERENCE_LOSSES,
    )
    beta: float = opt(
        0.0,
        "the loss's beta (orpo: lambda); 0 = the paper's default (0.1; simpo 2.0)",
        min=0.0,
    )
    label_smoothing: float = opt(
        0.0, "dpo / simpo / cpo: label noise e (conservative DPO); robust: the flip rate e > 0",
        min=0.0, max=0.49,
    )  # fmt: skip
    gamma: float = opt(1.0, "simpo: target reward margin gamma", min=0.0)
    cpo_alpha: float = opt(1.0, "cpo: weight of the NLL term on the chosen answers", min=0.0)
    desirable_weight: float = opt(1.0, "kto: weight of desirable examples' losses", gt=0.0)
    undesirable_weight: float = opt(1.0, "kto: weight of undesirable examples' losses", gt=0.0)
    reference: str = opt(
        "auto",
        "reference log-probs: adapter (the base with the adapter disabled), cached (computed "
        "once into the run dir), copy (a frozen copy); auto = adapter for adapter methods, "
        "cached otherwise, none for orpo / simpo / cpo",
        choices=["auto", "adapter", "cached", "copy"],
    )


# RL with verifiable rewards (training/rl/; docs/rl.md).
GRPO_LOSSES = ["grpo", "dr_grpo", "dapo", "gspo"]


@dataclass
class GrpoConfig:
    group_size: int = opt(
        8, "completions sampled per prompt (the group its advantage is relative to)", min=2
    )
    prompts_per_step: int = opt(
        8, "prompts per rollout batch, all processes together (a multiple of the process count)",
        min=1,
    )  # fmt: skip
    max_completion_length: int = opt(64, "generated tokens per completion at most", min=1)
    temperature: float = opt(
        1.0, "rollout sampling temperature (the loss scores logits / T)", gt=0.0
    )
    top_p: float = opt(1.0, "rollout nucleus sampling", gt=0.0, max=1.0)
    top_k: int = opt(0, "rollout top-k sampling; 0 = off", min=0)
    num_iterations: int = opt(
        1, "policy updates per rollout batch (importance ratios against the rollout's log-probs)",
        min=1,
    )  # fmt: skip
    loss_type: str = opt(
        "grpo",
        "grpo (per-sequence mean), dr_grpo (no length / std normalisation), dapo (token-level "
        "mean; clip-higher with epsilon_high), gspo (sequence-level importance ratio)",
        choices=GRPO_LOSSES,
    )
    epsilon_low: float = opt(0.2, "clip the ratio below at 1 - epsilon_low", min=0.0, max=1.0)
    epsilon_high: float = opt(
        0.0, "clip the ratio above at 1 + epsilon_high; 0 = epsilon_low (DAPO uses 0.28)", min=0.0
    )
    beta: float = opt(
        0.0, "KL penalty against the reference (LoRA: the base with the adapter disabled; "
        "full: a frozen copy); 0 = no reference", min=0.0,
    )  # fmt: skip
    scale_rewards: str = opt(
        "auto", "advantage scaling: group std, batch std or none; auto = none for dr_grpo, "
        "else group", choices=["auto", "group", "batch", "none"],
    )  # fmt: skip
    drop_constant_groups: bool = opt(
        False, "dynamic sampling (DAPO): groups whose rewards are all equal carry no advantage "
        "and are left out of the update",
    )  # fmt: skip
    mask_truncated: bool = opt(
        False, "overlong filtering (DAPO): completions cut at max_completion_length train no token"
    )
    rewards: list[str] = opt(
        ["think_format", "accuracy"],
        "reward functions: built-ins (think_format, accuracy, length, repetition) or custom "
        "'path/to/file.py:function' / 'module:function'",
    )
    reward_weights: list[float] = opt([], "a weight per reward function; empty = 1 each")
    rollout_backend: str = opt(
        "engine", "who generates the rollouts: tunesmith's engine on the live weights (CPU or "
        "GPU), or vllm (CUDA only; not built yet: refused)", choices=["engine", "vllm"],
    )  # fmt: skip
    prefix_block_size: int = opt(
        2, "the engine's prefix-cache block: a group's prompt is prefilled once, its blocks "
        "loaded for the other completions", min=1,
    )  # fmt: skip
    eval_samples: int = opt(
        4, "completions (with their prompts and rewards) written to samples.log per evaluation",
        min=0,
    )  # fmt: skip


# Training objectives (training/recipes/): each reads top to bottom over the shared setup.
RECIPES = ["sft", "distill", "preference", "grpo"]


@dataclass
class Config:
    recipe: str = opt(
        "sft",
        "training objective: sft (cross-entropy on the labels), distill (a frozen teacher's "
        "distributions too; settings in distill), preference (DPO family on preference "
        "pairs; settings in preference) or grpo (RL with verifiable rewards, rollouts from the "
        "engine; settings in grpo); method.name chooses which weights train",
        choices=RECIPES,
    )
    model: ModelConfig = field(
        default_factory=ModelConfig, metadata={"help": "model and tokenizer"}
    )
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "training data"})
    method: MethodConfig = field(
        default_factory=MethodConfig, metadata={"help": "fine-tuning method"}
    )
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"help": "optimisation loop"})
    eval: EvalConfig = field(
        default_factory=EvalConfig, metadata={"help": "evaluation during training"}
    )
    distributed: DistributedConfig = field(
        default_factory=DistributedConfig, metadata={"help": "multi-process training"}
    )
    output: OutputConfig = field(default_factory=OutputConfig, metadata={"help": "run directory"})
    distill: DistillConfig = field(
        default_factory=DistillConfig, metadata={"help": "recipe=distill: the teacher"}
    )
    preference: PreferenceConfig = field(
        default_factory=PreferenceConfig, metadata={"help": "recipe=preference: the loss"}
    )
    grpo: GrpoConfig = field(
        default_factory=GrpoConfig, metadata={"help": "recipe=grpo: rollouts, rewards, the loss"}
    )
