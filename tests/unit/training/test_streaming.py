"""data.streaming: a jsonl file read as a stream under a memory bound, its place in
TrainState, and resume that continues the uninterrupted run exactly."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
import torch

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.config.load import config_from_dict
from tunesmith.data.stream import START, JsonlReader
from tunesmith.demo.task import chat_dataset
from tunesmith.errors import ConfigError, DataError
from tunesmith.tokenize.templates import load_tokenizer
from tunesmith.training.data import EncodeStats
from tunesmith.training.setup import check
from tunesmith.training.state import TrainState
from tunesmith.training.streaming import StreamingBatches


def write(path: Path, records: list[dict], pad: int = 0) -> Path:
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps({**r, "note": "x" * pad} if pad else r) + "\n")
    return path


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(None)


def stream_of(path: Path, tok, **data) -> tuple[StreamingBatches, EncodeStats]:
    cfg = config_from_dict(
        {
            "data": {"train": [str(path)], "streaming": True, "max_len": 128, **data},
            "train": {"max_steps": 5, "batch_tokens": 256, "batch_size": 3, "seed": 1},
        }
    )
    stats = EncodeStats()
    return StreamingBatches(cfg, tok, stats), stats


def test_reader_positions_seek_back_and_resume(tmp_path) -> None:
    train, _ = chat_dataset(5, 0, seed=1)
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps(train[0]) + "\n\n" + "".join(json.dumps(r) + "\n" for r in train[1:])
    )
    reader = JsonlReader([path])
    items = list(reader.read_from(START))
    assert [pos.line for pos, _, _ in items] == [1, 3, 4, 5, 6]  # the blank line skipped
    assert [rec.data for _, rec, _ in items] == train
    for pos, rec, _ in items:
        assert reader.read_at(pos).data == rec.data
    rest = list(reader.read_from(items[2][2]))  # after the third record
    assert [rec.data for _, rec, _ in rest] == train[3:]


def test_streaming_reads_jsonl_only(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("text\nhello\n")
    with pytest.raises(DataError, match=r"a.csv: field 'data.train': data.streaming reads jsonl"):
        JsonlReader([tmp_path / "a.csv"])


def test_reader_holds_a_bounded_number_of_records(tmp_path, tok) -> None:
    """A 6 MB file streamed with a 16-sample buffer: the stream never holds more than 17
    samples, and Python's peak allocation stays far below the file's size."""
    train, _ = chat_dataset(120, 0, seed=2)
    path = write(tmp_path / "big.jsonl", train, pad=50_000)  # ~50 KB per line, ~6 MB
    size = path.stat().st_size
    assert size > 6_000_000
    stream, stats = stream_of(path, tok, shuffle_buffer=16)
    state = TrainState()
    tracemalloc.start()
    try:
        while stream.epoch == 0:  # one full pass over the file
            stream.window(state, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.records >= 120 and stats.kept == stats.records
    assert stream.max_held <= 17  # the buffer and the carry
    assert peak < size / 10, (peak, size)


def _batches(stream: StreamingBatches, state: TrainState, n: int) -> list[dict]:
    return [stream.window(state, 1)[0] for _ in range(n)]


@pytest.mark.parametrize("packing", [True, False])
def test_restored_stream_continues_exactly(tmp_path, tok, packing) -> None:
    """Two epochs of a 20-record file: a stream rebuilt from a json round trip of
    TrainState.stream after 7 micro-batches gives the same batches as one never stopped."""
    train, _ = chat_dataset(20, 0, seed=3)
    path = write(tmp_path / "t.jsonl", train)
    straight, _ = stream_of(path, tok, shuffle_buffer=6, packing=packing)
    want = _batches(straight, TrainState(), 20)
    assert straight.epoch >= 1  # crossed the end of the file

    first, _ = stream_of(path, tok, shuffle_buffer=6, packing=packing)
    state = TrainState()
    got = _batches(first, state, 7)
    saved = TrainState(**json.loads(json.dumps(state.__dict__)))
    second, stats = stream_of(path, tok, shuffle_buffer=6, packing=packing)
    got += _batches(second, saved, 13)
    assert stats.records == straight.stats.records
    for a, b in zip(want, got, strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    # packing fills rows up to batch_tokens, never past it
    if packing:
        assert all(b["input_ids"].numel() <= 256 for b in want)


def test_streaming_limits_are_config_errors() -> None:
    base = {"data": {"train": ["x.jsonl"], "streaming": True}}
    with pytest.raises(ConfigError, match="data.streaming: the number of samples is known only"):
        check(config_from_dict(base))
    with pytest.raises(ConfigError, match="data.val_split: a stream cannot hold out"):
        check(config_from_dict({**base, "train": {"max_steps": 3}, "data": {
            **base["data"], "val_split": 0.1}}))  # fmt: skip
    with pytest.raises(ConfigError, match="data.streaming: recipe preference"):
        check(config_from_dict({**base, "recipe": "preference", "train": {"max_steps": 3}}))


def test_bad_record_in_a_stream_names_file_and_line(tmp_path, tok) -> None:
    train, _ = chat_dataset(3, 0, seed=4)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(train[0]) + "\n{not json\n")
    stream, _ = stream_of(path, tok, shuffle_buffer=4)
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        stream.window(TrainState(), 1)
    skipping, stats = stream_of(path, tok, shuffle_buffer=4, on_error="skip")
    skipping.rejects = tmp_path / "rejects.jsonl"
    skipping.window(TrainState(), 1)  # a row of 256 tokens: the one good record many times
    assert skipping.epoch > 1
    assert stats.records == 2 * stats.kept and stats.kept == stats.rejected  # per pass: 1 + 1
    rejects = [json.loads(x) for x in skipping.rejects.read_text().splitlines()]
    assert [(r["source"], r["reason"]) for r in rejects] == [(f"{path}:2", "invalid_json")]


def _losses(run: Path) -> dict[int, float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows}


def test_resumed_streaming_run_equals_uninterrupted(tmp_path) -> None:
    """Stopped at step 4 (its checkpoint holds the stream's place), continued to step 8
    with train.resume=auto: the same losses and adapter as one run of 8 steps. NEFTune is on
    so the restored RNG matters too; the 24-record file wraps into a second epoch."""
    train_recs, _ = chat_dataset(24, 0, seed=5)
    data = write(tmp_path / "train.jsonl", train_recs)

    def cfg(out: Path, steps: int) -> dict:
        c = tiny_config("tiny-qwen2", "lora", data, out, max_steps=steps, save_every=4)
        c["train"].update(batch_tokens=192, neftune_alpha=5.0, resume="auto")
        c["data"].update(streaming=True, shuffle_buffer=5)
        return c

    straight = train(cfg(tmp_path / "straight", 8))
    stopped = train(cfg(tmp_path / "resumed", 4))
    state = json.loads((stopped / "checkpoints" / "step-000004" / "state.json").read_text())
    assert state["stream"]["buffer"] and state["stream"]["draws"] > 0
    resumed = train(cfg(tmp_path / "resumed", 8))
    want, got = _losses(straight), _losses(resumed)
    assert sorted(got) == list(range(1, 9))
    assert got == pytest.approx(want, abs=1e-6)
    summary = json.loads((straight / "train_summary.json").read_text())
    assert summary["data"]["train"]["records"] > 24  # read past the end: a second epoch
    from safetensors.torch import load_file

    a = load_file(straight / "adapter" / "adapter_model.safetensors")
    b = load_file(resumed / "adapter" / "adapter_model.safetensors")
    assert all(torch.equal(a[k], b[k]) or (a[k] - b[k]).abs().max() < 1e-6 for k in a)
