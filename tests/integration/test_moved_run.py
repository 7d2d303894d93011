"""A run directory works after `mv`/copy: chat/serve loading, generate, export merge, plain
PEFT; a base that is really missing is named with the ways to point at it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.cli.main import main
from tunesmith.errors import ConfigError
from tunesmith.models.load import load_trained
from tunesmith.serve.loading import load_served

IDS = torch.tensor([[0, 5, 17, 300, 42, 7, 1]])


@pytest.fixture(scope="module")
def trained(chat_files, tmp_path_factory):
    """A LoRA run on a random-init preset (its base lives in the run: `base/`), and the
    logits tunesmith gives before it is moved."""
    root = tmp_path_factory.mktemp("where-it-was")
    run = train(tiny_config("tiny-deepseek-v3", "lora", chat_files["train"], root / "run",
                            max_steps=2))  # fmt: skip
    model, _ = load_trained(run)
    with torch.no_grad():
        logits = model.eval()(IDS).logits
    return run, logits


@pytest.fixture
def moved(trained, tmp_path, monkeypatch):
    run, logits = trained
    target = tmp_path / "elsewhere" / "moved-lora"
    target.parent.mkdir()
    shutil.copytree(run, target)  # a copy, then the original goes away: a move
    monkeypatch.chdir(tmp_path)
    return target, logits, run


def test_adapter_names_its_base_by_absolute_path(trained) -> None:
    run, _ = trained  # what plain AutoPeftModelForCausalLM loads from any working directory
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str((run / "base").resolve())


def test_moved_run_loads_serves_and_merges(moved, tmp_path, capsys) -> None:
    target, logits, original = moved
    hidden = original.with_name("gone")
    original.rename(hidden)  # nothing may still point at the old place
    try:
        model, tok, served = load_served(str(target))  # what serve and chat load
        with torch.no_grad():
            assert torch.allclose(model.eval()(IDS).logits, logits, atol=1e-6)
        assert served == {str(target): "default"}

        prompts = tmp_path / "p.jsonl"
        prompts.write_text('{"prompt": "Reverse: cat dog"}\n')
        argv = ["generate", "--model", str(target), "--input", str(prompts), "--output",
                str(tmp_path / "out.jsonl"), "--max-tokens", "4"]  # fmt: skip
        assert main(argv) == 0, capsys.readouterr().err
        row = json.loads((tmp_path / "out.jsonl").read_text())
        assert row["usage"]["completion_tokens"] == 4

        merged = tmp_path / "merged"
        argv = ["export", "merge", "--adapter", str(target), "--output", str(merged)]
        assert main(argv) == 0, capsys.readouterr().err
        plain_merged = AutoModelForCausalLM.from_pretrained(merged).eval()
        with torch.no_grad():
            assert torch.allclose(plain_merged(IDS).logits, logits, atol=1e-4)
    finally:
        hidden.rename(original)


def test_plain_peft_loads_the_moved_adapter(moved) -> None:
    target, logits, _ = moved
    base = AutoModelForCausalLM.from_pretrained(target / "base")  # the run's own base
    plain = PeftModel.from_pretrained(base, target / "adapter").eval()
    with torch.no_grad():
        assert (plain(IDS).logits - logits).abs().max() < 1e-3  # HF's default attention


def test_relative_base_is_read_against_the_adapter(moved) -> None:
    target, logits, _ = moved  # e.g. written by hand, or by another tool
    config_file = target / "adapter" / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = "../base"
    config_file.write_text(json.dumps(config))
    model, _ = load_trained(target)
    with torch.no_grad():
        assert torch.allclose(model.eval()(IDS).logits, logits, atol=1e-6)


def test_missing_base_is_named_with_the_ways_to_point_at_it(moved, capsys) -> None:
    target, _, original = moved
    shutil.rmtree(target / "base")
    hidden = original.with_name("gone")
    original.rename(hidden)
    try:
        with pytest.raises(ConfigError) as e:
            load_trained(target)
        argv = ["export", "merge", "--adapter", str(target), "--output", str(target / "m")]
        assert main(argv) == 2
    finally:
        hidden.rename(original)
    adapter, old = target / "adapter", (original / "base").resolve()
    assert str(e.value) == (
        f"{adapter}: the adapter's base model '{old}' (base_model_name_or_path in "
        f"adapter_config.json) is not here: not a preset and no model at '{old}' or "
        f"'{(target / 'base').resolve()}'; "
        f"copy that model there, or set base_model_name_or_path in {adapter}/adapter_config.json "
        "to a preset name or a model directory (absolute, or relative to the adapter directory)"
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: {adapter}: the adapter's base model '{old}'")
    assert "; pass --base PRESET_OR_DIR; or copy that model there" in err
    assert not (target / "m").exists()


def test_shipped_base_is_recorded_by_name(chat_files, tmp_path) -> None:
    """The demo's case: not a path into the installed package, so another install (or
    machine) finds the base too."""
    cfg = tiny_config("tiny-deepseek-v3-base", "lora", chat_files["train"], tmp_path / "run",
                      max_steps=1)  # fmt: skip
    run = train(cfg)
    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny-deepseek-v3-base"
    assert not (run / "base").exists()
    model, _ = load_trained(run)
    assert type(model).__name__ == "PeftModelForCausalLM"
