"""Bad method / distributed settings: exact messages, exit 2, nothing trained."""

from __future__ import annotations

import json

import pytest
import yaml

from helpers import tiny_config
from tunesmith.cli.main import main
from tunesmith.training.checkpoint import load_checkpoint
from tunesmith.training.distributed import Ranks


@pytest.fixture
def cfg_file(chat_files, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        yaml.safe_dump(tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run"))
    )
    return path


CASES = [
    (
        ["method.name=qlora"],
        "error: method.name: qlora loads the base in 4-bit with bitsandbytes, which needs a CUDA "
        "GPU; none is visible here. Use method.name=lora (same adapter format) on CPU",
    ),
    (
        ["method.name=prefix"],
        "error: data.packing: prefix tuning prepends virtual tokens to every sample, which a "
        "packed row cannot express; set data.packing=false",
    ),
    (
        ["method.name=prefix", "data.packing=false", "train.gradient_checkpointing=true"],
        "error: train.gradient_checkpointing: PEFT prefix tuning does not work with gradient "
        "checkpointing; set it to false (prefix tuning trains few parameters anyway)",
    ),
    (
        ["method.name=full", "method.lora.plus_lr_ratio=16"],
        "error: method.lora.plus_lr_ratio: LoRA+ applies to lora/dora/qlora, not full",
    ),
    (
        ["train.router_aux_loss_coef=0.01"],
        "error: train.router_aux_loss_coef: this model has no MoE router (DeepSeek-V3 / V2 MoE "
        "layers have one); set it to 0",
    ),
    (
        ["distributed.strategy=ddp", "distributed.offload_optimizer=cpu"],
        "error: distributed.offload_optimizer: only with strategy deepspeed",
    ),
    (
        ["distributed.strategy=deepspeed", "distributed.offload_params=cpu"],
        "error: distributed.offload_params: parameter offload needs zero_stage 3",
    ),
    (
        ["distributed.backend=nccl"],
        "error: distributed.backend: nccl needs CUDA GPUs; use gloo (or auto) on CPU",
    ),
    (
        ["distributed.zero_stage=4"],
        "error: distributed.zero_stage: 4 is not one of 1, 2, 3",
    ),
    (
        ["method.name=freeze"],
        "error: method.freeze: nothing to train; set trainable_layers (e.g. ['-2:']) and/or "
        "trainable_modules (e.g. ['lm_head'])",
    ),
    (
        ["--nproc", "2"],
        "error: --nproc 2: distributed.strategy is 'none'; set distributed.strategy to ddp, "
        "deepspeed or fsdp (e.g. distributed.strategy=ddp)",
    ),
    (
        ["distributed.strategy=ddp", "--nproc", "0"],
        "error: --nproc: 0 processes; expected 1 or more",
    ),
    (  # overrides may follow the option too
        ["--nproc", "0", "distributed.strategy=ddp"],
        "error: --nproc: 0 processes; expected 1 or more",
    ),
    (["--nproc", "2", "--bogus"], "usage: tunesmith"),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_bad_settings(cfg_file, args, message, capsys) -> None:
    assert main(["train", str(cfg_file), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    run = cfg_file.parent / "run"
    assert not (run / "metrics.jsonl").exists() and not (run / "adapter").exists()


def test_resume_needs_the_strategy_that_wrote_the_checkpoint(cfg_file, capsys) -> None:
    assert main(["train", str(cfg_file), "train.save_every=3"]) == 0
    ckpt = cfg_file.parent / "run" / "checkpoints" / "step-000006"
    with pytest.raises(Exception) as e:
        load_checkpoint(ckpt, model=None, optimizer=None, scheduler=None, ranks=Ranks(None, "fsdp"))
    assert str(e.value) == (
        f"train.resume: checkpoint '{ckpt}' was written with none/ddp sharding; resume it with "
        "the same distributed.strategy (now fsdp)"
    )
    assert json.loads((ckpt / "state.json").read_text())["step"] == 6
