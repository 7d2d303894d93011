"""The distillation objective (recipe=distill, training/recipes/distill.py): train the model
section (the student, with any method.name) on a frozen teacher's next-token distributions as
well as on the labels.

    recipe: distill
    method: {name: full}
    distill: {teacher: runs/teacher, alpha: 0.5, temperature: 2.0}

Per target token t (the positions the cross-entropy uses; prompt and padding are -100):

    loss_t = alpha * T^2 * KL(softmax(z_teacher / T) || softmax(z_student / T))
             + (1 - alpha) * CE(z_student, label_t)

Both terms are sums over the micro-batch's target tokens, divided by the target count of
the whole accumulation window (all ranks) in training/loss.py, so accumulation, packing and
distributed runs weigh every target token alike, exactly as the plain loss does. The T^2
factor keeps the soft term's gradient on the scale of the hard one (Hinton et al., 2015).

The teacher runs in eval mode under torch.no_grad, with requires_grad off, on this rank's
device, outside the DDP / DeepSpeed / FSDP wrapper (each process holds a full copy). It
reads the same batch as the student: packed rows keep their restarting position ids, so
with the tunesmith_varlen kernel no teacher token attends across samples either.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config, ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.tokenize.packing import IGNORE
from tunesmith.training.loss import Terms, count_targets

STUDENT_METHODS = ("full", "lora", "dora", "freeze")


def check_distill(cfg: Config) -> None:
    """Settings that need no weights (ConfigError)."""
    d = cfg.distill
    if cfg.recipe != "distill":
        if d.teacher:
            raise ConfigError(
                f"distill.teacher is set but recipe is {cfg.recipe}; set recipe=distill to "
                "distil, or remove the teacher"
            )
        return
    if not d.teacher:
        raise ConfigError(
            "distill.teacher: recipe=distill needs a teacher (a model directory, "
            "a tunesmith run directory, or tiny-deepseek-v3-base)"
        )
    if cfg.method.name not in STUDENT_METHODS:
        raise ConfigError(
            f"method.name: recipe=distill trains the student with {', '.join(STUDENT_METHODS)}; "
            f"got {cfg.method.name}"
        )


def _load(name: str, cfg: ModelConfig) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    from tunesmith.models.load import load_model_and_tokenizer, load_trained, resolve_model_dir
    from tunesmith.models.registry import PRESETS

    path = Path(name).expanduser()
    run_like = path.is_dir() and not (path / "config.json").is_file()
    if run_like and any((path / p).exists() for p in ("adapter", "model", "adapter_config.json")):
        model, tok = load_trained(path, cfg.dtype, cfg.attn_implementation)
        if hasattr(model, "merge_and_unload") and model.peft_config["default"].peft_type == "LORA":
            model = model.merge_and_unload()  # one plain forward per step
        return model, tok
    if name in PRESETS and PRESETS[name].path() is None:
        raise ConfigError(
            f"distill.teacher: '{name}' is a random-init preset; a teacher needs trained "
            "weights (a model directory, a tunesmith run directory, or tiny-deepseek-v3-base)"
        )
    resolve_model_dir(name)
    spec = dataclasses.replace(cfg, name_or_path=name, tokenizer=None)
    return load_model_and_tokenizer(spec)


def load_teacher(
    cfg: Config, tok: PreTrainedTokenizerBase
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """The frozen teacher named by `distill.teacher`, in the student's dtype and
    attention kernel; its tokenizer must be the student's."""
    name = cfg.distill.teacher
    try:
        teacher, teacher_tok = _load(name, cfg.model)
    except ConfigError as e:
        text = str(e).replace("model.name_or_path", "distill.teacher", 1)
        raise ConfigError(text.replace("model.tokenizer", "distill.teacher", 1)) from None
    check_same_vocab(name, teacher_tok, tok)
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher, teacher_tok


def check_same_vocab(
    name: str, teacher: PreTrainedTokenizerBase, student: PreTrainedTokenizerBase
) -> None:
    """Distributions are compared id by id: both tokenizers must map every token alike."""
    a, b = teacher.get_vocab(), student.get_vocab()
    if a == b:
        return
    differ = sorted(set(a.items()) ^ set(b.items()), key=lambda kv: (kv[1], kv[0]))
    token = differ[0][0]
    raise ConfigError(
        f"distill.teacher: vocab mismatch: the teacher '{name}' has {len(a)} tokens, the "
        f"student {len(b)}, and token {token!r} is id {a.get(token)} in the teacher but "
        f"{b.get(token)} in the student; distillation needs the same tokenizer for both"
    )


class Distiller:
    """The distillation objective (see the module docstring): an `Objective` of
    training/loss.py whose reported `loss` stays the cross-entropy, plus `kd_loss`."""

    def __init__(self, teacher: torch.nn.Module, alpha: float, temperature: float, vocab: int):
        self.teacher, self.alpha, self.temperature, self.vocab = teacher, alpha, temperature, vocab
        self.impl, self.chunk = "plain", 0  # train.loss_impl resolved, loss_chunk_tokens

    @classmethod
    def from_config(cls, cfg: Config, tok: PreTrainedTokenizerBase) -> Distiller:
        teacher, _ = load_teacher(cfg, tok)
        d = cfg.distill
        return cls(teacher, d.alpha, d.temperature, len(tok))

    def to(self, device: torch.device) -> Distiller:
        self.teacher.to(device)
        return self

    def kd_sum(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """T^2 x sum over target positions of KL(teacher || student) at temperature T."""
        device = logits.device
        keep = batch["targets"].to(device) != IGNORE
        inputs = {k: v.to(device) for k, v in batch.items() if k != "targets"}
        with torch.no_grad():
            teacher_logits = self.teacher(**inputs, use_cache=False).logits[keep]
        student_logits = logits[keep]
        if teacher_logits.shape[-1] != student_logits.shape[-1]:  # padded embedding rows
            teacher_logits = teacher_logits[..., : self.vocab]
            student_logits = student_logits[..., : self.vocab]
        t = self.temperature
        kl = F.kl_div(
            F.log_softmax(student_logits.float() / t, dim=-1),
            F.log_softmax(teacher_logits.float() / t, dim=-1),
            log_target=True,
            reduction="sum",
        )
        return kl * t * t

    def objective(self, ce_sum: torch.Tensor, kd_sum: torch.Tensor) -> torch.Tensor:
        return self.alpha * kd_sum + (1.0 - self.alpha) * ce_sum

    def weight(self, batch: dict[str, torch.Tensor]) -> int:
        return count_targets(batch)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Terms:
        from tunesmith.training.loss_head import loss_sums

        ce, kd = loss_sums(model, batch, self.impl, chunk=self.chunk, distill=self)
        return Terms(ce, self.objective(ce, kd), {"kd_loss": kd})


def describe(cfg: Config) -> dict:
    d = cfg.distill
    return {
        "teacher": d.teacher,
        "student": cfg.method.name,
        "alpha": d.alpha,
        "temperature": d.temperature,
    }
