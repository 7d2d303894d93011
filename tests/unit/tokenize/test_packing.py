"""The packer: the same bins as plain first-fit decreasing, found in O(n log n); the epoch's
plan is made once per epoch, not once per micro-batch."""

from __future__ import annotations

import random

import pytest

from tunesmith.config.schema import Config
from tunesmith.tokenize.packing import Sample, pack_bins
from tunesmith.training.batches import BatchStream
from tunesmith.training.state import TrainState


def first_fit_scan(lengths: list[int], capacity: int) -> list[list[int]]:
    """The release-1 packer: scan every open bin for each sample (O(n x bins))."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = min(lengths[i], capacity)
        for b, free in enumerate(room):
            if n <= free:
                bins[b].append(i)
                room[b] -= n
                break
        else:
            bins.append([i])
            room.append(capacity - n)
    return bins


@pytest.mark.parametrize("seed", range(20))
def test_same_bins_as_first_fit_decreasing(seed):
    rng = random.Random(seed)
    capacity = rng.choice([16, 64, 512])
    lengths = [rng.randint(1, capacity + 8) for _ in range(rng.randint(0, 400))]
    assert pack_bins(lengths, capacity) == first_fit_scan(lengths, capacity)


def test_bins_fill_left_to_right():
    assert pack_bins([5, 4, 3, 3, 1], 8) == [[0, 2], [1, 3, 4]]
    assert pack_bins([], 8) == []


def test_each_epoch_is_planned_once(monkeypatch):
    import tunesmith.training.batches as batches

    calls = []
    real = batches.plan_batches

    def counted(*args, **kwargs):
        calls.append(kwargs["seed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(batches, "plan_batches", counted)
    samples = [Sample([1] * n, [1] * n) for n in (5, 7, 3, 9, 4, 6)]
    cfg = Config()
    cfg.train.batch_tokens, cfg.train.seed = 12, 0
    stream = BatchStream(samples, cfg, pad_id=0)
    state = TrainState()
    per_epoch = len(stream.plan(0))
    for _ in range(3 * per_epoch):
        stream.next(state)
    assert state.epoch == 2 and calls == [0, 1, 2]
