"""GGUF files written by tunesmith read back with gguf.GGUFReader: metadata llama.cpp needs,
the tokenizer, every tensor's name and shape, and f16 data equal to the model's weights."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from helpers import gguf_sources
from tunesmith.compress.gguf_arch import _unrotate
from tunesmith.compress.gguf_export import export_gguf, tensor_type
from tunesmith.compress.gguf_vocab import pre_tokenizer_name
from tunesmith.errors import ConfigError
from tunesmith.tokenize.templates import CHAT_TEMPLATE

BASE = "tiny-deepseek-v3-base"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    return gguf_sources(tmp_path_factory.mktemp("gguf-src"))


def field(reader: gguf.GGUFReader, key: str):  # noqa: ANN201
    return reader.fields[key].contents()


def hf_weights(path: str) -> tuple[object, dict[str, torch.Tensor]]:
    from tunesmith.compress.report import source_model_dir

    model = AutoModelForCausalLM.from_pretrained(
        source_model_dir(path, "convert"), dtype=torch.float32
    )
    return model.config, model.state_dict()


def test_llama_f16_metadata_tokenizer_and_tensors(models, tmp_path):
    report = export_gguf(models["llama"], tmp_path / "m.gguf", outtype="f16")
    reader = gguf.GGUFReader(tmp_path / "m.gguf")
    config, weights = hf_weights(models["llama"])
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_F16
    assert field(reader, "llama.block_count") == config.num_hidden_layers == 2
    assert field(reader, "llama.embedding_length") == 128
    assert field(reader, "llama.attention.head_count") == 4
    assert field(reader, "llama.attention.head_count_kv") == 2
    assert field(reader, "llama.rope.dimension_count") == 32
    assert field(reader, "tokenizer.ggml.model") == "gpt2"
    assert field(reader, "tokenizer.ggml.pre") == "starcoder"
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    assert (
        len(tokens) == 4096 and tokens[3] == "<｜User｜>" and tokens[1] == "<｜end▁of▁sentence｜>"
    )
    assert types[:7] == [3, 3, 3, 4, 4, 4, 4]  # bos/eos/pad CONTROL; roles, think USER_DEFINED
    assert len(field(reader, "tokenizer.ggml.merges")) == 3833
    assert field(reader, "tokenizer.ggml.bos_token_id") == 0
    assert field(reader, "tokenizer.ggml.eos_token_id") == 1
    assert field(reader, "tokenizer.ggml.add_bos_token") is True
    assert field(reader, "tokenizer.chat_template") == CHAT_TEMPLATE

    got = {t.name: t for t in reader.tensors}
    assert len(got) == report["tensors"] == 3 + 9 * 2  # embeddings, final norm, head; layers
    assert not config.tie_word_embeddings and "output.weight" in got
    q = got["blk.1.attn_q.weight"]
    assert q.tensor_type == gguf.GGMLQuantizationType.F16 and q.data.shape == (128, 128)
    want = _unrotate(weights["model.layers.1.self_attn.q_proj.weight"], 4).half().numpy()
    assert np.array_equal(q.data, want)
    k = _unrotate(weights["model.layers.1.self_attn.k_proj.weight"], 2).half().numpy()
    assert np.array_equal(got["blk.1.attn_k.weight"].data, k)
    emb = weights["model.embed_tokens.weight"].half().numpy()
    assert np.array_equal(got["token_embd.weight"].data, emb)
    norm = got["blk.0.attn_norm.weight"]
    assert norm.tensor_type == gguf.GGMLQuantizationType.F32
    assert np.array_equal(norm.data, weights["model.layers.0.input_layernorm.weight"].numpy())


def test_unrotate_turns_rotate_half_rope_into_interleaved_rope():
    torch.manual_seed(0)
    dim, pos = 8, 5
    x = torch.randn(dim)
    theta = pos * 10000.0 ** (-torch.arange(0, dim, 2) / dim)
    cos, sin = torch.cat([theta.cos()] * 2), torch.cat([theta.sin()] * 2)
    hf = x * cos + torch.cat([-x[dim // 2 :], x[: dim // 2]]) * sin  # transformers' rope
    pairs = _unrotate(x, 1).view(-1, 2)  # llama.cpp: rotate adjacent pairs
    llama = torch.stack(
        [pairs[:, 0] * theta.cos() - pairs[:, 1] * theta.sin(),
         pairs[:, 0] * theta.sin() + pairs[:, 1] * theta.cos()], dim=1
    ).flatten()  # fmt: skip
    assert torch.allclose(llama, _unrotate(hf, 1), atol=1e-6)


def test_qwen2_keeps_biases_and_rotate_half_layout(models, tmp_path):
    export_gguf(models["qwen2"], tmp_path / "q", outtype="f16")
    reader = gguf.GGUFReader(tmp_path / "q" / "model.gguf")
    _, weights = hf_weights(models["qwen2"])
    assert field(reader, "general.architecture") == "qwen2"
    got = {t.name: t for t in reader.tensors}
    want = weights["model.layers.0.self_attn.q_proj.weight"].half().numpy()
    assert np.array_equal(got["blk.0.attn_q.weight"].data, want)
    bias = got["blk.0.attn_k.bias"]
    assert bias.tensor_type == gguf.GGMLQuantizationType.F32
    assert np.array_equal(bias.data, weights["model.layers.0.self_attn.k_proj.bias"].numpy())
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [
        "Modelfile",
        "README.md",
        "export_report.json",
        "model.gguf",
    ]  # fmt: skip  (README.md: the model card)


def test_deepseek_v3_mla_and_experts(tmp_path):
    report = export_gguf(BASE, tmp_path / "d.gguf", outtype="f16")
    reader = gguf.GGUFReader(tmp_path / "d.gguf")
    c, weights = hf_weights(BASE)
    assert report["architecture"] == field(reader, "general.architecture") == "deepseek2"
    assert field(reader, "deepseek2.leading_dense_block_count") == 1
    assert field(reader, "deepseek2.attention.head_count_kv") == 1
    assert field(reader, "deepseek2.attention.key_length") == 64 + 16
    assert field(reader, "deepseek2.attention.key_length_mla") == 48
    assert field(reader, "deepseek2.expert_count") == 4
    assert field(reader, "deepseek2.expert_gating_func") == gguf.ExpertGatingFuncType.SIGMOID
    got = {t.name: t for t in reader.tensors}
    gate_up = weights["model.layers.2.mlp.experts.gate_up_proj"]
    assert got["blk.2.ffn_gate_exps.weight"].data.shape == (4, 128, 256)
    assert np.array_equal(got["blk.2.ffn_up_exps.weight"].data, gate_up[:, 128:].half().numpy())
    kv_b = weights["model.layers.0.self_attn.kv_b_proj.weight"].view(4, 64, 64)
    assert np.array_equal(got["blk.0.attn_v_b.weight"].data, kv_b[:, 32:].half().numpy())
    k_b = kv_b[:, :32].transpose(1, 2).half().numpy()
    assert np.array_equal(got["blk.0.attn_k_b.weight"].data, k_b)
    router = got["blk.1.ffn_gate_inp.weight"]
    assert router.tensor_type == gguf.GGMLQuantizationType.F32
    bias = weights["model.layers.1.mlp.gate.e_score_correction_bias"].numpy()
    assert np.array_equal(got["blk.1.exp_probs_b.bias"].data, bias)
    assert report["parameters"] == 4364032 and report["tensor_types"] == {"F32": 23, "F16": 47}


def test_q8_0_dequantizes_to_the_weights_within_one_step(models, tmp_path):
    report = export_gguf(models["qwen2"], tmp_path / "q8.gguf", outtype="q8_0")
    reader = gguf.GGUFReader(tmp_path / "q8.gguf")
    _, weights = hf_weights(models["qwen2"])
    assert field(reader, "general.file_type") == gguf.LlamaFileType.MOSTLY_Q8_0
    t = {t.name: t for t in reader.tensors}["blk.0.ffn_down.weight"]
    assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
    got = gguf.quants.dequantize(t.data, t.tensor_type)
    want = weights["model.layers.0.mlp.down_proj.weight"].numpy()
    step = np.abs(want.reshape(-1, 32)).max(axis=1) / 127  # one int8 step per 32-block
    err = np.abs(got - want).reshape(-1, 32).max(axis=1)
    assert got.shape == want.shape and (err <= step * 0.51 + 1e-4).all()
    assert set(report["tensor_types"]) == {"F32", "Q8_0"}


def test_tensor_types_follow_llama_cpp():
    w = np.zeros((64, 64), np.float32)
    assert tensor_type("blk.0.attn_q.weight", w, "q8_0") == gguf.GGMLQuantizationType.Q8_0
    assert tensor_type("blk.0.attn_q.weight", w[:, :48], "q8_0") == gguf.GGMLQuantizationType.F16
    assert tensor_type("blk.0.attn_q.bias", w[0], "f16") == gguf.GGMLQuantizationType.F32
    assert tensor_type("blk.0.attn_q_a_norm.weight", w, "f16") == gguf.GGMLQuantizationType.F32
    assert tensor_type("blk.1.ffn_gate_inp.weight", w, "f16") == gguf.GGMLQuantizationType.F32


def test_unknown_pre_tokenizer_is_refused():
    spec = {
        "model": {"type": "BPE"},
        "decoder": {"type": "ByteLevel"},
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
    }
    with pytest.raises(ConfigError) as e:
        pre_tokenizer_name(spec)
    assert str(e.value) == (
        '--model: tokenizer.json pre_tokenizer {"type": "Whitespace"} matches no llama.cpp '
        "pre-tokenizer tunesmith knows (gpt-2, llama-bpe, qwen2, starcoder)"
    )
    with pytest.raises(ConfigError, match="is a Unigram tokenizer with a Metaspace decoder"):
        pre_tokenizer_name({"model": {"type": "Unigram"}, "decoder": {"type": "Metaspace"}})
