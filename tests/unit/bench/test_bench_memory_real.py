"""`tunesmith bench memory --shape`: the per-layer extrapolation and the report's ratios on
known numbers, the real shapes' dimensions, and one end-to-end run of three arms on a tiny
shape (the real ones need gigabytes: the lead runs them)."""

from __future__ import annotations

import pytest

from tunesmith.bench import memory_real
from tunesmith.bench.memory_shapes import SHAPES, Shape, extrapolate, model_config


def test_extrapolation_is_linear_in_depth() -> None:
    assert extrapolate({1: 100.0, 2: 150.0}, 28) == (50.0, 150.0 + 26 * 50.0)
    assert extrapolate({2: 300.0, 4: 500.0}, 27) == (100.0, 500.0 + 23 * 100.0)
    assert extrapolate({2: 300.0}, 28) is None


def test_real_shapes_have_the_real_dimensions() -> None:
    qwen = model_config(SHAPES["qwen-1.5b"], 2, 4096)
    assert (qwen.hidden_size, qwen.intermediate_size, qwen.vocab_size) == (1536, 8960, 151_936)
    assert (qwen.num_attention_heads, qwen.num_key_value_heads) == (12, 2)
    assert qwen.num_hidden_layers == 2 and SHAPES["qwen-1.5b"].full_layers == 28
    lite = model_config(SHAPES["v2-lite"], 2, 4096)
    assert (lite.hidden_size, lite.vocab_size, lite.kv_lora_rank, lite.q_lora_rank) == (
        2048,
        102_400,
        512,
        None,
    )
    assert (lite.n_routed_experts, lite.num_experts_per_tok, lite.moe_intermediate_size) == (
        64,
        6,
        1408,
    )


def _rows() -> list[dict]:
    rows = []
    for layers, load in ((1, 1000.0), (2, 1100.0)):
        rows.append({"arm": "load only", "seq": 4096, "layers": layers, "peak_rss_mb": load})
        for arm, delta in (
            ("Trainer + PEFT LoRA", 5000.0 + layers * 400),
            ("tunesmith lora", 4000.0 + layers * 300),
            ("tunesmith lora + chunked", 1000.0 + layers * 300),
        ):
            rows.append(
                {
                    "arm": arm,
                    "seq": 4096,
                    "layers": layers,
                    "peak_rss_mb": load + delta,
                    "trainable_params": 7,
                }
            )
    return rows


def test_summary_ratios_and_chunked_saving() -> None:
    shape = Shape("t", "T", "qwen2", 28, {"vocab_size": 1000})
    arms = {e["arm"]: e for e in memory_real.summarize(shape, _rows())}
    chunked = arms["tunesmith lora + chunked"]
    assert chunked["delta_mb"] == {1: 1300.0, 2: 1600.0}
    assert chunked["per_layer_mb"] == 300.0
    assert chunked["full_depth_delta_mb"] == 1600.0 + 26 * 300.0
    assert chunked["vs_trainer"] == pytest.approx(1600.0 / 5800.0)
    assert chunked["vs_trainer_full_depth"] == pytest.approx(9400.0 / (5800.0 + 26 * 400.0))
    assert chunked["chunked_saving_mb"] == 3000.0
    assert chunked["logits_fp32_mb"] == 4096 * 1000 * 4 / 2**20


def test_three_arms_end_to_end_on_a_tiny_shape(tmp_path, monkeypatch) -> None:
    tiny = Shape(
        "tiny",
        "a tiny Qwen2",
        "qwen2",
        4,
        {"vocab_size": 4096, "hidden_size": 64, "intermediate_size": 128,
         "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": False},
    )  # fmt: skip
    monkeypatch.setitem(memory_real.SHAPES, "tiny", tiny)
    report = memory_real.run_bench(
        str(tmp_path / "mem.json"),
        shape="tiny",
        seqs=(128,),
        layers=(1,),
        arms=("Trainer + PEFT LoRA", "tunesmith lora + chunked"),
        threads=1,
    )
    rows = {r["arm"]: r for r in report["rows"]}
    assert list(rows) == ["load only", "Trainer + PEFT LoRA", "tunesmith lora + chunked"]
    # r=16 on all 7 linears of one layer: the same adapter on both sides
    lora = 16 * (64 + 64) + 2 * 16 * (64 + 32) + 16 * (64 + 64) + 2 * 16 * (64 + 128)
    lora += 16 * (128 + 64)
    assert rows["Trainer + PEFT LoRA"]["trainable_params"] == lora
    assert rows["tunesmith lora + chunked"]["trainable_params"] == lora
    assert all(r["peak_rss_mb"] > 0 for r in report["rows"])


def test_bad_arm_and_shape_names() -> None:
    with pytest.raises(SystemExit, match="--arms"):
        memory_real.run_bench(shape="qwen-1.5b", arms=("nope",))
    with pytest.raises(SystemExit, match="--shape"):
        memory_real.run_bench(shape="qwen-72b")
