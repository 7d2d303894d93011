"""Warnings only when they mean something to the user: dependency internals stay quiet,
the user's own warnings and native errors still show."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import warnings

import torch

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.log import quiet_libraries

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

PLAIN_PEFT = """
import sys
import tunesmith  # first, as a user who also uses tunesmith would
from peft import AutoPeftModelForCausalLM, LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from tunesmith.models.tiny import tiny_llama_config

out = sys.argv[1]
base = AutoModelForCausalLM.from_config(tiny_llama_config())
base.save_pretrained(out + "/base")
peft = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj"]))
peft.peft_config["default"].base_model_name_or_path = out + "/base"
peft.save_pretrained(out + "/adapter")
model = AutoPeftModelForCausalLM.from_pretrained(out + "/adapter")
print(type(model).__name__)
"""


def test_plain_peft_after_import_tunesmith_is_quiet(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_PEFT, str(tmp_path)],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "PeftModelForCausalLM"
    for noise in ("Failed to load", "_C_mxfp8", "_pytree", "Warning", "deprecated"):
        assert noise not in proc.stderr, proc.stderr


def test_profile_prints_no_profiler_start_lines(tmp_path) -> None:
    argv = ["profile", "--model", "tiny-llama", "--batch-size", "1", "--seq-len", "8",
            "--steps", "1", "--warmup", "0", "--top", "2", "--output", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli.main", *argv],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stderr == ""  # no `USDT: ... profiler_start` / `STAGE:` lines
    assert "Top operators by self time" in proc.stdout


NATIVE = """
import os, sys
from tunesmith.log import native_stderr_without
with native_stderr_without():
    os.write(2, b"USDT:2026 x.cpp:52] profiler_start\\n")
    os.write(2, b"ERROR:2026 x.cpp:9] a real native error\\n")
    print("python line", file=sys.stderr)
    os.write(2, b"STAGE:2026 Completed Stage: Warm Up\\n")
print("after", file=sys.stderr)
"""


def test_native_noise_dropped_errors_kept() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", NATIVE], env=ENV, capture_output=True, text=True, check=True
    )
    assert proc.stderr.splitlines() == [
        "ERROR:2026 x.cpp:9] a real native error",
        "python line",
        "after",
    ]


def test_zero3_reduce_scatter_deprecation_hidden_user_warnings_kept() -> None:
    quiet_libraries()
    with warnings.catch_warnings(record=True) as caught:
        # DeepSpeed ZeRO-3 calls this every step; no process group here, so it raises
        with contextlib.suppress(RuntimeError, ValueError):
            torch.distributed.reduce_scatter_tensor(torch.zeros(1), torch.zeros(2))
        warnings.warn("the user's own warning", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["the user's own warning"]


def test_no_validation_line_without_validation_data(tmp_path, chat_files, capsys) -> None:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=1)
    train(cfg)
    out = capsys.readouterr().out
    assert "data train: 64 records -> 64 samples" in out
    assert "data validation" not in out
