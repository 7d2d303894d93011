"""`tunesmith export prune`: structured pruning gives a smaller model whose parameter count
follows from its config, that plain transformers loads and `tunesmith train` fine-tunes;
unstructured pruning reports the exact sparsity of every layer; bad input exits with 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM, MistralConfig

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.cli.main import main
from tunesmith.models.registry import PRESETS
from tunesmith.models.tiny import tiny_qwen2_config


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("prune")
    out = {"deepseek_v3": PRESETS["tiny-deepseek-v3-base"].path()}
    for name in ("tiny-llama", "tiny-qwen2"):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(PRESETS[name].config())
        model.save_pretrained(root / name)
        out[name.removeprefix("tiny-")] = root / name
    return out


def expected_parameters(c) -> int:
    """Parameter count from the config alone (embeddings, norms, attention, MLPs, head)."""
    h, v = c.hidden_size, c.vocab_size
    total = v * h + h + (0 if c.tie_word_embeddings else v * h)  # embed, final norm, lm_head
    for i in range(c.num_hidden_layers):
        total += 2 * h  # input / post-attention norms
        n = c.num_attention_heads
        if c.model_type == "deepseek_v3":
            total += h * c.q_lora_rank + c.q_lora_rank  # q_a_proj, q_a_layernorm
            total += c.q_lora_rank * n * (c.qk_nope_head_dim + c.qk_rope_head_dim)
            total += h * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank
            total += c.kv_lora_rank * n * (c.qk_nope_head_dim + c.v_head_dim)
            total += n * c.v_head_dim * h
            if i < c.first_k_dense_replace:
                total += 3 * h * c.intermediate_size
            else:
                moe = c.moe_intermediate_size
                total += c.n_routed_experts * h  # router
                total += 3 * h * moe * (c.n_routed_experts + c.n_shared_experts)
            continue
        d, kv = getattr(c, "head_dim", None) or h // n, c.num_key_value_heads
        total += h * n * d + 2 * h * kv * d + n * d * h + 3 * h * c.intermediate_size
        if c.model_type == "qwen2":
            total += n * d + 2 * kv * d  # q / k / v biases
    return total


def prune(*argv) -> int:
    return main(["export", "prune", *map(str, argv)])


@pytest.mark.parametrize("arch", ["llama", "qwen2", "deepseek_v3"])
def test_structured_pruning_makes_a_smaller_model_plain_transformers_loads(
    models, arch, tmp_path, capsys
):
    out = tmp_path / "pruned"
    args = ["--ffn-ratio", 0.25, "--head-ratio", 0.5]
    assert prune("--model", models[arch], "--output", out, "--mode", "structured", *args) == 0
    printed = capsys.readouterr().out
    assert f"{out}  (report: {out}/export_report.json)" in printed

    before = AutoConfig.from_pretrained(models[arch])
    after = AutoConfig.from_pretrained(out)
    assert after.num_attention_heads == 2
    assert after.intermediate_size == before.intermediate_size * 3 // 4
    if arch == "deepseek_v3":  # MLA: each head has its own kv_b_proj rows, they go with it
        assert after.num_key_value_heads == 2 and after.moe_intermediate_size == 96
    else:  # GQA: one query head of each of the 2 key/value groups goes, the kv heads stay
        assert after.num_key_value_heads == 2 and after.head_dim == 32

    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    params = sum(p.numel() for p in model.parameters())
    assert expected_parameters(before) == sum(
        p.numel() for p in AutoModelForCausalLM.from_pretrained(models[arch]).parameters()
    )
    assert params == expected_parameters(after)
    expected = {"llama": 1_317_504, "qwen2": 793_600, "deepseek_v3": 3_774_208}[arch]
    assert params == expected
    report = json.loads((out / "export_report.json").read_text())
    assert report["parameters"] == params and report["parameters_before"] > params
    assert report["kind"] == "prune" and report["mode"] == "structured"
    assert report["importance"] == "magnitude" and report["max_abs_logit_diff"] == 0.0
    assert report["config_changes"]["num_attention_heads"] == [4, 2]
    assert [len(layer["heads_kept"]) for layer in report["layers"]] == [
        2
    ] * before.num_hidden_layers
    assert f"  parameters             {report['parameters_before']:,} -> {params:,}" in printed
    assert report["size_bytes"] > (out / "model.safetensors").stat().st_size
    assert (out / "tokenizer.json").is_file()
    ids = torch.tensor([[0, 17, 230, 1022, 5]])
    assert model(input_ids=ids).logits.shape == (1, 5, before.vocab_size)


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_unstructured_sparsity_is_reported_exactly_per_layer(models, scope, tmp_path, capsys):
    out = tmp_path / "sparse"
    argv = ["--model", models["qwen2"], "--output", out, "--mode", "unstructured"]
    assert prune(*argv, "--sparsity", 0.5, "--scope", scope) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "export_report.json").read_text())
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        saved = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iter
    assert set(report["tensors"]) == {k for k in saved if k.endswith("proj.weight")}
    for name, share in report["tensors"].items():
        t = saved[name]
        assert share == int((t == 0).sum()) / t.numel()
        if scope == "layer":
            assert int((t == 0).sum()) == int(0.5 * t.numel() + 0.5)
    with safe_open(str(models["qwen2"] / "model.safetensors"), "pt") as f:
        embed = f.get_tensor("model.embed_tokens.weight")
    assert torch.equal(saved["model.embed_tokens.weight"], embed)  # embeddings are kept whole
    assert report["sparsity"] == 0.5 and report["zeroed"] == 184_320
    assert report["pruned_weights"] == 368_640 and report["parameters"] == 894_080
    for row in report["layers"]:
        line = (
            f"  {row['layer']:<5}  {row['sparsity']:>7.2%}  ({row['min']:.2%} - {row['max']:.2%})"
        )
        assert line in printed
    if scope == "layer":
        assert [r["sparsity"] for r in report["layers"]] == [0.5, 0.5]
    else:
        layers = [v for r in report["layers"] for v in (r["sparsity"], r["min"], r["max"])]
        want = [0.498958, 0.481445, 0.502330, 0.501042, 0.492798, 0.509033]
        assert layers == pytest.approx(want, abs=1e-6)  # one threshold: uneven shares
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert (reloaded.model.layers[0].mlp.up_proj.weight == 0).float().mean() > 0.45


def test_activation_importance_and_a_recovery_fine_tune(chat_files, tmp_path, capsys):
    """Prune the shipped DeepSeek-V3 base by activations on the demo task, then train the
    pruned directory for a few steps with `tunesmith train` (model.name_or_path = it)."""
    out = tmp_path / "pruned"
    calib = ["--calib", chat_files["train"], "--calib-samples", 16, "--importance", "activation"]
    argv = ["--model", "tiny-deepseek-v3-base", "--output", out, "--mode", "structured"]
    assert prune(*argv, "--ffn-ratio", 0.5, "--head-ratio", 0.5, *calib) == 0
    assert "  calibration loss       " in capsys.readouterr().out
    report = json.loads((out / "export_report.json").read_text())
    assert report["importance"] == "activation" and report["calib_samples"] == 16
    assert report["calibration_tokens"] == 458
    assert report["experts_without_calibration_tokens"] == 0
    assert report["parameters"] == 3_307_264

    cfg = tiny_config("unused", "full", chat_files["train"], tmp_path / "run", max_steps=8)
    cfg["model"]["name_or_path"] = str(out)
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    cfg["train"]["eval_every"] = 8
    run = train(cfg)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["loss"] < metrics[0]["loss"] - 2
    assert report["calib_loss_after"] == pytest.approx(4.966, abs=2e-3)  # pruned, untrained
    assert metrics[-1]["eval_loss"] == pytest.approx(1.1177, abs=2e-3)  # after 8 steps
    recovered = AutoModelForCausalLM.from_pretrained(run / "model")
    assert recovered.config.num_attention_heads == 2
    assert recovered.config.intermediate_size == 256
    assert sum(p.numel() for p in recovered.parameters()) == 3_307_264


def refused(capsys, *argv) -> str:
    assert prune(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err.removeprefix("error: ").rstrip("\n")


def test_bad_input_is_refused_and_nothing_is_written(models, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["--model", models["llama"], "--output", out]
    err = refused(capsys, *base, "--mode", "unstructured", "--sparsity", 1.2)
    assert err == "--sparsity: must be < 1, got 1.2"
    err = refused(capsys, *base, "--mode", "structured", "--ffn-ratio", 1)
    assert err == "--ffn-ratio: must be < 1, got 1"
    err = refused(capsys, *base, "--mode", "magic", "--sparsity", 0.5)
    assert err == "--mode: 'magic' is not one of unstructured, structured"
    err = refused(capsys, *base, "--mode", "structured", "--head-ratio", 0.9)
    assert err.startswith("--head-ratio: 0.9 removes too many heads: it would remove all 2 heads")
    missing = tmp_path / "missing"
    err = refused(
        capsys, "--model", missing, "--output", out, "--mode", "unstructured", "--sparsity", 0.5
    )
    assert err.startswith(f"--model: '{missing}' is neither a preset (")
    assert err.endswith(") nor an existing directory")
    err = refused(
        capsys,
        "--model",
        "tiny-llama",
        "--output",
        out,
        "--mode",
        "unstructured",
        "--sparsity",
        0.5,
    )
    assert err.startswith("--model: 'tiny-llama' is a random-init preset with no weights to prune")
    unstructured = [*base, "--mode", "unstructured", "--sparsity", 0.5]
    err = refused(capsys, *unstructured, "--calib", tmp_path / "calib.jsonl")
    assert err.startswith(f"{tmp_path / 'calib.jsonl'}: file not found (expected a file ending")
    calib = tmp_path / "records" / "calib.jsonl"
    calib.parent.mkdir()
    calib.write_text('{"foo": 1}\n')
    err = refused(capsys, *unstructured, "--calib", calib)
    assert err.startswith(f"{calib}:1: record matches no format (its keys: foo)")
    err = refused(capsys, *base, "--mode", "structured", "--head-ratio", 0.5, "--calib-samples", 4)
    assert err == "--calib-samples applies only with calib (records to measure on)"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["records"]


def test_unsupported_architecture_and_non_empty_output(tmp_path, capsys):
    shape = {
        k: getattr(tiny_qwen2_config(), k)
        for k in ("vocab_size", "hidden_size", "intermediate_size")
    }
    torch.manual_seed(0)
    mistral = AutoModelForCausalLM.from_config(
        MistralConfig(**shape, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2)
    )
    mistral.save_pretrained(tmp_path / "mistral")
    out = tmp_path / "out"
    argv = ["--model", tmp_path / "mistral", "--output", out]
    err = refused(capsys, *argv, "--mode", "structured", "--ffn-ratio", 0.5)
    assert "structured pruning of FFN neurons supports llama, qwen2, deepseek_v3 models; " in err
    assert "this one is mistral" in err
    assert not out.exists()
    assert prune(*argv, "--mode", "unstructured", "--sparsity", 0.25) == 0  # any model
    err = refused(capsys, *argv, "--mode", "unstructured", "--sparsity", 0.25)
    assert err == f"--output: '{out}' exists and is not empty (pass --overwrite to replace it)"
    assert prune(*argv, "--mode", "unstructured", "--sparsity", 0.5, "--overwrite") == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["sparsity"] == 0.5 and report["model_type"] == "mistral"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mistral", "out"]
