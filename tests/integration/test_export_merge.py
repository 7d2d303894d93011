"""`tunesmith export merge`: LoRA / DoRA folded into the base load in plain transformers
with the adapter model's logits (fp32, 1e-4), DeepSeek-V3 expert targets included; bad
input is refused with one line and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.cli.main import main
from tunesmith.models.load import load_trained
from tunesmith.models.registry import PRESETS

IDS = torch.tensor([[0, 17, 230, 1022, 5, 88, 400, 3000, 12, 9]])


@pytest.fixture(scope="module")
def runs(chat_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    out = {}
    for name, model, method, extra in (
        ("qwen2-lora", "tiny-qwen2", "lora", {}),
        ("v3-lora", "tiny-deepseek-v3", "lora", {"target_modules": ["all-linear"]}),
        ("qwen2-dora", "tiny-qwen2", "dora", {}),
        ("qwen2-prefix", "tiny-qwen2", "prefix", {}),
    ):
        cfg = tiny_config(model, method, chat_files["train"], root / name)
        cfg["method"]["lora"].update(extra)
        if method == "prefix":
            cfg["data"]["packing"] = False
        out[name] = train(cfg)
    torch.manual_seed(0)
    llama = AutoModelForCausalLM.from_config(PRESETS["tiny-llama"].config())
    llama.save_pretrained(root / "llama")
    out["llama"] = root / "llama"
    return out


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=IDS).logits


def export(*argv) -> int:
    return main(["export", "merge", *map(str, argv)])


@pytest.mark.parametrize("name", ["qwen2-lora", "v3-lora", "qwen2-dora"])
def test_merged_model_matches_the_adapter_model(runs, name, tmp_path, capsys):
    out = tmp_path / "merged"
    assert export("--adapter", runs[name], "--output", out) == 0
    assert f"{out}  (report: {out}/export_report.json)" in capsys.readouterr().out

    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    adapted, _ = load_trained(runs[name], attn_implementation="sdpa")
    want = logits(adapted)
    assert (logits(merged) - want).abs().max().item() < 1e-4
    base = AutoModelForCausalLM.from_pretrained(runs[name] / "base", dtype=torch.float32)
    assert (logits(base) - want).abs().max().item() > 1e-3  # the adapter changed something

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not [k for k in keys if "lora" in k or "base_layer" in k]
    assert (out / "tokenizer.json").is_file()
    report = json.loads((out / "export_report.json").read_text())
    assert report["kind"] == "merge" and report["adapter"] == str(runs[name] / "adapter")
    assert report["peft_type"] == ("DORA" if "dora" in name else "LORA")
    assert report["parameters"] == sum(p.numel() for p in merged.parameters())
    assert report["size_bytes"] > (out / "model.safetensors").stat().st_size
    assert report["max_abs_logit_diff"] < 1e-4 and report["probe_prompts"] == 3
    if name == "v3-lora":  # routed and shared experts are adapted as parameters
        assert "mlp.experts.gate_up_proj" in report["target_parameters"]
        assert "shared_experts.down_proj.weight" in report["target_parameters"]


def refused(capsys, *argv) -> str:
    assert export(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_adapter_dir_without_adapter_config_is_refused(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    err = refused(capsys, "--adapter", tmp_path / "a", "--output", tmp_path / "o")
    assert f"'{tmp_path / 'a'}' has no adapter_config.json" in err


def test_base_of_another_architecture_is_refused(runs, tmp_path, capsys):
    err = refused(
        capsys, "--adapter", runs["qwen2-lora"], "--base", runs["llama"], "--output", tmp_path
    )
    assert f"trained on '{runs['qwen2-lora'] / 'base'}', qwen2" in err
    assert f"but --base '{runs['llama']}' is llama" in err


def test_base_whose_shapes_do_not_fit_is_refused(runs, tmp_path, capsys):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for f in (runs["qwen2-lora"] / "adapter").iterdir():
        (adapter / f.name).write_bytes(f.read_bytes())
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "Qwen/not-here"  # the recorded base cannot be checked
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    v3 = runs["v3-lora"] / "base"
    err = refused(capsys, "--adapter", adapter, "--base", v3, "--output", tmp_path / "o")
    assert f"--adapter '{adapter}' does not fit --base '{v3}': size mismatch" in err


def test_prefix_adapter_is_refused(runs, tmp_path, capsys):
    err = refused(capsys, "--adapter", runs["qwen2-prefix"], "--output", tmp_path / "o")
    assert "is a PREFIX_TUNING adapter: prefix tuning adds learned key/value tokens" in err


def test_quantized_base_is_refused(runs, tmp_path, capsys):
    base = tmp_path / "base"
    base.mkdir()
    config = json.loads((runs["qwen2-lora"] / "base" / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (base / "config.json").write_text(json.dumps(config))
    err = refused(capsys, "--adapter", runs["qwen2-lora"], "--base", base, "--output", tmp_path)
    assert f"--base: '{base}' is quantized (bitsandbytes" in err
    assert "(--requantize) is not implemented yet" in err


def test_non_empty_output_needs_overwrite(runs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    err = refused(capsys, "--adapter", runs["qwen2-lora"], "--output", out)
    assert "exists and is not empty (pass --overwrite to replace it)" in err
    assert export("--adapter", runs["qwen2-lora"], "--output", out, "--overwrite") == 0
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no partial dir left behind
