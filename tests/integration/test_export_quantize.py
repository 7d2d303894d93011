"""`tunesmith export quantize`: torchao int8 / int4 on CPU, saved quantized and reloaded
without quantizing again (plain transformers, `tunesmith eval`, `tunesmith serve` loaders),
with size, speed and quality before and after; bad input is one line and exit code 2."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunesmith.cli.main import main
from tunesmith.evaluation.load import load_for_eval
from tunesmith.inference import Engine, SamplingParams
from tunesmith.models.registry import PRESETS
from tunesmith.serve.loading import load_served

BASE = "tiny-deepseek-v3-base"
IDS = torch.tensor([[0, 3, 17, 230, 1022, 5, 88, 400, 3000, 12, 9, 4]])
LINEAR_WEIGHTS = 1_081_344  # every nn.Linear of the base but lm_head (experts are fused params)
TYPES = {
    "int8-weight-only": ("Int8WeightOnlyConfig", "Int8Tensor"),
    "int8-dynamic": ("Int8DynamicActivationInt8WeightConfig", "Int8Tensor"),
    "int4-weight-only": ("IntxWeightOnlyConfig", "IntxUnpackedToInt8Tensor"),
}


def export(*argv) -> int:
    return main(["export", "quantize", *map(str, argv)])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=IDS).logits


@pytest.fixture(scope="module")
def quantized(chat_files, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("quantize")
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 OpenMP threads crawl (x50) when anything else uses a core
    try:
        for scheme in TYPES:
            target = root / scheme
            argv = ["--model", BASE, "--scheme", scheme, "--output", target]
            argv += ["--eval-data", chat_files["validation"], "--max-samples", 8]
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                assert export(*argv) == 0
            out[scheme], out[f"{scheme} printed"] = target, printed.getvalue()
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("scheme", list(TYPES))
def test_quantized_dir_reloads_quantized(quantized, scheme):
    out = quantized[scheme]
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "torchao"
    assert config["quant_type"]["default"]["_type"] == TYPES[scheme][0]
    assert (out / "tokenizer.json").is_file() and not list(out.glob("*.bin"))

    first = AutoModelForCausalLM.from_pretrained(out)  # plain transformers, no tunesmith
    weight = first.model.layers[0].self_attn.o_proj.weight
    assert type(weight).__name__ == TYPES[scheme][1]
    assert type(first.model.layers[1].mlp.experts.gate_up_proj).__name__ == "Parameter"
    again = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(logits(first), logits(again))
    base = AutoModelForCausalLM.from_pretrained(PRESETS[BASE].path())
    assert 0.0 < (logits(base) - logits(first)).abs().max().item() < 5.0

    report = json.loads((out / "export_report.json").read_text())
    assert report["kind"] == "quantize" and report["scheme"] == scheme
    assert report["library"] == "torchao 0.18.0" and report["device"] == "cpu"
    assert report["parameters"] == 4_364_032
    assert report["quantized_parameters"] == LINEAR_WEIGHTS
    assert report["reload_max_abs_logit_diff"] == 0.0
    assert 0.0 < report["max_abs_logit_diff"] < 5.0
    assert report["weights_bytes"] == (out / "model.safetensors").stat().st_size
    assert report["weights_bytes"] < report["baseline"]["weights_bytes"]
    for block in (report["measured"], report["baseline"]):
        assert set(block["metrics"]) == {"em", "loss", "ppl"}
        assert block["eval_samples"] == 8 and block["tokens_per_s"] > 0
        # the fixture ran the exports with one torch thread
        assert block["speed_setup"] == {"prompts": 8, "new_tokens": 32, "best_of": 2,
                                        "threads": 1}  # fmt: skip
    assert report["group_size"] == (32 if scheme == "int4-weight-only" else None)


def test_int8_weights_are_a_quarter_of_float_on_disk(quantized):
    report = json.loads((quantized["int8-weight-only"] / "export_report.json").read_text())
    saved = report["baseline"]["weights_bytes"] - report["weights_bytes"]
    # each quantized weight: 4 bytes -> 1 byte, plus one float scale per output row
    assert saved == pytest.approx(3 * LINEAR_WEIGHTS, rel=0.02)


def test_eval_and_serve_load_the_quantized_dir(quantized):
    out = str(quantized["int8-dynamic"])
    model, tok = load_for_eval(out)
    served, _, names = load_served(out)
    assert names == {out: None}
    assert type(served.model.layers[0].mlp.up_proj.weight).__name__ == "Int8Tensor"
    params = SamplingParams(max_tokens=8, temperature=0.0)
    prompt = tok("<｜User｜>What is the tag of water?<｜Assistant｜>")["input_ids"]
    a = Engine(model).generate([prompt], params)[0].token_ids
    b = Engine(served).generate([prompt], params)[0].token_ids
    assert len(a) == 8 and list(a) == list(b)


def test_cli_prints_before_and_after(quantized):
    out = quantized["int8-weight-only"]
    lines = quantized["int8-weight-only printed"].splitlines()
    assert lines[0].startswith("quantized ") and lines[0].endswith(
        " with int8-weight-only (torchao 0.18.0, cpu)"
    )
    assert lines[1].split() == ["before", "after"]
    assert lines[2].startswith("  size on disk (MiB)") and lines[2].endswith("×)")
    assert [ln.split()[0] for ln in lines[3:7]] == ["tokens/s", "em", "ppl", "quantized"]
    assert lines[6] == "  quantized parameters  1,081,344 of 4,364,032 (24.8%)"
    assert lines[-1] == f"{out}  (report: {out}/export_report.json)"


def refused(capsys, *argv) -> str:
    assert export(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err.strip()


def test_scheme_errors_come_before_any_load(tmp_path, capsys):
    missing = tmp_path / "no-such-model"  # never read: the scheme is refused first
    err = refused(capsys, "--model", missing, "--scheme", "int2", "--output", tmp_path / "o")
    assert err.startswith("error: --scheme: unknown scheme 'int2'; valid: int8-weight-only (")
    if not torch.cuda.is_available():
        err = refused(capsys, "--model", missing, "--scheme", "nf4", "--output", tmp_path / "o")
        assert err == (
            "error: --scheme nf4: bitsandbytes 4-bit NormalFloat (CUDA) needs a CUDA GPU and "
            "this machine has none; on CPU use int8-weight-only, int8-dynamic or int4-weight-only"
        )
    assert not (tmp_path / "o").exists()


def test_model_and_output_errors(quantized, chat_files, tmp_path, capsys):
    scheme = ["--scheme", "int8-weight-only"]
    err = refused(capsys, "--model", tmp_path / "nope", *scheme, "--output", tmp_path / "o")
    assert err.startswith(f"error: --model: '{tmp_path / 'nope'}' is neither a preset (")
    (tmp_path / "empty").mkdir()
    err = refused(capsys, "--model", tmp_path / "empty", *scheme, "--output", tmp_path / "o")
    assert err == (
        f"error: --model: '{tmp_path / 'empty'}' has no config.json "
        "(expected a Hugging Face model directory)"
    )
    q = quantized["int8-weight-only"]
    err = refused(capsys, "--model", q, *scheme, "--output", tmp_path / "o")
    assert err == (
        f"error: --model: '{q}' is already quantized (torchao, quantization_config in "
        f"{q / 'config.json'}); quantize the float model it came from"
    )
    (tmp_path / "run" / "adapter").mkdir(parents=True)
    err = refused(capsys, "--model", tmp_path / "run", *scheme, "--output", tmp_path / "o")
    assert err.startswith(f"error: --model: '{tmp_path / 'run'}' is a LoRA adapter run; merge")
    err = refused(capsys, "--model", BASE, *scheme, "--output", q)
    assert err == f"error: --output: '{q}' exists and is not empty (pass --overwrite to replace it)"
    err = refused(capsys, "--model", BASE, *scheme, "--output", tmp_path / "o",
                  "--eval-data", tmp_path / "missing.jsonl")  # fmt: skip
    assert str(tmp_path / "missing.jsonl") in err
    err = refused(capsys, "--model", BASE, "--scheme", "int4-weight-only", "--group-size", 128,
                  "--output", tmp_path / "o", "--eval-data", chat_files["validation"])  # fmt: skip
    assert err == (
        "error: --group-size: 128 does not divide the 64 input features of "
        "model.layers.0.self_attn.q_b_proj; choose a group size that does (e.g. 32)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "run"]  # nothing half-written
