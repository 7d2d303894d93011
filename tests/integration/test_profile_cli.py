"""`tunesmith profile` end to end on tiny presets: tables, trace, report, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from tunesmith.cli.main import main
from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer


def run(capsys, argv: list[str]) -> tuple[int, str, str]:  # noqa: ANN001
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_profile_prints_tables_and_writes_the_trace(tmp_path, capsys, one_thread):
    out = tmp_path / "prof"
    argv = ["profile", "--model", "tiny-llama", "--batch-size", "2", "--seq-len", "16",
            "--steps", "2", "--warmup", "1", "--top", "5", "--output", str(out)]  # fmt: skip
    code, stdout, err = run(capsys, argv)
    assert code == 0, err
    for title in (
        "Top modules by time (forward, incl. children;",
        "Top operators by self time",
        "Top operators by memory allocated",
        "train step on tiny-llama: batch 2 x 16 tokens, float32, cpu (1 threads)",
        "FLOPs per step      173,015,040",  # 3 * (2*32*892,928 + 2 layers * 4*2*16^2*128)
        "FLOPs per token     5,406,720",
        "fraction of peak",
        f"trace               {out / 'trace.json'}",
    ):
        assert title in stdout, title
    report = json.loads((out / "profile.json").read_text())
    assert report["flops_per_step"] == 173_015_040 and report["tokens_per_step"] == 32
    assert report["trainable_parameters"] == report["parameters"] == 1_417_856
    assert 0 < report["fraction_of_peak"] < 1
    assert report["achieved_flops_per_s"] == pytest.approx(173_015_040 / report["step_time_s"])
    assert report["fraction_of_peak"] == pytest.approx(
        report["achieved_flops_per_s"] / report["peak_matmul_flops_per_s"]
    )
    assert len(report["step_times_s"]) == 2
    modules = {r["module"]: r for r in report["modules"]}
    assert modules["model.layers.*"]["calls_per_step"] == 2
    assert modules["lm_head"]["forward_flops_per_step"] == 2 * 32 * 128 * 4096
    ops = {r["op"]: r for r in report["operators"]}
    assert (
        ops["aten::mm"]["flops_per_step"]
        + ops["aten::_scaled_dot_product_flash_attention_for_cpu"]["flops_per_step"]
        + ops["aten::_scaled_dot_product_flash_attention_for_cpu_backward"]["flops_per_step"]
        == 173_015_040
    )
    trace = json.loads((out / "trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert {"module::model.layers.*.mlp", "module::lm_head", "aten::mm"} <= names


def test_infer_profile_of_a_run_with_a_lora_adapter(tmp_path, capsys, one_thread):
    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"))
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    run_dir = tmp_path / "run"
    lora.save_pretrained(run_dir / "adapter")
    (run_dir / "adapter" / "adapter_config.json").write_text(
        (run_dir / "adapter" / "adapter_config.json")
        .read_text()
        .replace('"base_model_name_or_path": null', '"base_model_name_or_path": "tiny-qwen2"')
    )
    out = tmp_path / "p"
    argv = ["profile", "--model", str(run_dir), "--mode", "infer", "--batch-size", "1",
            "--seq-len", "8", "--steps", "1", "--warmup", "0", "--output", str(out)]  # fmt: skip
    code, stdout, err = run(capsys, argv)
    assert code == 0, err
    report = json.loads((out / "profile.json").read_text())
    assert report["trainable_parameters"] == 0
    modules = {r["module"] for r in report["modules"]}
    assert "model.layers.*.self_attn.q_proj.lora_A.default" in modules  # kept unmerged
    argv[argv.index("--mode") + 1] = "train"
    argv[argv.index("--model") + 1 : argv.index("--model") + 2] = [
        "tiny-qwen2",
        "--adapter",
        str(run_dir),
    ]
    assert run(capsys, argv)[0] == 0
    lora_params = sum(p.numel() for n, p in lora.named_parameters() if "lora_" in n)
    assert json.loads((out / "profile.json").read_text())["trainable_parameters"] == lora_params


BAD = [
    (["--batch-size", "0"], "error: --batch-size: must be >= 1, got 0"),
    (["--seq-len", "0"], "error: --seq-len: must be >= 1, got 0"),
    (["--seq-len", "4096"], "error: --seq-len 4096: the model takes at most 2048 positions"),
    (["--steps", "0"], "error: --steps: must be >= 1, got 0"),
    (["--warmup", "-1"], "error: --warmup: must be >= 0, got -1"),
    (["--top", "0"], "error: --top: must be >= 1, got 0"),
    (["--model", "no/such"], "error: --model: 'no/such' is neither a preset (tiny-deepseek-v3, tiny-deepseek-v3-base, tiny-llama, tiny-qwen2) nor an existing directory"),
    (["--adapter", "{tmp}"], "error: --adapter: '{tmp}' has no adapter_config.json (expected a PEFT adapter directory such as RUN/adapter)"),
    (["--output", "{tmp}/file"], "error: --output: '{tmp}/file' exists and is not a directory"),
]  # fmt: skip
if not torch.cuda.is_available():
    BAD.append((["--device", "cuda"], "error: --device cuda: no CUDA device is available"))


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_options_exit_2(tmp_path, capsys, extra, message):
    (tmp_path / "file").write_text("x")
    extra = [x.format(tmp=tmp_path) for x in extra]
    argv = ["profile", "--model", "tiny-llama", "--output", str(tmp_path / "out"), *extra]
    code, stdout, err = run(capsys, argv)
    assert (code, stdout, err) == (2, "", message.format(tmp=tmp_path) + "\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "usage"),
    [
        (["--mode", "eval"], "error: --mode: 'eval' is not one of train, infer"),
        (["--dtype", "int8"], "error: --dtype: 'int8' is not one of float32, bfloat16, float16"),
        (["--device", "tpu"], "error: --device: 'tpu' is not one of auto, cpu, cuda"),
        (["--batch-size", "two"], "error: --batch-size: expected an integer, got 'two' (str)"),
    ],
)
def test_usage_errors_exit_2(capsys, extra, usage):
    code, stdout, err = run(capsys, ["profile", "--model", "tiny-llama", *extra])
    assert (code, stdout, err) == (2, "", usage + "\n")
