"""`train.save_best`: best/ holds the weights of the best evaluation by the watched metric."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.cli.main import main


@pytest.mark.parametrize(("metric", "mode"), [("eval_loss", "min"), ("eval_em", "max")])
def test_best_dir_is_the_best_evaluation(chat_files, tmp_path, metric, mode) -> None:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run",
                      max_steps=8, eval_every=2, save_every=2, keep_last=8, lr=5e-2)  # fmt: skip
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    cfg["eval"] = {"metrics": ["loss", "em"], "max_new_tokens": 8}
    cfg["train"].update(save_best=True, early_stopping_metric=metric, early_stopping_mode=mode)
    run = train(cfg)
    history = json.loads((run / "train_summary.json").read_text())
    evals = {r["step"]: r[metric] for r in
             (json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()) if metric in r}  # fmt: skip
    assert sorted(evals) == [2, 4, 6, 8]
    pick = min if mode == "min" else max
    best_value = pick(evals.values())
    best_step = min(s for s, v in evals.items() if v == best_value)  # the first to reach it
    assert history["best"] == {
        "metric": metric, "value": best_value, "step": best_step, "dir": str(run / "best"),
    }  # fmt: skip
    # best/ is the adapter as it was at that step: its weights are the checkpoint's
    saved = load_file(run / "best" / "adapter_model.safetensors")
    ckpt = load_file(run / "checkpoints" / f"step-{best_step:06d}" / "trainable.safetensors")
    ckpt = {k.replace(".default.", "."): v for k, v in ckpt.items()}
    assert saved.keys() == ckpt.keys()
    assert all(torch.equal(saved[k], ckpt[k]) for k in saved)


def test_save_best_needs_a_computed_metric(chat_files, tmp_path, capsys) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        json.dumps(tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "r"))
    )
    args = ["train", str(cfg), "train.save_best=true"]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        "error: train.save_best=True needs validation data: set data.validation or data.val_split\n"
    )
    val = f"data.validation=[{chat_files['validation']}]"
    assert main([*args, val, "train.early_stopping_metric=eval_em"]) == 2
    assert capsys.readouterr().err == (
        "error: train.early_stopping_metric: 'eval_em' is not computed; available with "
        "eval.metrics=['loss']: eval_loss, eval_ppl\n"
    )
