"""Every output directory carries a Hugging Face model card (README.md): a run's adapter/ and
model/, and merged, pruned, quantized and GGUF exports, each with its front matter, its
settings, and the training provenance of the model it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.compress.gguf_export import export_gguf
from tunesmith.compress.merge import merge_adapter
from tunesmith.compress.prune import PruneOptions, prune_model
from tunesmith.compress.quantize import quantize_model
from tunesmith.config.load import config_from_dict
from tunesmith.model_card import read_card
from tunesmith.models.registry import PRESETS
from tunesmith.training.card import training_card


@pytest.fixture(scope="module")
def runs(chat_files, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cards")
    out = {}
    for name, method in (("lora", "lora"), ("full", "full")):
        cfg = tiny_config("tiny-qwen2", method, chat_files["train"], root / name, max_steps=3)
        cfg["data"]["validation"] = [str(chat_files["validation"])]
        cfg["train"]["neftune_alpha"] = 5.0 if name == "lora" else 0.0
        out[name] = train(cfg)
    out["merged"] = root / "merged"
    merge_adapter(out["lora"], out["merged"])
    return out


def metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_adapter_card(runs, chat_files) -> None:
    run = runs["lora"]
    meta, sections = read_card(run / "adapter")
    assert meta == {
        "base_model": "tiny-qwen2",
        "base_model_relation": "adapter",
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "tags": ["tunesmith", "sft", "lora", "peft", "neftune"],
    }
    assert list(sections) == ["Method", "Data", "Training", "Results", "How to load"]
    assert "| lora.r | 8 |" in sections["Method"]
    assert "| neftune_alpha | 5 |" in sections["Method"]
    assert f"- train: `{chat_files['train']}`" in sections["Data"]
    assert "| train | 64 | 64 |" in sections["Data"]  # records, samples kept
    assert "| validation | 16 | 16 |" in sections["Data"]
    assert "| optimizer steps | 3 |" in sections["Training"]
    rows = metrics(run)
    assert f"| final train loss | {rows[-1]['loss']:.6g} |" in sections["Results"]
    assert f"| eval_loss | {rows[-1]['eval_loss']:.6g} |" in sections["Results"]
    load = sections["How to load"]
    assert f'AutoPeftModelForCausalLM.from_pretrained("{run / "adapter"}")' in load
    assert f"tunesmith serve --model {run}" in load
    assert f"tunesmith export merge --adapter {run}" in load


def test_full_model_card(runs) -> None:
    meta, sections = read_card(runs["full"] / "model")
    assert meta["base_model"] == "tiny-qwen2"
    assert meta["base_model_relation"] == "finetune"
    assert meta["library_name"] == "transformers"
    assert meta["tags"] == ["tunesmith", "sft", "full", "full-finetune"]
    assert "| method | `full` |" in sections["Method"]
    assert "neftune_alpha" not in sections["Method"]  # off: not listed
    assert "AutoModelForCausalLM.from_pretrained" in sections["How to load"]
    assert f"tunesmith export gguf --model {runs['full']}" in sections["How to load"]


def test_merged_card_carries_the_training(runs) -> None:
    merged = runs["merged"]
    meta, sections = read_card(merged)
    assert meta["base_model"] == "tiny-qwen2"
    assert meta["base_model_relation"] == "finetune"
    assert meta["library_name"] == "transformers"
    assert meta["tags"][:2] == ["tunesmith", "merged-lora"] and "lora" in meta["tags"]
    report = json.loads((merged / "export_report.json").read_text())
    assert f"| max_abs_logit_diff | {report['max_abs_logit_diff']:.6g} |" in sections["Export"]
    assert "| r | 8 |" in sections["Export"]
    prov = sections["Provenance"]
    assert "### Method" in prov and "| lora.r | 8 |" in prov
    assert "### Data" in prov and "| train | 64 | 64 |" in prov
    assert "### Results" in prov
    # the card does not disturb loading the merged model in plain transformers
    AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)


def test_quantized_pruned_and_gguf_cards_chain_the_provenance(runs, tmp_path) -> None:
    merged = runs["merged"]
    q = tmp_path / "int8"
    quantize_model(str(merged), "int8-weight-only", q, metrics="em")
    meta, sections = read_card(q)
    assert meta["base_model"] == str(merged)
    assert meta["base_model_relation"] == "quantized"
    assert meta["tags"][:2] == ["tunesmith", "quantize"]
    assert "| scheme | `int8-weight-only` |" in sections["Export"]
    assert "torchao" in sections["How to load"]
    assert "| lora.r | 8 |" in sections["Provenance"]  # two hops: adapter -> merged -> int8

    p = tmp_path / "pruned"
    prune_model(str(merged), p, PruneOptions("unstructured", sparsity=0.5))
    meta, sections = read_card(p)
    assert meta["base_model_relation"] == "finetune" and meta["tags"][1] == "prune"
    assert "| sparsity_target | 0.5 |" in sections["Export"]
    assert "| lora.r | 8 |" in sections["Provenance"]

    g = tmp_path / "gguf"
    report = export_gguf(str(merged), g, outtype="f16")
    meta, sections = read_card(g)
    assert meta["library_name"] == "gguf" and meta["base_model_relation"] == "quantized"
    assert "| outtype | `f16` |" in sections["Export"]
    name = Path(report["file"]).name
    assert f"llama-cli -m {g / name}" in sections["How to load"]
    assert f"ollama create NAME -f {g / 'Modelfile'}" in sections["How to load"]
    assert "| lora.r | 8 |" in sections["Provenance"]


def test_license_comes_from_the_base_models_card(tmp_path) -> None:
    base = tmp_path / "base"
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(PRESETS["tiny-qwen2"].config()).save_pretrained(base)
    (base / "README.md").write_text("---\nlicense: apache-2.0\n---\n# a base\n")
    cfg = config_from_dict({"model": {"name_or_path": str(base)}, "data": {"train": ["t.jsonl"]}})
    summary = {"data": {}, "steps": 1, "train_seconds": 1.0}
    card = training_card(cfg, summary, tmp_path / "run" / "adapter", tmp_path / "run")
    assert card.front_matter()["license"] == "apache-2.0"
    assert card.front_matter()["base_model"] == str(base)
