"""Training runs with the issue-20 options: bf16 (autocast, and pure bf16 weights with fp32
masters) tracks fp32 over a short run; a pure-bf16 run resumes exactly; the chunked loss
trains like the plain one; activation offloading is refused on CPU."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.errors import ConfigError

STEPS = 6


def losses(run) -> dict[int, float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows}


def config(chat_files, out, method="full", model="tiny-qwen2", **train_kw) -> dict:
    return tiny_config(model, method, chat_files["train"], out, max_steps=STEPS, **train_kw)


def test_bf16_tracks_fp32_over_a_short_run(chat_files, tmp_path) -> None:
    """Tolerance: 0.05 nats per step (bf16 keeps 8 mantissa bits; the logits' rounding moves
    a ~8-nat loss by ~0.01 here) and the same direction of travel."""
    fp32 = losses(train(config(chat_files, tmp_path / "fp32")))
    mixed = losses(train(config(chat_files, tmp_path / "bf16", precision="bf16")))
    pure = losses(train(config(chat_files, tmp_path / "pure", precision="bf16", pure_bf16=True)))
    for run in (mixed, pure):
        assert list(run) == list(fp32)
        for step in fp32:
            assert run[step] == pytest.approx(fp32[step], abs=0.05), (step, run, fp32)
        assert run[STEPS] < run[1] - 0.5  # it learns, as fp32 does
        assert run != fp32  # really computed in bf16
    assert fp32[STEPS] < fp32[1] - 0.5


def test_pure_bf16_resume_is_exact(chat_files, tmp_path) -> None:
    kw = {"precision": "bf16", "pure_bf16": True, "save_every": 3}
    straight = train(config(chat_files, tmp_path / "a", **kw))
    ckpt = straight / "checkpoints" / "step-000003"
    resumed = train(config(chat_files, tmp_path / "b", resume=str(ckpt), **kw))
    want, got = losses(straight), losses(resumed)
    assert sorted(got) == [4, 5, 6]
    assert all(got[s] == want[s] for s in got), (got, want)
    a = load_file(straight / "checkpoints" / "step-000006" / "optimizer.safetensors")
    b = load_file(resumed / "checkpoints" / "step-000006" / "optimizer.safetensors")
    assert any(k.endswith(".master") for k in a) and a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)  # fp32 masters and moments alike


def test_chunked_loss_run_matches_plain(chat_files, tmp_path) -> None:
    kw = {"model": "tiny-deepseek-v3", "method": "lora"}
    plain = losses(train(config(chat_files, tmp_path / "p", loss_impl="plain", **kw)))
    chunked = losses(
        train(config(chat_files, tmp_path / "c", loss_impl="chunked", loss_chunk_tokens=64, **kw))
    )
    assert chunked == pytest.approx(plain, abs=1e-4)


def test_offload_activations_refused_on_cpu(chat_files, tmp_path) -> None:
    cfg = config(chat_files, tmp_path / "o", gradient_checkpointing=True, offload_activations=True)
    with pytest.raises(ConfigError, match="train.offload_activations: .* needs a CUDA device"):
        train(cfg)
    assert not (tmp_path / "o").exists()  # refused before anything was written
