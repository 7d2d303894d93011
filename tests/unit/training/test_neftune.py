"""NEFTune (train.neftune_alpha): the paper's noise on training forwards only, the same as
transformers' hook, and nothing of it in a saved adapter."""

from __future__ import annotations

import json
import math

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
from transformers.integrations.neftune import neftune_post_forward_hook

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.config.schema import EvalConfig, ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.training.data import build_splits
from tunesmith.training.evaluate import evaluate
from tunesmith.training.neftune import NEFTune, neftune_noise


def tiny_model() -> torch.nn.Module:
    model, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    return model


def test_noise_equals_transformers_hook() -> None:
    """Library oracle: transformers' neftune_post_forward_hook on the same draw."""
    embeds = torch.randn(2, 11, 64)
    emb = torch.nn.Embedding(4, 64)  # only its .training and alpha matter to the hook
    emb.neftune_noise_alpha = 5.0
    torch.manual_seed(3)
    want = neftune_post_forward_hook(emb, None, embeds)
    torch.manual_seed(3)
    got = neftune_noise(embeds, 5.0)
    assert torch.equal(got, want)


def test_training_embeddings_get_noise_of_the_paper_scale() -> None:
    model = tiny_model().train()
    ids = torch.randint(0, 100, (2, 50))
    emb = model.get_input_embeddings()
    clean = emb(ids).detach()
    hook = NEFTune(model, alpha=10.0)
    noisy = emb(ids).detach()
    d = clean.size(-1)
    bound = 10.0 / math.sqrt(50 * d)  # alpha / sqrt(L * d)
    delta = (noisy - clean).abs()
    assert delta.max() <= bound * (1 + 1e-5)
    assert delta.max() > 0.99 * bound  # uniform over [-bound, bound]: the edge is reached
    assert delta.mean().item() == pytest.approx(bound / 2, rel=0.05)  # E|U(-b, b)| = b / 2
    hook.remove()
    assert torch.equal(emb(ids), clean)
    assert not emb._forward_hooks


def test_no_noise_in_eval_mode() -> None:
    model = tiny_model()
    ids = torch.randint(0, 100, (1, 20))
    NEFTune(model, alpha=10.0)
    model.eval()
    emb = model.get_input_embeddings()
    assert torch.equal(emb(ids), emb.weight[ids])
    model.train()
    assert not torch.equal(emb(ids), emb.weight[ids])


def _cfg(chat_files, out, alpha: float) -> dict:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], out, max_steps=3, seed=0)
    cfg["train"]["neftune_alpha"] = alpha
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    return cfg


def _losses(run) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_run_noises_training_but_not_eval_or_the_saved_adapter(
    chat_files, tmp_path
) -> None:
    plain = _losses(train(_cfg(chat_files, tmp_path / "plain", 0.0)))
    noisy_run = train(_cfg(chat_files, tmp_path / "noisy", 50.0))
    noisy = _losses(noisy_run)
    # step 1 trains the same weights on noised embeddings: a different loss
    assert abs(noisy[0]["loss"] - plain[0]["loss"]) > 1e-3
    # the final eval ran in eval mode, without noise: the saved adapter, reloaded with plain
    # peft (no hook, nothing of NEFTune in its files), gives the same eval loss
    adapter = noisy_run / "adapter"
    assert "neftune" not in (adapter / "adapter_config.json").read_text().lower()
    base = AutoModelForCausalLM.from_pretrained(noisy_run / "base")
    model = PeftModel.from_pretrained(base, adapter)
    _, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    cfg = _cfg(chat_files, tmp_path / "x", 0.0)
    from tunesmith.config.load import config_from_dict

    splits = build_splits(config_from_dict(cfg).data, tok, seed=0)
    got = evaluate(model, tok, splits.validation, splits.val_conversations, EvalConfig(), 512)
    assert got["eval_loss"] == pytest.approx(noisy[-1]["eval_loss"], abs=1e-5)
    # and its forward in training mode equals eval mode: no hook came along
    ids = torch.tensor([splits.validation[0].input_ids])
    model.eval()
    want = model(input_ids=ids).logits
    model.train()
    assert torch.equal(model(input_ids=ids).logits, want)
    assert not model.get_input_embeddings()._forward_hooks


def test_refused_for_preference(tmp_path) -> None:
    from tunesmith.config.load import config_from_dict
    from tunesmith.training.setup import check

    cfg = config_from_dict({"recipe": "preference", "train": {"neftune_alpha": 5.0}})
    with pytest.raises(ConfigError, match="train.neftune_alpha: recipe preference"):
        check(cfg)
