"""From the data section of the config to encoded train / validation samples, with counts."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config, DataConfig
from tunesmith.data.load import LoadResult, load_conversations
from tunesmith.data.stream import JsonlReader
from tunesmith.data.types import Conversation
from tunesmith.errors import ConfigError
from tunesmith.tokenize.masking import encode_conversation
from tunesmith.tokenize.packing import Sample


@dataclass
class EncodeStats:
    records: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_too_long: int = 0
    dropped_no_target: int = 0
    rejected: int = 0
    tokens: int = 0
    target_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Splits:
    train: list[Sample]
    validation: list[Sample]
    val_conversations: list[Conversation]
    stats: dict[str, EncodeStats] = field(default_factory=dict)
    rejects: dict[str, str] = field(default_factory=dict)
    """File name in the run dir -> its jsonl text (data.on_error=skip), written by
    `write_rejects` once the run dir may be written."""


HOLDOUT = 0.1
"""Share of the user's own data held out when data.train is overridden (see validation_rule)."""


def override_keys(overrides: list[str] | None, kw_overrides: dict | None = None) -> set[str]:
    """Dotted keys set by `key=value` overrides and by `section__key=` keyword overrides."""
    keys = {text.partition("=")[0].strip() for text in overrides or []}
    return keys | {k.replace("__", ".") for k in kw_overrides or {}}


def validation_rule(cfg: Config, keys: set[str]) -> str | None:
    """Keep a preset's validation file from judging someone else's data.

    `keys`: the dotted keys the user overrode. When they set data.train but not
    data.validation and the config names validation files, those files belong to the
    config's own data: drop them and hold out data.val_split of the new data instead
    (HOLDOUT when the config holds none out and data.val_split was not set). Returns the
    notice to print, or None when the rule does not apply.
    """
    d = cfg.data
    if "data.train" not in keys or "data.validation" in keys or not d.validation:
        return None
    dropped = ", ".join(d.validation)
    d.validation = []
    if d.val_split == 0 and "data.val_split" not in keys:
        d.val_split = HOLDOUT
    held = (
        f"holding out {d.val_split:.0%} of data.train for validation"
        if d.val_split > 0
        else "no validation (data.val_split=0)"
    )
    return (
        f"note: data.train was overridden but data.validation was not: the config's "
        f"validation data ({dropped}) is not used; {held}. Set data.validation=[FILE] to "
        "choose it, or data.validation=[] data.val_split=0 for none"
    )


def encode_one(
    conv: Conversation, tok: PreTrainedTokenizerBase, cfg: DataConfig, stats: EncodeStats
) -> Sample | None:
    """One conversation as a sample, counted in `stats`; None when it is dropped."""
    stats.records += 1
    enc = encode_conversation(
        tok, conv, cfg.max_len, train_on_prompt=cfg.train_on_prompt, truncation=cfg.truncation
    )
    if enc is None:
        if cfg.truncation == "drop" and _too_long(tok, conv, cfg):
            stats.dropped_too_long += 1
        else:
            stats.dropped_no_target += 1
        return None
    sample = Sample.from_labels(enc.input_ids, enc.labels)
    stats.kept += 1
    stats.truncated += int(enc.truncated)
    stats.tokens += len(sample.input_ids)
    stats.target_tokens += sample.n_targets
    return sample


def encode_all(
    convs: list[Conversation], tok: PreTrainedTokenizerBase, cfg: DataConfig, stats: EncodeStats
) -> tuple[list[Sample], list[Conversation]]:
    """Encode conversations; return samples and the conversations they came from."""
    samples: list[Sample] = []
    kept: list[Conversation] = []
    for conv in convs:
        sample = encode_one(conv, tok, cfg, stats)
        if sample is not None:
            samples.append(sample)
            kept.append(conv)
    return samples, kept


def _too_long(tok: PreTrainedTokenizerBase, conv: Conversation, cfg: DataConfig) -> bool:
    enc = encode_conversation(tok, conv, 10**9, train_on_prompt=cfg.train_on_prompt)
    return enc is not None and len(enc.input_ids) > cfg.max_len


def write_rejects(splits: Splits, run_dir: Path) -> None:
    """Write the rejected records (data.on_error=skip) into the run dir."""
    for name, text in splits.rejects.items():
        (run_dir / name).write_text(text, encoding="utf-8")


def build_splits(cfg: DataConfig, tok: PreTrainedTokenizerBase, *, seed: int) -> Splits:
    """Read, check and encode the data; writes nothing (rejects are held in `Splits.rejects`)."""
    if not cfg.train:
        raise ConfigError("data.train: no training files given (expected a list of paths)")
    common = {
        "fmt": cfg.format,
        "on_error": cfg.on_error,
        "system_prompt": cfg.system_prompt,
        "max_record_chars": cfg.max_record_chars,
    }
    rejects = {"rejects.jsonl": io.StringIO(), "rejects_validation.jsonl": io.StringIO()}
    if cfg.streaming:  # data.train is read while training (training/streaming.py)
        JsonlReader(cfg.train)  # the files exist and are jsonl
        train = LoadResult()
    else:
        train = load_conversations(cfg.train, rejects_out=rejects["rejects.jsonl"], **common)
    train_convs = train.conversations
    if cfg.validation:
        val = load_conversations(
            cfg.validation, rejects_out=rejects["rejects_validation.jsonl"], **common
        )
        val_convs, val_rejected = val.conversations, val.rejected
    else:
        val_convs, val_rejected = [], 0
        if cfg.val_split > 0 and len(train_convs) > 1:
            order = list(range(len(train_convs)))
            random.Random(seed).shuffle(order)
            # at least one held out, and at least one left to train on
            n_val = min(len(order) - 1, max(1, int(round(cfg.val_split * len(order)))))
            held = set(order[:n_val])
            val_convs = [c for i, c in enumerate(train_convs) if i in held]
            train_convs = [c for i, c in enumerate(train_convs) if i not in held]
    stats = {
        "train": EncodeStats(rejected=train.rejected),
        "validation": EncodeStats(rejected=val_rejected),
    }
    train_samples, _ = encode_all(train_convs, tok, cfg, stats["train"])
    val_samples, val_kept = encode_all(val_convs, tok, cfg, stats["validation"])
    if not train_samples and not cfg.streaming:
        st = stats["train"]
        raise ConfigError(
            f"data.train: no usable training samples in {', '.join(cfg.train)}: "
            f"{st.records} records, {st.dropped_too_long} longer than data.max_len={cfg.max_len} "
            f"(data.truncation={cfg.truncation}), {st.dropped_no_target} without trained tokens, "
            f"{st.rejected} rejected"
        )
    kept_rejects = {n: f.getvalue() for n, f in rejects.items() if cfg.on_error == "skip"}
    if not cfg.validation:
        kept_rejects.pop("rejects_validation.jsonl", None)
    if cfg.streaming:  # the stream appends its rejects itself
        kept_rejects.pop("rejects.jsonl", None)
    return Splits(train_samples, val_samples, val_kept, stats, kept_rejects)
