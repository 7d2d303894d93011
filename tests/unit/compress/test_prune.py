"""Pruning internals on tiny random models: options, exact magnitude counts, and structured
slicing that is exact (units whose output weights are zero can go without changing a logit)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunesmith.compress.prune import PruneOptions
from tunesmith.compress.prune_layout import ffns_of, heads_of
from tunesmith.compress.prune_structured import heads_to_keep, prune_units
from tunesmith.compress.prune_unstructured import magnitude_prune, prunable, zero_smallest
from tunesmith.compress.report import source_model_dir
from tunesmith.config.export_settings import check_prune
from tunesmith.config.settings import check_settings
from tunesmith.errors import ConfigError
from tunesmith.models.registry import PRESETS

IDS = torch.tensor([[0, 17, 230, 1022, 5, 88, 400, 3000, 12, 9, 77, 1500]])


def tiny(name: str) -> torch.nn.Module:
    """A random tiny preset; `tiny-llama-mha`: Llama with one key/value head per query head."""
    torch.manual_seed(0)
    config = PRESETS[name.removesuffix("-mha")].config()
    if name.endswith("-mha"):
        config.num_key_value_heads = config.num_attention_heads
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    return model.eval()


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (PruneOptions("sparse"), "mode: 'sparse' is not one of unstructured, structured"),
        (PruneOptions("unstructured"), "mode unstructured needs sparsity (0 < sparsity < 1)"),
        (PruneOptions("unstructured", sparsity=1.0), "sparsity: must be < 1, got 1"),
        (PruneOptions("unstructured", sparsity=-0.1), "sparsity: must be > 0, got -0.1"),
        (
            PruneOptions("unstructured", sparsity=0.5, scope="row"),
            "scope: 'row' is not one of layer, global",
        ),
        (
            PruneOptions("unstructured", sparsity=0.5, ffn_ratio=0.2),
            "ffn_ratio applies to mode structured only",
        ),
        (
            PruneOptions("structured", ffn_ratio=0.2, sparsity=0.5),
            "sparsity applies to mode unstructured only",
        ),
        (PruneOptions("structured", ffn_ratio=1.0), "ffn_ratio: must be < 1, got 1"),
        (PruneOptions("structured", head_ratio=1.5), "head_ratio: must be < 1, got 1.5"),
        (
            PruneOptions("structured", ffn_ratio=0.0),
            "mode structured needs ffn_ratio and/or head_ratio above 0",
        ),
        (
            PruneOptions("structured", ffn_ratio=0.2, importance="taylor"),
            "importance: 'taylor' is not one of magnitude, activation",
        ),
        (
            PruneOptions("structured", ffn_ratio=0.2, importance="activation"),
            "importance activation needs calib (records to measure activations on)",
        ),
        (
            PruneOptions("structured", ffn_ratio=0.2, calib_samples=8),
            "calib_samples applies only with calib (records to measure on)",
        ),
        (
            PruneOptions("structured", ffn_ratio=0.2, calib=["c.jsonl"], calib_samples=0),
            "calib_samples: must be >= 1, got 0",
        ),
    ],
)
def test_bad_options_are_refused_with_the_key_and_the_range(options, message):
    with pytest.raises(ConfigError) as e:
        check_settings(options, check_prune)
    assert str(e.value) == message


def test_defaults_come_from_the_schema():
    u = check_settings(PruneOptions("unstructured", sparsity=0.5), check_prune)
    assert (u.scope, u.calib_samples) == ("layer", 32)
    s = check_settings(PruneOptions("structured", head_ratio=0.5), check_prune)
    assert (s.ffn_ratio, s.head_ratio, s.importance) == (0.0, 0.5, "magnitude")


def test_model_dirs_and_full_runs_are_accepted_and_the_rest_refused(tmp_path):
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")
    assert source_model_dir(tmp_path / "run", "prune") == tmp_path / "run" / "model"
    assert source_model_dir("tiny-deepseek-v3-base", "prune").name == "tiny-deepseek-v3-base"
    (tmp_path / "lora" / "adapter").mkdir(parents=True)
    with pytest.raises(ConfigError) as e:
        source_model_dir(tmp_path / "lora", "prune")
    assert str(e.value) == (
        f"--model: '{tmp_path / 'lora'}' is a LoRA adapter run; merge it into its base first "
        f"(tunesmith export merge --adapter {tmp_path / 'lora'} --output MERGED) and prune MERGED"
    )
    with pytest.raises(ConfigError, match="'tiny-qwen2' is a random-init preset with no weight"):
        source_model_dir("tiny-qwen2", "prune")
    with pytest.raises(ConfigError, match="^--model: '.*nope' is neither a preset"):
        source_model_dir(tmp_path / "nope", "prune")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="^--model: '.*empty' has no config.json"):
        source_model_dir(tmp_path / "empty", "prune")
    (tmp_path / "q").mkdir()
    quant = {"quantization_config": {"quant_method": "torchao"}}
    (tmp_path / "q" / "config.json").write_text(json.dumps(quant))
    with pytest.raises(ConfigError) as e:
        source_model_dir(tmp_path / "q", "prune")
    assert str(e.value) == (
        f"--model: '{tmp_path / 'q'}' is already quantized (torchao, quantization_config in "
        f"{tmp_path / 'q' / 'config.json'}); prune the float model it came from"
    )


def test_zero_smallest_is_exact_with_ties():
    a = torch.tensor([[4.0, -1.0, 3.0], [1.0, 2.0, -1.0]])
    b = torch.tensor([1.0, 8.0])
    zero_smallest([a, b], 3)  # |1| four times: three of them go, in tensor order
    assert a.tolist() == [[4.0, 0.0, 3.0], [0.0, 2.0, 0.0]]
    assert b.tolist() == [1.0, 8.0]
    zero_smallest([b], 0)
    assert b.tolist() == [1.0, 8.0]


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-deepseek-v3"])
def test_layer_scope_zeroes_exactly_the_rounded_share_of_every_tensor(name):
    model = tiny(name)
    names = set(prunable(model))
    assert not [n for n in names if "embed" in n or "lm_head" in n or "norm" in n]
    assert not [n for n in names if n.endswith("mlp.gate.weight")]  # MoE routers stay
    if name == "tiny-deepseek-v3":
        assert "model.layers.1.mlp.experts.gate_up_proj" in names
    counts = magnitude_prune(model, 0.3, "layer")
    assert set(counts) == names
    for zeros, n in counts.values():
        assert zeros == int(0.3 * n + 0.5)


def test_global_scope_hits_the_total_exactly_and_spreads_unevenly():
    model = tiny("tiny-qwen2")
    counts = magnitude_prune(model, 0.6, "global")
    total = sum(n for _, n in counts.values())
    assert sum(z for z, _ in counts.values()) == int(0.6 * total + 0.5)
    shares = {z / n for z, n in counts.values()}
    assert max(shares) - min(shares) > 0.01  # one threshold, not one share per tensor


def test_head_ratio_that_removes_all_or_none_of_a_group_is_refused():
    gqa = heads_of(PRESETS["tiny-llama"].config())  # 4 query heads, 2 key/value groups
    assert (gqa.groups, gqa.group_size, heads_to_keep(gqa, 0.5)) == (2, 2, 1)
    with pytest.raises(ConfigError) as e:
        heads_to_keep(gqa, 0.8)
    assert str(e.value) == (
        "--head-ratio: 0.8 removes too many heads: it would remove all 2 heads per key/value "
        "group (4 query heads in 2 key/value groups of 2); at least one must stay per "
        "key/value group (use --head-ratio below 0.75)"
    )
    with pytest.raises(ConfigError, match="0.2 removes no head .* one per key/value group is 0.25"):
        heads_to_keep(gqa, 0.2)
    mla = heads_of(PRESETS["tiny-deepseek-v3"].config())  # 4 heads, each its own kv expansion
    assert (mla.groups, heads_to_keep(mla, 0.5), heads_to_keep(mla, 0.7)) == (1, 2, 1)
    with pytest.raises(ConfigError, match="would remove all 4 heads \\(4 heads\\); at least one"):
        heads_to_keep(mla, 0.9)


def _silence(model: torch.nn.Module, heads: list[int], ffn_ratio: float) -> None:
    """Zero the output weights of these heads, and of every other FFN neuron up to the
    share `ffn_ratio` prunes, in every layer / expert."""
    config = model.config
    o_cut = next(c for c in heads_of(config).q_cuts if c.output)
    sd = model.state_dict()
    with torch.no_grad():
        for i in range(config.num_hidden_layers):
            o = sd[f"model.layers.{i}.{o_cut.suffix}"]
            for h in heads:
                o[:, h * o_cut.block : (h + 1) * o_cut.block] = 0
        for ffn in ffns_of(config):
            down = sd[f"{ffn.prefix}.down_proj" + ("" if ffn.experts else ".weight")]
            down[..., 0 : 2 * int(ffn_ratio * ffn.size + 0.5) : 2] = 0


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-llama-mha", "tiny-qwen2", "tiny-deepseek-v3"])
def test_silent_units_are_the_ones_removed_and_no_logit_moves(name):
    model = tiny(name)
    # GQA (llama, qwen2): heads 1 and 2 are one per key/value group; MHA / MLA: any two
    _silence(model, heads=[1, 2], ffn_ratio=0.25)
    want = logits(model)
    sd, config, layers = prune_units(
        model.state_dict(), model.config, ffn_ratio=0.25, head_ratio=0.5
    )
    assert [layer["heads_kept"] for layer in layers] == [[0, 3]] * config.num_hidden_layers
    pruned = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    pruned.load_state_dict(sd, strict=True)
    assert (logits(pruned.eval()) - want).abs().max().item() < 1e-5
    assert config.num_attention_heads == 2
    before = model.config
    assert config.intermediate_size == before.intermediate_size - int(
        0.25 * before.intermediate_size + 0.5
    )
    if name == "tiny-deepseek-v3":
        assert (config.num_key_value_heads, config.moe_intermediate_size) == (2, 96)
    elif name == "tiny-llama-mha":  # the removed heads' keys and values went with them
        assert (
            config.num_key_value_heads,
            sd["model.layers.0.self_attn.k_proj.weight"].shape[0],
        ) == (2, 64)
    else:
        assert (config.num_key_value_heads, config.head_dim) == (2, 32)


def test_unsupported_architecture_is_named():
    from transformers import MistralConfig

    from tunesmith.compress.prune_layout import check_supported

    with pytest.raises(ConfigError) as e:
        check_supported(MistralConfig(), "attention heads")
    assert str(e.value) == (
        "--model: structured pruning of attention heads supports llama, qwen2, deepseek_v3 "
        "models; this one is mistral (unstructured pruning works on any model: --mode "
        "unstructured)"
    )
