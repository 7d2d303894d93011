"""The engine-alone arms of `tunesmith bench serve` on their smallest setting."""

from __future__ import annotations

import pytest
import torch

from tunesmith.bench.serve_engine import (
    kv_bytes_report,
    llama_cpp_stream,
    shared_prefix,
    single_stream,
)
from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.models.tiny import tiny_deepseek_v3_config, tiny_llama_config


def test_kv_bytes_report_for_mla_only() -> None:
    report = kv_bytes_report(tiny_deepseek_v3_config())
    assert report["this model"] == {"latent": 640, "expanded": 2560, "ratio": 4.0}
    assert report["DeepSeek-V3"] == {"latent": 70_272, "expanded": 4_997_120, "ratio": 71.1}
    assert report["DeepSeek-V2-Lite"] == {"latent": 31_104, "expanded": 276_480, "ratio": 8.9}
    assert kv_bytes_report(tiny_llama_config()) is None


def test_single_stream_and_shared_prefix_arms_run() -> None:
    torch.set_num_threads(1)
    model, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    pool = [[5, 6, 7, 8], [9, 10, 11]]
    single = single_stream(model.eval(), pool[0], 3, ())
    assert set(single) == {"hf forward", "own forward"}
    assert all(r["tokens_per_s"] > 0 for r in single.values())
    sp = shared_prefix(model, pool, 3, prefix_len=40, prompts=2, samples=3)
    assert (sp["requests"], sp["prompt_tokens"]) == (6, 6 * 40 + 3 * 4 + 3 * 3)
    assert sp["off"]["prefill_tokens_computed"] == sp["prompt_tokens"]
    assert sp["on"]["prefill_tokens_computed"] <= sp["prompt_tokens"]
    assert sp["same_outputs"] == 6


def test_llama_cpp_arm_says_why_it_did_not_run(monkeypatch) -> None:  # noqa: ANN001
    from tunesmith.compress import llama_cpp

    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    monkeypatch.setattr(llama_cpp, "llama_class", lambda: None)
    assert llama_cpp_stream(model, tok, [5, 6, 7], 3) == {
        "error": "not run: llama-cpp-python is not installed (pip install llama-cpp-python)"
    }


def test_llama_cpp_arm_decodes_the_engines_greedy_tokens() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional arm)")
    torch.set_num_threads(1)
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-llama"), seed=0)
    got = llama_cpp_stream(model.eval(), tok, [5, 6, 7, 8], 6)
    assert got["tokens_per_s"] > 0
    assert got["same_prefix_tokens"] == 6  # f16 weights of a random model: same greedy tokens
