"""Bad input to `tunesmith train`: exit code 2, one clear line naming the field, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import tiny_config
from tunesmith.cli.main import main


@pytest.fixture
def cfg_path(chat_files, tmp_path) -> Path:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=2)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(["train", *argv])
    err = capsys.readouterr().err
    return code, err


CASES = [
    (
        ["model.name_or_path=/no/such/model"],
        "error: model.name_or_path: '/no/such/model' is neither a preset "
        "(tiny-deepseek-v3, tiny-deepseek-v3-base, tiny-llama, tiny-qwen2) nor an existing directory",
    ),
    (["model.tokenizer=/no/such/tok"], "error: model.tokenizer: '/no/such/tok' is not a directory"),
    (
        ["eval.metrics=[loss,blue]"],
        "error: eval.metrics: unknown ['blue']; valid: loss, em, f1, bleu, rouge1, rouge2, "
        "rouge_l, accuracy, macro_f1, roc_auc",
    ),
    (
        ["train.resume=/no/ckpt"],
        "error: train.resume: '/no/ckpt' is not a checkpoint directory (expected 'none', 'auto' "
        "or a path like runs/x/checkpoints/step-000010)",
    ),
    (
        ["train.precision=fp16"],
        "error: train.precision: fp16 needs a CUDA GPU; use bf16 or fp32 on CPU",
    ),
    (
        ["method.lora.target_modules=[q_proj,nonexistent_proj]"],
        "error: method.lora.target_modules: ['nonexistent_proj'] not in this model (qwen2); valid: "
        "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj (or 'all-linear')\n",
    ),
    (
        ["method.lora.modules_to_save=[lm_heads]"],
        "error: method.lora.modules_to_save: ['lm_heads'] not in this model; "
        "e.g. lm_head, model, embed_tokens\n",
    ),
    (
        ["method.lora.trainable_tokens=[all-special,<nope>]"],
        "error: method.lora.trainable_tokens: '<nope>' is not one token of this tokenizer "
        "(expected a token string such as '<think>', or 'all-special')\n",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), CASES)
def test_bad_input_messages(capsys, cfg_path, overrides, message) -> None:
    code, err = run_cli(capsys, str(cfg_path), *overrides)
    assert code == 2
    assert err.startswith(message), err
    assert len(err.splitlines()) == 1  # one line, no warnings or progress bars
    assert "Traceback" not in err


def test_model_dir_without_config(capsys, cfg_path, tmp_path) -> None:
    (tmp_path / "empty_model").mkdir()
    code, err = run_cli(capsys, str(cfg_path), f"model.name_or_path={tmp_path / 'empty_model'}")
    assert code == 2
    assert err == (
        f"error: model.name_or_path: '{tmp_path / 'empty_model'}' has no config.json "
        "(expected a Hugging Face model directory)\n"
    )


def test_existing_run_is_not_overwritten(capsys, cfg_path, tmp_path) -> None:
    assert main(["train", str(cfg_path)]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, err = run_cli(capsys, str(cfg_path), "train.lr=1e-2")
    assert code == 2
    assert err == (
        f"error: output.dir: '{run}' already holds a run; set train.resume=auto to continue it "
        "or output.overwrite=true to start over\n"
    )
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before


def test_early_stopping_metric_not_computed(capsys, cfg_path, chat_files) -> None:
    code, err = run_cli(
        capsys,
        str(cfg_path),
        f"data.validation=[{chat_files['validation']}]",
        "train.eval_every=1",
        "train.early_stopping_patience=1",
        "train.early_stopping_metric=eval_em",
    )
    assert code == 2
    assert err == (
        "error: train.early_stopping_metric: 'eval_em' is not computed; available with "
        "eval.metrics=['loss']: eval_loss, eval_ppl\n"
    )


def test_resume_auto_without_checkpoint_starts_fresh(cfg_path, tmp_path) -> None:
    assert main(["train", str(cfg_path), "train.resume=auto"]) == 0
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [1, 2]


def test_resume_auto_on_run_without_checkpoints(capsys, cfg_path, tmp_path) -> None:
    assert main(["train", str(cfg_path)]) == 0
    capsys.readouterr()
    code, err = run_cli(capsys, str(cfg_path), "train.resume=auto", "train.max_steps=4")
    assert code == 2
    assert err == (
        f"error: train.resume=auto: '{tmp_path / 'run'}' holds a run but no checkpoint to "
        "resume from (checkpoints need train.save_every > 0); set output.overwrite=true to "
        "start over\n"
    )
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()


def test_failed_start_does_not_block_retry(capsys, cfg_path, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"oops": 1}\n')
    code, err = run_cli(capsys, str(cfg_path), f"data.train=[{bad}]")
    assert code == 2 and err.startswith(f"error: {bad}:"), err
    assert not (tmp_path / "run").exists()  # no run dir holding only config.yaml
    assert main(["train", str(cfg_path)]) == 0


@pytest.mark.parametrize(("overrides", "message"), CASES[:2] + CASES[5:6])
def test_failed_checks_write_nothing(capsys, cfg_path, tmp_path, overrides, message) -> None:
    code, err = run_cli(capsys, str(cfg_path), *overrides)
    assert code == 2 and err.startswith(message), err
    assert not (tmp_path / "run").exists()


def test_record_size_guard_in_training(capsys, cfg_path, tmp_path) -> None:
    """The guard `data prepare` applies, with the same message, before anything tokenizes."""
    big = tmp_path / "big.jsonl"
    ok = {"instruction": "Say hi.", "output": "hi"}
    big.write_text(json.dumps(ok) + "\n" + json.dumps({**ok, "output": "x" * 5000}) + "\n")
    code, err = run_cli(capsys, str(cfg_path), f"data.train=[{big}]", "data.max_record_chars=4096")
    assert code == 2
    assert err == (
        f"error: {big}:2: field 'output': record has 5,007 characters (expected at most 4,096 "
        "characters per record; data.max_record_chars sets it)\n"
    )
    assert not (tmp_path / "run").exists()


def test_rerun_with_resume_auto_reports_a_finished_run(capsys, cfg_path, tmp_path) -> None:
    """The README tour's `train ... train.resume=auto` can be run twice: the second time it
    says the run is complete and exits 0, touching nothing."""
    assert main(["train", str(cfg_path), "train.resume=auto"]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", str(cfg_path), "train.resume=auto"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        f"{run}: this run is complete (2 steps with this config); nothing to do "
        f"(output.overwrite=true trains it again from the start)\n{run}\n"
    )
    assert captured.err == ""
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_vocab_larger_than_model_is_refused(capsys, cfg_path, tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    from tunesmith.models.tiny import tiny_qwen2_config

    config = tiny_qwen2_config()
    config.vocab_size = 1000
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "small_vocab")
    code, err = run_cli(capsys, str(cfg_path), f"model.name_or_path={tmp_path / 'small_vocab'}")
    assert code == 2
    assert err == (
        "error: model.tokenizer: the shipped tokenizer has 4096 tokens but the model has 1000 "
        "embedding rows; set model.tokenizer to the tokenizer trained with this model\n"
    )


def test_readme_tour_train_commands_can_be_rerun() -> None:
    """Every `tunesmith train` / `tunesmith.train(` of the README's tour carries
    train.resume=auto, which makes a second run report the finished run and exit 0."""
    readme = (Path(__file__).parents[2] / "README.md").read_text().replace("\\\n    ", " ")
    lines = [x.split("#")[0] for x in readme.splitlines() if x.startswith("tunesmith train ")]
    runs = [x for x in lines if "--help" not in x]
    api = readme.split("tunesmith.train(")[1].split(")")[0]
    assert len(runs) == 4, runs  # the tour's steps 2, 3 and 4
    assert all("train.resume=auto" in c for c in runs), runs
    assert 'train__resume="auto"' in api
