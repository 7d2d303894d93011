"""output.report_to: the step records reach MLflow (a local file store) and W&B (offline run
files) as metrics.jsonl has them; a tracker whose library is missing is a one-line error."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.config.load import config_from_dict
from tunesmith.config.schema import OutputConfig
from tunesmith.errors import ConfigError
from tunesmith.training.trackers import check_trackers, report_to


def _run(chat_files, out: Path, report: list[str], steps: int = 3, **train_kw) -> Path:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], out, max_steps=steps, **train_kw)
    cfg["output"]["report_to"] = report
    cfg["output"]["project"] = "tunesmith-test"
    return train(cfg)


def _jsonl_losses(run: Path) -> dict[int, float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows}


def test_report_to_default_and_tensorboard_switch() -> None:
    assert report_to(OutputConfig()) == ["tensorboard"]
    assert report_to(OutputConfig(tensorboard=False)) == []
    assert report_to(OutputConfig(report_to=["mlflow", "tensorboard", "mlflow"])) == [
        "mlflow",
        "tensorboard",
    ]
    with pytest.raises(
        ConfigError,
        match=r"output.report_to\[1\]: 'neptune' is not one of tensorboard, mlflow, wandb, trackio",
    ):
        config_from_dict({"output": {"report_to": ["tensorboard", "neptune"]}})


def test_missing_library_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "trackio", None)  # import trackio -> ImportError
    with pytest.raises(ConfigError) as e:
        check_trackers(["tensorboard", "trackio"])
    assert str(e.value) == (
        "output.report_to: trackio needs the 'trackio' package: pip install "
        "'tunesmith[trackio]' (or drop trackio from output.report_to)"
    )


def test_mlflow_file_store_gets_the_metrics_and_config(chat_files, tmp_path, monkeypatch) -> None:
    pytest.importorskip("mlflow")  # a dev dependency; CI installs it
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run = _run(chat_files, tmp_path / "run", ["mlflow"])
    run_id = json.loads((run / "trackers.json").read_text())["mlflow"]
    client = MlflowClient(tracking_uri=store)
    got = {m.step: m.value for m in client.get_metric_history(run_id, "loss")}
    assert got == pytest.approx(_jsonl_losses(run), abs=1e-9)
    assert sorted(got) == [1, 2, 3]
    info = client.get_run(run_id)
    assert info.info.status == "FINISHED"
    assert info.info.run_name == "run"
    assert info.data.params["train.max_steps"] == "3"
    assert info.data.params["method.lora.r"] == "8"
    assert client.get_experiment(info.info.experiment_id).name == "tunesmith-test"
    assert not (run / "tensorboard").exists()  # report_to replaced the default


def test_resumed_run_continues_the_mlflow_run(chat_files, tmp_path, monkeypatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out = tmp_path / "run"
    _run(chat_files, out, ["mlflow"], steps=2, save_every=2, resume="auto")
    first = json.loads((out / "trackers.json").read_text())["mlflow"]
    run = _run(chat_files, out, ["mlflow"], steps=4, save_every=2, resume="auto")
    assert json.loads((run / "trackers.json").read_text())["mlflow"] == first
    client = MlflowClient(tracking_uri=store)
    got = {m.step: m.value for m in client.get_metric_history(first, "loss")}
    assert got == pytest.approx(_jsonl_losses(run), abs=1e-9)
    assert sorted(got) == [1, 2, 3, 4]
    assert len(client.search_runs([client.get_run(first).info.experiment_id])) == 1


def _wandb_records(path: Path) -> list[bytes]:
    """Payloads of a W&B run file: a 7-byte ':W&B' header, then LevelDB-log records
    (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) in 32 KiB blocks."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    out, part, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        part += payload
        if kind in (1, 4):
            out.append(part)
            part = b""
    return out


def test_wandb_offline_run_files_hold_the_metrics(chat_files, tmp_path, monkeypatch) -> None:
    pytest.importorskip("wandb")
    from wandb.proto import wandb_internal_pb2 as pb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = _run(chat_files, tmp_path / "run", ["wandb"])
    run_id = json.loads((run / "trackers.json").read_text())["wandb"]
    files = list((run / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 1
    history: dict[int, float] = {}
    config: dict[str, str] = {}
    for payload in _wandb_records(files[0]):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {
                i.key or ".".join(i.nested_key): json.loads(i.value_json)
                for i in record.history.item
            }
            if "loss" in items:
                history[items["_step"]] = items["loss"]
        elif kind == "run":
            assert record.run.project == "tunesmith-test"
            assert record.run.display_name == "run"
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
    assert history == pytest.approx(_jsonl_losses(run), abs=1e-9)
    assert sorted(history) == [1, 2, 3]
    assert config["train.max_steps"] == "3"
