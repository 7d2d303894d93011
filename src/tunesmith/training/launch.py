"""`tunesmith train CONFIG --nproc N`: run N training processes on this machine (torchrun).

Each process re-enters `tunesmith train` with torchrun's RANK / WORLD_SIZE / MASTER_ADDR set;
the config's `distributed` section picks the engine. Multi-node runs use the same entry
point under torchrun, the deepspeed launcher or `accelerate launch` (docs/train.md).

A mistake shows once, as with one process: the launcher checks the config, model path, data
files and run dir (`preflight`) before it starts any process, and runs torchrun's agent in
its own process with the agent's logging silenced. A rank that fails on bad input writes its
one-line error to a file the launcher gave it instead of the terminal; the launcher prints
each distinct message once and exits with that rank's code. A crash (not bad input) keeps
its traceback on the terminal, and the launcher adds one line naming the rank.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError, TunesmithError

ERRORS_ENV = "TUNESMITH_RANK_ERRORS"
"""Directory where each rank of a `--nproc` launch files its bad-input error."""

_AGENT_LOGGERS = (
    "torch.distributed.elastic",
    "torch.distributed.launcher",
    "torch.distributed.run",
)


def torchrun_args(config: str, overrides: list[str], nproc: int) -> list[str]:
    return [
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "tunesmith.cli.main",
        "train",
        config,
        *overrides,
    ]


def preflight(cfg: Config) -> str | None:
    """What one process checks before loading weights, done once in the launcher.

    Raises the same errors `train` would (config, model path, data files, run dir); returns
    the "run is complete" line when `train.resume=auto` finds this run finished, else None.
    """
    from tunesmith.data.sources import expand_paths
    from tunesmith.models.load import resolve_model_dir
    from tunesmith.training.loop import check_training_config
    from tunesmith.training.run_dir import finished_run, plan_run_dir

    check_training_config(cfg)
    done = finished_run(cfg)
    if done is not None:
        return done
    plan_run_dir(cfg)
    resolve_model_dir(cfg.model.name_or_path)
    if not cfg.data.train:
        raise ConfigError("data.train: no training files given (expected a list of paths)")
    expand_paths([*cfg.data.train, *cfg.data.validation])
    return None


def launch_local(cfg: Config, config: str, overrides: list[str], nproc: int) -> int:
    """Run `nproc` processes and wait; returns the exit code (non-zero if any rank failed)."""
    if nproc < 1:
        raise ConfigError(f"--nproc: {nproc} processes; expected 1 or more")
    if cfg.distributed.strategy == "none" and nproc > 1:
        raise ConfigError(
            f"--nproc {nproc}: distributed.strategy is 'none'; set distributed.strategy to ddp, "
            "deepspeed or fsdp (e.g. distributed.strategy=ddp)"
        )
    if "WORLD_SIZE" in os.environ:
        raise ConfigError("--nproc: already inside a distributed launch; drop --nproc")
    from tunesmith.training.data import override_keys, validation_rule

    validation_rule(cfg, override_keys(overrides))  # as each rank will (api.train prints it)
    done = preflight(cfg)
    if done is not None:
        print(done, flush=True)
        return 0
    # One CPU thread per process unless the user chose; N processes share this machine's cores.
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
    with tempfile.TemporaryDirectory(prefix="tunesmith-ranks-") as errors:
        env = {"OMP_NUM_THREADS": threads, ERRORS_ENV: errors}
        with _environ(env), _quiet_agent():
            failure = _run_agent(torchrun_args(config, overrides, nproc))
        if isinstance(failure, int):
            return failure
        if failure is None:
            return 0
        return _report(Path(errors), *failure)


def _run_agent(args: list[str]) -> tuple[int, int] | int | None:
    """torchrun's agent in this process; None on success, (rank, exit code) of the first
    failed rank, or the exit code when the launcher itself was stopped by a signal (the
    agent has then stopped the ranks)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(args))
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        return rank, failure.exitcode
    except SignalException as e:
        if e.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None  # the CLI says "interrupted", exit 130
        print(f"training stopped: the launcher received {e.sigval.name}", file=sys.stderr)
        return 128 + int(e.sigval)
    return None


def _report(errors: Path, rank: int, exitcode: int) -> int:
    """Print each distinct rank error once; the exit code to return."""
    filed = [json.loads(p.read_text()) for p in sorted(errors.glob("rank-*.json"))]
    if filed:
        seen: list[str] = []
        for entry in filed:
            if entry["message"] not in seen:
                seen.append(entry["message"])
                print(f"error: {entry['message']}", file=sys.stderr)
        return int(filed[0]["exit_code"])
    how = f"was killed by signal {-exitcode}" if exitcode < 0 else f"exited with code {exitcode}"
    print(f"error: training process of rank {rank} {how} (its output is above)", file=sys.stderr)
    return exitcode if exitcode > 0 else 1


def file_rank_error(error: TunesmithError) -> bool:
    """In a rank of a `--nproc` launch, file `error` for the launcher to print once; True
    when filed (the caller then prints nothing)."""
    errors = os.environ.get(ERRORS_ENV)
    if not errors or not Path(errors).is_dir():
        return False
    entry = {"message": str(error), "exit_code": error.exit_code}
    path = Path(errors) / f"rank-{int(os.environ.get('RANK', '0')):05d}.json"
    path.write_text(json.dumps(entry), encoding="utf-8")
    return True


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet_agent() -> Iterator[None]:
    """Silence the agent's own log lines (SIGTERM notices, failure summaries): the launcher
    reports failures itself. Workers' output is untouched."""
    import torch.distributed.run  # noqa: F401 - creates the agent's loggers

    names = [n for n in logging.root.manager.loggerDict if n.startswith(_AGENT_LOGGERS)]
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)
