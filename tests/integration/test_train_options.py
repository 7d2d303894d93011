"""Loop options: gradient checkpointing, bf16 on CPU, early stopping, generative eval, unpacked."""

from __future__ import annotations

import json

import pytest
import yaml

import tunesmith
from helpers import tiny_config
from tunesmith.api import train
from tunesmith.errors import ConfigError


def records(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def run(chat_files, tmp_path, name: str, model: str = "tiny-qwen2", method: str = "lora", **kw):
    cfg = tiny_config(model, method, chat_files["train"], tmp_path / name, max_steps=3)
    for dotted, value in kw.items():
        section, key = dotted.split("__")
        cfg.setdefault(section, {})[key] = value
    return records(train(cfg))


def test_gradient_checkpointing_same_losses(chat_files, tmp_path) -> None:
    plain = run(chat_files, tmp_path, "a", model="tiny-deepseek-v3")
    ckpt = run(
        chat_files, tmp_path, "b", model="tiny-deepseek-v3", train__gradient_checkpointing=True
    )
    assert [r["loss"] for r in ckpt] == pytest.approx([r["loss"] for r in plain], abs=1e-5)


def test_bf16_on_cpu_tracks_fp32(chat_files, tmp_path) -> None:
    fp32 = run(chat_files, tmp_path, "a")
    bf16 = run(chat_files, tmp_path, "b", train__precision="bf16")
    assert bf16[0]["loss"] == pytest.approx(fp32[0]["loss"], abs=0.05)
    assert bf16[0]["loss"] != fp32[0]["loss"]  # really computed in bf16


def test_early_stopping_stops(chat_files, tmp_path) -> None:
    rows = run(
        chat_files,
        tmp_path,
        "a",
        method="full",
        data__validation=[str(chat_files["validation"])],
        train__max_steps=20,
        train__lr=3.0,
        train__eval_every=1,
        train__early_stopping_patience=2,
    )
    summary = json.loads((tmp_path / "a" / "train_summary.json").read_text())
    assert summary["stopped_early"] is True
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r]
    best = evals.index(min(evals))
    assert len(evals) == best + 3 and summary["steps"] == len(evals) < 20


def test_generative_eval_during_training(chat_files, tmp_path) -> None:
    rows = run(
        chat_files,
        tmp_path,
        "a",
        data__validation=[str(chat_files["validation"])],
        eval__metrics=["loss", "em"],
        eval__max_new_tokens=8,
        eval__max_samples=4,
        train__eval_every=2,
        train__max_steps=2,
    )
    assert rows[-1]["step"] == 2 and rows[-1]["eval_em"] == 0.0  # 2 steps from random init
    assert rows[-1]["eval_loss"] > 5


def test_unpacked_batches_count_real_tokens(chat_files, tmp_path) -> None:
    rows = run(
        chat_files, tmp_path, "a", data__packing=False, train__batch_size=4, train__max_steps=1
    )
    summary = json.loads((tmp_path / "a" / "train_summary.json").read_text())
    real = summary["data"]["train"]
    assert rows[0]["tokens"] < 4 * 128 and rows[0]["loss"] > 5
    assert real  # data stats recorded


def test_python_api_keyword_overrides(chat_files, tmp_path) -> None:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "x")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_dir = tunesmith.train(str(path), train__max_steps=1, method__lora__r=2)
    assert run_dir == tmp_path / "x"
    assert [r["step"] for r in records(run_dir)] == [1]
    assert json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["r"] == 2


def test_truncation_counts_reported(chat_files, tmp_path, capsys) -> None:
    run(chat_files, tmp_path, "a", data__max_len=20, data__truncation="right", train__max_steps=1)
    out = capsys.readouterr().out
    assert "data train: 64 records -> 64 samples (64 truncated at data.max_len=20, " in out
    with pytest.raises(ConfigError) as err:
        run(chat_files, tmp_path, "b", data__max_len=20, data__truncation="drop")
    assert str(err.value) == (
        f"data.train: no usable training samples in {chat_files['train']}: 64 records, 64 longer "
        "than data.max_len=20 (data.truncation=drop), 0 without trained tokens, 0 rejected"
    )


def test_trainable_tokens_train_only_special_rows(chat_files, tmp_path) -> None:
    from safetensors.torch import load_file

    run(
        chat_files,
        tmp_path,
        "a",
        model="tiny-deepseek-v3",
        method__lora={"r": 4, "alpha": 8, "dropout": 0.0, "trainable_tokens": ["all-special"]},
    )
    weights = load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors")
    rows = {k: v.shape for k, v in weights.items() if "trainable_tokens" in k}
    assert rows == {
        "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta": (7, 256),
        "base_model.model.lm_head.token_adapter.trainable_tokens_delta": (7, 256),
    }
