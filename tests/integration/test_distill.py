"""`recipe: distill` on the demo task: a tiny Qwen2 student learning from a fine-tuned
tiny DeepSeek-V3 teacher beats the same student trained on the labels alone for the same
steps; LoRA students, the example config, DDP and bad teachers work as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.cli.main import main
from tunesmith.config import load_config
from tunesmith.models.load import load_trained
from tunesmith.training.distill import load_teacher

ROOT = Path(__file__).resolve().parents[2]
STEPS = 48


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models: one thread is as fast, and stays fast on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def teacher(chat_files, tmp_path_factory) -> Path:
    """The demo recipe in short: LoRA on the shipped tiny DeepSeek-V3 base, 25 steps."""
    out = tmp_path_factory.mktemp("distill") / "teacher"
    cfg = tiny_config("tiny-deepseek-v3-base", "lora", chat_files["train"], out, max_steps=25)
    cfg["method"]["lora"].update(r=16, alpha=32, trainable_tokens=["all-special"])
    cfg["train"]["lr"] = 5e-3
    return train(cfg)


def distill_config(chat_files, out: Path, teacher: Path, **train_overrides) -> dict:
    """recipe=distill with a full student (tiny Qwen2) and `teacher`."""
    cfg = tiny_config("tiny-qwen2", "full", chat_files["train"], out, **train_overrides)
    return {"recipe": "distill", **cfg, "distill": {"teacher": str(teacher)}}


def student(chat_files, out: Path, **distill) -> list[dict]:
    cfg = tiny_config("tiny-qwen2", "full", chat_files["train"], out, max_steps=STEPS)
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    cfg["train"]["eval_every"] = 12
    if distill:
        cfg |= {"recipe": "distill", "distill": distill}
    return metrics(train(cfg))


def test_distilled_student_beats_the_student_trained_on_labels(chat_files, teacher, tmp_path):
    labels = student(chat_files, tmp_path / "labels")
    kd = student(chat_files, tmp_path / "kd", teacher=str(teacher), alpha=0.5, temperature=2.0)
    evals = {
        name: [round(r["eval_loss"], 3) for r in run if "eval_loss" in r]
        for name, run in (("labels", labels), ("kd", kd))
    }
    # validation = the held-out keys; both runs see the same batches in the same order
    assert evals["labels"] == pytest.approx([3.124, 1.925, 1.720, 1.931], abs=0.01)
    assert evals["kd"] == pytest.approx([3.249, 1.968, 1.554, 1.155], abs=0.01)
    assert evals["kd"][-1] < evals["labels"][-1] - 0.5
    assert all("kd_loss" in r for r in kd) and not any("kd_loss" in r for r in labels)
    summary = json.loads((tmp_path / "kd" / "train_summary.json").read_text())
    assert (summary["recipe"], summary["method"]) == ("distill", "full")
    assert summary["distill"] == {
        "teacher": str(teacher),
        "student": "full",
        "alpha": 0.5,
        "temperature": 2.0,
    }
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "kd" / "model")
    assert model.config.model_type == "qwen2"
    config = yaml.safe_load((tmp_path / "kd" / "config.yaml").read_text())
    assert (config["recipe"], config["method"]["name"]) == ("distill", "full")


def test_teacher_from_a_run_directory_is_the_trained_model(teacher):
    cfg = load_config(None, ["recipe=distill", f"distill.teacher={teacher}"])
    adapted, tok = load_trained(teacher)
    frozen, _ = load_teacher(cfg, tok)
    ids = torch.tensor([[0, 17, 230, 1022, 5, 88]])
    with torch.no_grad():
        want = adapted.eval()(input_ids=ids).logits
        got = frozen(input_ids=ids).logits
    assert (got - want).abs().max().item() < 1e-4
    assert not any(p.requires_grad for p in frozen.parameters())


def test_example_config_with_a_lora_student(teacher, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the preset's data paths are relative to the repository
    out = tmp_path / "run"
    argv = [
        "train",
        "configs/tiny-qwen2/distill.yaml",
        f"distill.teacher={teacher}",
        "method.name=lora",
        "train.max_steps=2",
        "train.eval_every=0",
        "eval.max_samples=4",
        "train.progress=false",
        f"output.dir={out}",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "method=lora: " in printed
    assert f"distill: frozen teacher {teacher} (4,364,032 params), alpha=0.5, temperature=2" in (
        printed
    )
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert [sorted(r) for r in metrics(out)][0].count("kd_loss") == 1


def test_two_processes_follow_one_process_with_the_teacher_term(chat_files, teacher, tmp_path):
    """DDP on 2 processes x 1 micro-batch = 1 process x 2: same CE and KD per step."""
    cfg = distill_config(chat_files, tmp_path / "unused", teacher, max_steps=4)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    one = train(
        cfg | {"output": cfg["output"] | {"dir": str(tmp_path / "one")}}, ["train.grad_accum=2"]
    )
    cmd = [sys.executable, "-m", "tunesmith", "train", str(path), f"output.dir={tmp_path / 'two'}"]
    cmd += ["distributed.strategy=ddp", "--nproc", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for a, b in zip(metrics(one), metrics(tmp_path / "two"), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
        assert b["kd_loss"] == pytest.approx(a["kd_loss"], rel=1e-4)


def test_a_teacher_with_another_vocabulary_is_refused(chat_files, teacher, tmp_path, capsys):
    from tunesmith.models.tiny import tiny_llama_config
    from tunesmith.tokenize.templates import load_tokenizer

    other = tmp_path / "other"
    config = tiny_llama_config()
    config.vocab_size += 8
    AutoModelForCausalLM.from_config(config).save_pretrained(other)
    tok = load_tokenizer(None)
    tok.add_tokens(["<tool>"])
    tok.save_pretrained(other)
    cfg = distill_config(chat_files, tmp_path / "run", other, max_steps=1)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: distill.teacher: vocab mismatch: the teacher '{other}' has 4097 tokens, "
        "the student 4096, and token '<tool>' is id 4096 in the teacher but None in the "
        "student; distillation needs the same tokenizer for both\n"
    )
    assert not (tmp_path / "run" / "model").exists()
    assert main(["train", str(path), f"distill.teacher={teacher}"]) == 0  # retry works
