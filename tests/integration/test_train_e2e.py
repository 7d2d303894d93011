"""End-to-end training on tiny models: pinned losses, run directory, outputs in HF formats."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.config.load import load_config
from tunesmith.models.load import load_trained
from tunesmith.tokenize.templates import load_tokenizer

# Losses of the first six optimizer steps (seed 0, fp32, CPU). A change here means the
# data order, masking, packing, loss or optimizer changed: check why before re-pinning.
PINNED = {
    # all-linear on DeepSeek-V3: MLA projections, dense + shared MLP and routed experts
    ("tiny-deepseek-v3", "lora"): [8.50881, 7.79924, 7.28703, 6.90756, 6.59042, 6.38712],
    ("tiny-qwen2", "full"): [8.28639, 7.66541, 7.3438, 7.12796, 6.88027, 6.64362],
}


def losses(run_dir) -> list[float]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows]


@pytest.fixture(scope="module")
def lora_run(chat_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "run"
    cfg = tiny_config("tiny-deepseek-v3", "lora", chat_files["train"], out)
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    cfg["output"].update(tensorboard=True, plot=True)
    return train(cfg)


@pytest.fixture(scope="module")
def full_run(chat_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    return train(tiny_config("tiny-qwen2", "full", chat_files["train"], out, lr=1e-3))


def test_lora_losses_pinned(lora_run) -> None:
    assert losses(lora_run) == pytest.approx(PINNED[("tiny-deepseek-v3", "lora")], abs=2e-4)


def test_full_losses_pinned(full_run) -> None:
    assert losses(full_run) == pytest.approx(PINNED[("tiny-qwen2", "full")], abs=2e-4)


def test_run_directory(lora_run) -> None:
    names = {p.name for p in lora_run.iterdir()}
    assert {
        "config.yaml",
        "metrics.jsonl",
        "loss_curve.png",
        "tensorboard",
        "adapter",
        "base",
    } <= names
    assert {"train_summary.json"} <= names
    saved = load_config(lora_run / "config.yaml")
    assert saved.method.lora.r == 8 and saved.train.max_steps == 6
    assert yaml.safe_load((lora_run / "config.yaml").read_text())["model"]["name_or_path"] == (
        "tiny-deepseek-v3"
    )
    rows = [json.loads(x) for x in (lora_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "tokens"} <= rows[0].keys()
    assert "eval_loss" in rows[-1]
    assert any((lora_run / "tensorboard").iterdir())
    assert (lora_run / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((lora_run / "train_summary.json").read_text())
    assert summary["steps"] == 6 and 0 < summary["trainable_params"] < summary["total_params"]


def test_adapter_loads_in_plain_peft(lora_run) -> None:
    """Plain transformers + peft (default attention) give tunesmith's logits."""
    cfg = json.loads((lora_run / "adapter" / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(
        cfg["base_model_name_or_path"], local_files_only=True
    )
    plain = PeftModel.from_pretrained(base, lora_run / "adapter").eval()
    ours, tok = load_trained(lora_run)
    ids = torch.tensor([tok("Reverse the order of these words: cat dog owl")["input_ids"]])
    with torch.no_grad():
        want = ours.eval()(ids).logits
        got = plain(ids).logits
        bare = plain.get_base_model()
        with plain.disable_adapter():
            before = bare(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert (got - before).abs().max() > 1e-3  # the adapter changed something


def test_full_model_loads_in_plain_transformers(full_run) -> None:
    plain = AutoModelForCausalLM.from_pretrained(full_run / "model", local_files_only=True).eval()
    ours, tok = load_trained(full_run)
    plain_tok = AutoTokenizer.from_pretrained(full_run / "model")
    text = "Reverse the order of these words: cat dog owl"
    assert (
        plain_tok(text)["input_ids"]
        == tok(text)["input_ids"]
        == load_tokenizer()(text)["input_ids"]
    )
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(plain(ids).logits, ours.eval()(ids).logits, atol=1e-5)
