"""Checkpoints: written atomically (temp dir + rename), last K kept.

Every file goes into `.tmp-step-NNNNNN/` (state.json last), which is renamed to
`step-NNNNNN/` when complete: a process killed mid-write leaves only the temp dir, which
`train.resume=auto` ignores (it resumes from the newest complete checkpoint) and the next
save removes.

Layout of `checkpoints/step-000120/` (one process or DDP: replicated weights, rank 0 writes):
  trainable.safetensors   the parameters that require grad (LoRA weights, or the full model)
  optimizer.safetensors   AdamW state tensors, keyed "<param index>.<name>"
  optimizer.json          param groups, per-param scalar state and the lr schedule
  rng-<rank>.safetensors  torch CPU (and CUDA) RNG states of each process
  state.json              TrainState (data position, tokens, early-stopping bookkeeping)

Sharded strategies keep each rank's shard in the engine's own format instead of
trainable/optimizer.safetensors: `deepspeed/` (DeepSpeed `save_checkpoint`: ZeRO partitions
of weights and optimizer) or `dcp/` (torch.distributed.checkpoint of the FSDP2 model and
optimizer state dicts), plus `scheduler.json`. Every rank must call save and load.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tunesmith.errors import TunesmithError
from tunesmith.training.distributed import Ranks
from tunesmith.training.state import TrainState

PREFIX = "step-"


def _trainable(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{name}"] = value.contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _save_rng(path: Path) -> None:
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    save_file(rng, path)


def _load_rng(path: Path) -> None:
    rng = load_file(path)
    torch.set_rng_state(rng["cpu"])
    if torch.cuda.is_available():
        cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(
    root: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: TrainState,
    keep_last: int,
    ranks: Ranks | None = None,
) -> Path:
    """Write a checkpoint of step `state.step`; every rank calls this."""
    ranks = ranks or Ranks.single()
    final = root / f"{PREFIX}{state.step:06d}"
    tmp = root / f".tmp-{PREFIX}{state.step:06d}"
    if ranks.is_main:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    ranks.barrier()
    if ranks.strategy == "deepspeed":
        model.save_checkpoint(str(tmp / "deepspeed"), tag="zero", save_latest=False)
    elif ranks.strategy == "fsdp":
        dcp_save(model, optimizer, tmp / "dcp")
    elif ranks.is_main:
        save_file(_trainable(ranks.unwrap(model)), tmp / "trainable.safetensors")
        _test_pause(state.step)
        tensors, meta = _optimizer_tensors(optimizer)
        save_file(tensors, tmp / "optimizer.safetensors")
        meta["scheduler"] = scheduler.state_dict()
        (tmp / "optimizer.json").write_text(json.dumps(meta))
    _save_rng(tmp / f"rng-{ranks.rank}.safetensors")
    ranks.barrier()
    if ranks.is_main:
        if ranks.sharded:
            (tmp / "scheduler.json").write_text(json.dumps(scheduler.state_dict()))
        state.save(tmp / "state.json")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _prune(root, keep=list_checkpoints(root)[-keep_last:])
    ranks.barrier()
    return final


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first. A checkpoint is complete once renamed from its
    temp dir with state.json (written last) inside; a directory that lost files (a kill
    while old checkpoints were being deleted) is never resumed from."""
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()
    )


def _prune(root: Path, keep: list[Path]) -> None:
    """Delete every other step dir, and temp dirs a killed write left behind."""
    for path in sorted(root.iterdir()):
        stale = path.name.startswith((PREFIX, f".tmp-{PREFIX}")) and path not in keep
        if stale and path.is_dir():
            shutil.rmtree(path)


PAUSE_ENV = "TUNESMITH_TEST_CHECKPOINT_PAUSE"
"""Test-only: "STEP:FILE" makes the writer of step STEP's checkpoint create FILE after its
first file and wait there (up to 10 minutes), so a test can kill it mid-write."""


def _test_pause(step: int) -> None:
    spec = os.environ.get(PAUSE_ENV)
    if not spec or spec.split(":", 1)[0] != str(step):
        return
    Path(spec.split(":", 1)[1]).touch()
    time.sleep(600)


def load_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    ranks: Ranks | None = None,
) -> TrainState:
    """Restore weights, optimizer, schedule and RNG; every rank calls this."""
    ranks = ranks or Ranks.single()
    if not (path / "state.json").is_file():
        raise TunesmithError(f"train.resume: '{path}' is not a checkpoint (no state.json)")
    layout = (
        "deepspeed"
        if (path / "deepspeed").is_dir()
        else "dcp"
        if (path / "dcp").is_dir()
        else "none"
    )
    expected = {"deepspeed": "deepspeed", "fsdp": "dcp"}.get(ranks.strategy, "none")
    if layout != expected:
        raise TunesmithError(
            f"train.resume: checkpoint '{path}' was written with "
            f"{ {'deepspeed': 'deepspeed', 'dcp': 'fsdp', 'none': 'none/ddp'}[layout] } "
            f"sharding; resume it with the same distributed.strategy (now {ranks.strategy})"
        )
    if ranks.strategy == "deepspeed":
        model.load_checkpoint(str(path / "deepspeed"), tag="zero")
        scheduler.load_state_dict(json.loads((path / "scheduler.json").read_text()))
    elif ranks.strategy == "fsdp":
        dcp_load(model, optimizer, path / "dcp")
        scheduler.load_state_dict(json.loads((path / "scheduler.json").read_text()))
    else:
        _load_replicated(path, ranks.unwrap(model), optimizer, scheduler)
    rng = path / f"rng-{ranks.rank}.safetensors"
    if not rng.is_file():
        raise TunesmithError(
            f"train.resume: checkpoint '{path}' has no RNG state for rank {ranks.rank}; "
            "resume with the number of processes that wrote it"
        )
    _load_rng(rng)
    return TrainState.load(path / "state.json")


def _load_replicated(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    weights = load_file(path / "trainable.safetensors")
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise TunesmithError(
            f"train.resume: checkpoint '{path}' has parameters this model lacks: {missing[:3]}"
        )
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    meta = json.loads((path / "optimizer.json").read_text())
    tensors = load_file(path / "optimizer.safetensors")
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, scalars in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    scheduler.load_state_dict(meta["scheduler"])


def _state_dicts(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, getattr(optimizer, "optimizer", optimizer))
    return {"model": model_sd, "optim": optim_sd}


def dcp_save(model: torch.nn.Module, optimizer: torch.optim.Optimizer, path: Path) -> None:
    import torch.distributed.checkpoint as dcp

    dcp.save(_state_dicts(model, optimizer), checkpoint_id=str(path))


def dcp_load(model: torch.nn.Module, optimizer: torch.optim.Optimizer, path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    sd = _state_dicts(model, optimizer)
    dcp.load(sd, checkpoint_id=str(path))
    set_state_dict(
        model,
        getattr(optimizer, "optimizer", optimizer),
        model_state_dict=sd["model"],
        optim_state_dict=sd["optim"],
    )
