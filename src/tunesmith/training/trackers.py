"""Experiment trackers the step records go to (output.report_to), beside metrics.jsonl.

    trackers = open_trackers(report_to(cfg.output), run_dir, cfg, resume_step=state.step)
    for t in trackers: t.log(record, step)   ...   t.close()

Each tracker's library is imported only when it is asked for; a missing one is a ConfigError
naming the pip extra. A resumed run continues the same tracker run: the ids of the runs a
tracker opened are kept in RUN/trackers.json.

- tensorboard: RUN/tensorboard (events after the resumed step are purged)
- mlflow: MLFLOW_TRACKING_URI, else a file store in RUN/mlruns (mlflow 3 keeps file stores
  behind MLFLOW_ALLOW_FILE_STORE, which is set for it); experiment output.project,
  run named after the run directory, the flattened config as parameters
- wandb: wandb.init(project=output.project, dir=RUN, id kept for resume); WANDB_MODE=offline
  writes RUN/wandb/offline-run-*/ for `wandb sync`
- trackio: trackio.init(project=output.project, name=the run directory's name)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tunesmith.config.load import config_to_dict
from tunesmith.config.schema import Config, OutputConfig
from tunesmith.errors import ConfigError

IDS_FILE = "trackers.json"


class Tracker(Protocol):
    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def report_to(output: OutputConfig) -> list[str]:
    """output.report_to, without tensorboard when output.tensorboard is false; deduplicated."""
    names = [n for n in output.report_to if n != "tensorboard" or output.tensorboard]
    return list(dict.fromkeys(names))


def _require(module: str, tracker: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"output.report_to: {tracker} needs the '{module.split('.')[0]}' package: "
            f"pip install 'tunesmith[{tracker}]' (or drop {tracker} from output.report_to)"
        ) from None


def flat_config(cfg: Config | None) -> dict[str, str]:
    """The config as dotted keys -> text values (tracker parameters)."""
    out: dict[str, str] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{prefix}.{k}" if prefix else k)
        else:
            out[prefix] = json.dumps(value) if isinstance(value, list) else str(value)

    if cfg is not None:
        walk(config_to_dict(cfg), "")
    return out


class _Ids:
    """RUN/trackers.json: tracker name -> the id of the run it opened."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / IDS_FILE
        self.ids: dict[str, str] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, name: str) -> str | None:
        return self.ids.get(name)

    def set(self, name: str, value: str) -> None:
        self.ids[name] = value
        self.path.write_text(json.dumps(self.ids, indent=1) + "\n")


class TensorBoardTracker:
    def __init__(self, run_dir: Path, cfg: Config | None, resume_step: int, ids: _Ids) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(
            log_dir=str(run_dir / "tensorboard"), purge_step=resume_step + 1
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


class MLflowTracker:
    def __init__(self, run_dir: Path, cfg: Config | None, resume_step: int, ids: _Ids) -> None:
        import os

        _require("mlflow", "mlflow")
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # run-local, as RUN/tensorboard; mlflow 3 keeps file stores behind a flag
            uri = (run_dir / "mlruns").resolve().as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            self.client = MlflowClient(tracking_uri=uri)
        except Exception as e:  # mlflow raises its own types for a store it cannot open
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(
                f"output.report_to: mlflow cannot open the tracking store {uri} ({first[:300]}); "
                "set MLFLOW_TRACKING_URI to a server (http://...) or a store this mlflow reads"
            ) from None
        run_id = ids.get("mlflow")
        if run_id is None:
            project = cfg.output.project if cfg is not None else "tunesmith"
            exp = self.client.get_experiment_by_name(project)
            exp_id = exp.experiment_id if exp else self.client.create_experiment(project)
            run = self.client.create_run(exp_id, run_name=run_dir.name)
            run_id = run.info.run_id
            ids.set("mlflow", run_id)
            params = flat_config(cfg)
            from mlflow.entities import Param

            items = [Param(k, v[:6000]) for k, v in params.items()]
            for i in range(0, len(items), 100):  # the store's batch limit
                self.client.log_batch(run_id, params=items[i : i + 100])
        else:
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id

    def log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


class WandbTracker:
    def __init__(self, run_dir: Path, cfg: Config | None, resume_step: int, ids: _Ids) -> None:
        wandb = _require("wandb", "wandb")
        run_id = ids.get("wandb") or uuid.uuid4().hex[:12]
        ids.set("wandb", run_id)
        self.run = wandb.init(
            project=cfg.output.project if cfg is not None else "tunesmith",
            name=run_dir.name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=flat_config(cfg),
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class TrackioTracker:
    def __init__(self, run_dir: Path, cfg: Config | None, resume_step: int, ids: _Ids) -> None:
        trackio = _require("trackio", "trackio")
        self.run = trackio.init(
            project=cfg.output.project if cfg is not None else "tunesmith",
            name=run_dir.name,
            config=flat_config(cfg),
            resume="allow",
        )
        self.trackio = trackio

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.trackio.log(metrics, step=step)

    def close(self) -> None:
        self.trackio.finish()


TRACKER_CLASSES: dict[str, Callable[..., Tracker]] = {
    "tensorboard": TensorBoardTracker,
    "mlflow": MLflowTracker,
    "wandb": WandbTracker,
    "trackio": TrackioTracker,
}


def check_trackers(names: list[str]) -> None:
    """Fail before training when a tracker's library is not installed."""
    for name in names:
        if name != "tensorboard":
            _require(name, name)


def open_trackers(
    names: list[str], run_dir: Path, cfg: Config | None, *, resume_step: int = 0
) -> list[Tracker]:
    ids = _Ids(run_dir)
    return [TRACKER_CLASSES[n](run_dir, cfg, resume_step, ids) for n in names]
