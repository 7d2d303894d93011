"""The baseline arm: the script a typical user writes today with transformers + PEFT.

`transformers.Trainer`, a PEFT LoRA model from `get_peft_model`, samples padded to the longest
of each batch by `DataCollatorForSeq2Seq` (labels padded with -100, prompt tokens masked), no
packing, random sampling (no group-by-length). Inputs and masks come from tunesmith's encoder,
so both arms train on exactly the same ids and labels.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerBase, Trainer, TrainingArguments
from transformers.utils import logging as hf_logging

from tunesmith.bench.heldout import encode_file
from tunesmith.bench.spec import ArmSpec
from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer


class CountingCollator:
    """Pad-to-longest collator that also counts real and padded tokens of what it hands out."""

    def __init__(self, tok: PreTrainedTokenizerBase) -> None:
        self.inner = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
        self.real_tokens = 0
        self.padded_tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.inner(features)
        self.real_tokens += int(batch["attention_mask"].sum())
        self.padded_tokens += int(batch["input_ids"].numel())
        return batch


def train_baseline(spec: ArmSpec) -> tuple[torch.nn.Module, PreTrainedTokenizerBase, dict]:
    """Train one epoch the Trainer + PEFT way; return the model, tokenizer and raw numbers."""
    hf_logging.set_verbosity_error()
    # The attention a user gets from `from_pretrained` by default (SDPA with a padding mask).
    base, tok = load_model_and_tokenizer(
        ModelConfig(name_or_path=spec.model, attn_implementation="sdpa"), seed=spec.seed
    )
    lora = LoraConfig(
        r=spec.lora_r,
        lora_alpha=spec.lora_alpha,
        lora_dropout=spec.lora_dropout,
        target_modules=list(spec.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, lora) if spec.method == "lora" else base
    train_set = [
        {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}
        for e in encode_file(spec.train_file, tok, spec.max_len)
    ]
    args = TrainingArguments(
        output_dir=str(Path(spec.work_dir) / "baseline"),
        per_device_train_batch_size=spec.batch_size,
        num_train_epochs=1,
        learning_rate=spec.lr,
        lr_scheduler_type=spec.scheduler,
        warmup_steps=spec.warmup_steps,
        weight_decay=0.0,
        max_grad_norm=spec.max_grad_norm,
        seed=spec.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        bf16=spec.precision == "bf16",
    )
    collator = CountingCollator(tok)
    trainer = Trainer(model=model, args=args, train_dataset=train_set, data_collator=collator)
    started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - started
    trainer.save_model(str(Path(spec.work_dir) / "baseline" / "adapter"))
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return (
        model,
        tok,
        {
            "train_seconds": train_seconds,
            "steps": trainer.state.global_step,
            "real_tokens": collator.real_tokens,
            "padded_tokens": collator.padded_tokens,
            "step_losses": losses,
        },
    )
