"""Every method trains tiny DeepSeek-V3 and tiny Qwen2 from the CLI: pinned losses, the
trainable-parameter report, and outputs that load in plain peft / transformers."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
import yaml
from peft import PeftModel
from transformers import AutoModelForCausalLM

from helpers import tiny_config
from tunesmith.cli.main import main
from tunesmith.models.load import load_trained
from tunesmith.models.mla_prefix import register_mla_prefix

MODELS = ("tiny-deepseek-v3", "tiny-qwen2")
METHODS = ("lora", "dora", "prefix", "freeze", "full")

# Losses of the first six optimizer steps (seed 0, fp32, CPU); see test_train_e2e.py.
PINNED = {
    ("tiny-deepseek-v3", "lora"): [8.50881, 7.6447, 7.06983, 6.71915, 6.38316, 6.19333],
    ("tiny-deepseek-v3", "dora"): [8.50881, 8.00569, 7.59434, 7.27787, 7.05592, 6.93954],
    ("tiny-deepseek-v3", "prefix"): [8.42387, 8.37303, 8.32272, 8.28532, 8.23217, 8.17981],
    ("tiny-deepseek-v3", "freeze"): [8.50881, 6.94965, 5.85219, 4.98366, 4.00808, 3.21338],
    ("tiny-deepseek-v3", "full"): [8.50881, 7.33921, 6.41825, 5.73407, 5.18757, 4.72131],
    ("tiny-qwen2", "lora"): [8.28639, 7.91143, 7.68639, 7.58825, 7.49039, 7.45001],
    ("tiny-qwen2", "dora"): [8.28639, 8.02706, 7.78977, 7.65914, 7.55231, 7.50854],
    ("tiny-qwen2", "prefix"): [8.33473, 8.29036, 8.21494, 8.16238, 8.13069, 8.06095],
    ("tiny-qwen2", "freeze"): [8.28639, 7.45716, 6.92272, 6.44419, 5.89853, 5.30537],
    ("tiny-qwen2", "full"): [8.28639, 7.66541, 7.3438, 7.12796, 6.88027, 6.64362],
}
# The start-of-run report, as printed (trainable count, percent, by kind).
REPORTED = {
    ("tiny-deepseek-v3", "lora"): "183,808 trainable of 4,547,840 params (4.04%) [lora 183,808]",
    ("tiny-deepseek-v3", "dora"): (
        "55,104 trainable of 4,419,136 params (1.25%) [lora 51,712, dora magnitude 3,392]"
    ),
    ("tiny-deepseek-v3", "prefix"): "4,096 trainable of 4,368,128 params (0.09%) [prefix 4,096]",
    ("tiny-deepseek-v3", "freeze"): (
        "1,640,064 trainable of 4,364,032 params (37.58%) "
        "[decoder layers 591,488, head 1,048,576]; layers trained: 3"
    ),
    ("tiny-qwen2", "freeze"): (
        "709,120 trainable of 894,080 params (79.31%) "
        "[embeddings 524,288, decoder layers 184,832]; layers trained: 1"
    ),
    ("tiny-qwen2", "full"): (
        "894,080 trainable of 894,080 params (100.00%) "
        "[embeddings 524,288, decoder layers 369,664, norms 128]"
    ),
}

OVERRIDES = {
    "lora": ["method.lora.use_rslora=true", "method.lora.plus_lr_ratio=4", "train.lr=5e-4"],
    "dora": [],
    "prefix": ["data.packing=false", "method.prefix.num_virtual_tokens=8", "train.lr=3e-2"],
    "freeze": [
        "method.freeze.trainable_layers=['-1:']",
        "method.freeze.trainable_modules=[lm_head]",
    ],
    "full": ["train.lr=1e-3"],
}


@pytest.fixture(scope="module")
def runs(chat_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    out = {}
    for model in MODELS:
        for method in METHODS:
            run = root / f"{model}-{method}"
            cfg = root / f"{model}-{method}.yaml"
            cfg.write_text(yaml.safe_dump(tiny_config(model, method, chat_files["train"], run)))
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                assert main(["train", str(cfg), *OVERRIDES[method]]) == 0
            (run / "stdout.txt").write_text(printed.getvalue())
            out[model, method] = run
    return out


def losses(run) -> list[float]:
    return [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", METHODS)
def test_losses_pinned(runs, model, method) -> None:
    assert losses(runs[model, method]) == pytest.approx(PINNED[model, method], abs=2e-4)


@pytest.mark.parametrize(("model", "method"), sorted(REPORTED))
def test_trainable_report(runs, model, method) -> None:
    run = runs[model, method]
    assert f"method={method}: {REPORTED[model, method]}\n" in (run / "stdout.txt").read_text()
    summary = json.loads((run / "train_summary.json").read_text())
    count = int(REPORTED[model, method].split(" ")[0].replace(",", ""))
    assert summary["trainable_params"] == count
    assert sum(summary["trainable_by_group"].values()) == count


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", METHODS)
def test_output_loads_in_plain_libraries(runs, model, method) -> None:
    """Adapters load with plain PeftModel.from_pretrained, full/freeze with plain
    AutoModelForCausalLM, and give the logits tunesmith's own loader gives."""
    run = runs[model, method]
    ids = torch.tensor([[0, 5, 17, 300, 42, 7, 1]])
    ours, _ = load_trained(run)
    ours.eval()
    if method in ("full", "freeze"):
        plain = AutoModelForCausalLM.from_pretrained(run / "model")
    else:
        cfg = json.loads((run / "adapter" / "adapter_config.json").read_text())
        base = AutoModelForCausalLM.from_pretrained(cfg["base_model_name_or_path"])
        register_mla_prefix(base.config)  # no-op but for prefix adapters on MLA models
        plain = PeftModel.from_pretrained(base, run / "adapter")
    plain.eval()
    with torch.no_grad():
        want, got = ours(input_ids=ids).logits, plain(input_ids=ids).logits
    assert torch.allclose(want, got, atol=1e-5)
    if method != "full":  # the trained part changed the function, not only the config
        base, _ = load_trained(run / "base") if (run / "base").is_dir() else (None, None)
        if base is not None:
            with torch.no_grad():
                assert not torch.allclose(base(input_ids=ids).logits, got, atol=1e-3)


def test_router_aux_loss_is_logged_and_weighted(chat_files, tmp_path) -> None:
    from tunesmith.api import train

    curves = {}
    for coef in (0.0, 5.0):
        cfg = tiny_config("tiny-deepseek-v3", "full", chat_files["train"], tmp_path / str(coef))
        cfg["train"].update(router_aux_loss_coef=coef, lr=1e-3)
        rows = [json.loads(x) for x in (train(cfg) / "metrics.jsonl").read_text().splitlines()]
        curves[coef] = rows
    for rows in curves.values():
        assert all(r["aux_loss"] >= 1.0 for r in rows)  # 1.0 = perfectly balanced
    first = [curves[c][0] for c in curves]
    assert first[0]["loss"] == first[1]["loss"] and first[0]["aux_loss"] == first[1]["aux_loss"]
    # logged `loss` is the LM loss alone; the weighted balance term changes the updates
    assert curves[5.0][1]["loss"] != pytest.approx(curves[0.0][1]["loss"], abs=1e-4)
