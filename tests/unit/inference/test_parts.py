"""Sampling truncation and penalties, the slot cache, the scheduler's policy."""

from __future__ import annotations

import random

import pytest
import torch

from tunesmith.inference.kv_cache import SlotKVCache, StepLayout
from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.inference.request import Request
from tunesmith.inference.sampling import apply_logit_bias, apply_penalties, draw, sample, truncate
from tunesmith.inference.scheduler import Scheduler


def test_top_k_and_top_p_keep_the_right_tokens() -> None:
    row = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    assert torch.isfinite(truncate(row, 2, 1.0)).tolist() == [True, True, False, False]
    # nucleus 0.8: 0.5 + 0.3 reach it, the rest go
    assert torch.isfinite(truncate(row, 0, 0.8)).tolist() == [True, True, False, False]
    assert torch.isfinite(truncate(row, 0, 0.81)).tolist() == [True, True, True, False]
    assert torch.isfinite(truncate(row, 0, 0.1)).tolist() == [True, False, False, False]


def test_truncation_of_a_batch_equals_truncation_row_by_row() -> None:
    rows = torch.randn(5, 50, generator=torch.Generator().manual_seed(0))
    ks, ps = [0, 3, 10, 0, 50], [1.0, 1.0, 0.9, 0.3, 0.5]
    batched = truncate(rows, ks, ps)
    for i in range(5):
        assert torch.equal(batched[i], truncate(rows[i], ks[i], ps[i]))


def test_inverse_cdf_draws_follow_the_distribution_and_skip_impossible_tokens() -> None:
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]])
    g = random.Random(7)
    counts = [0] * 5
    for _ in range(4000):
        counts[draw(probs, [g])[0]] += 1
    assert counts[1] == counts[4] == 0
    # 4000 draws: each share within 0.03 of its probability (about 4 standard deviations)
    assert [round(c / 4000, 2) for c in counts] == pytest.approx(
        [0.5, 0.0, 0.3, 0.2, 0.0], abs=0.03
    )


class _Fixed:
    """A random stream whose every number is `value`."""

    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


def test_a_uniform_at_the_top_of_the_range_still_picks_a_possible_token() -> None:
    probs = torch.tensor([[0.25, 0.75, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0]])
    # 1 - 2**-53 rounds to 1.0 in float32: u * total is the total, past every cumsum entry
    top = _Fixed(1.0 - 2**-53)
    assert draw(probs, [top, top]) == [1, 2]
    assert draw(probs, [_Fixed(0.0), _Fixed(0.0)]) == [0, 0]
    assert draw(probs, [_Fixed(0.25), _Fixed(0.5)]) == [1, 2]


def test_a_sampled_row_gets_the_same_token_alone_or_in_a_batch() -> None:
    logits = torch.randn(4, 64, generator=torch.Generator().manual_seed(1))
    params = [SamplingParams(temperature=0.7, top_p=0.9, seed=s) for s in (1, 2, 3)]
    params.append(SamplingParams(temperature=1.3, top_k=5, repetition_penalty=1.2, seed=4))

    def requests() -> list[Request]:
        out = []
        for i, p in enumerate(params):
            r = Request(f"r{i}", [1, 2], p, 8, generator=random.Random(p.seed))
            out.append(r)
        return out

    together = [t for t, _ in sample(logits, requests())]
    alone = [sample(logits[i : i + 1], [r])[0][0] for i, r in enumerate(requests())]
    assert together == alone


def test_penalties_follow_openai_and_ctrl_formulas() -> None:
    row = torch.tensor([2.0, -2.0, 1.0, 0.5])
    p = SamplingParams(repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25)
    out = apply_penalties(row, prompt=[0], output=[1, 1, 2], p=p)
    # token 0: prompt only -> 2 / 2; token 1: (-2 * 2) - 0.5 * 2 - 0.25; token 2: 1/2 - 0.5 - 0.25
    assert out.tolist() == pytest.approx([1.0, -5.25, -0.25, 0.5])


def test_logit_bias_is_added_and_checked() -> None:
    row = torch.tensor([2.0, -2.0, 1.0, 0.5])
    assert apply_logit_bias(row, {1: 5.0, 3: -100.0}).tolist() == [2.0, 3.0, 1.0, -99.5]
    assert row.tolist() == [2.0, -2.0, 1.0, 0.5]  # the caller's logits are left alone
    assert SamplingParams(temperature=0.0, logit_bias={1: 5.0}).adjusts_logits
    for bad in ({1: 100.5}, {-1: 1.0}):
        with pytest.raises(InvalidRequestError, match="'logit_bias' maps token ids >= 0"):
            SamplingParams(logit_bias=bad)


def test_slot_cache_allocates_frees_and_grows_keeping_contents() -> None:
    cache = SlotKVCache(num_layers=1, num_slots=2, max_len=64, initial_len=4)
    assert (cache.allocate(), cache.allocate(), cache.allocate()) == (0, 1, None)
    cache.free(0)
    with pytest.raises(ValueError, match="slot 0 is not allocated"):
        cache.free(0)
    assert cache.usage == 0.5
    k = torch.arange(3 * 2 * 5, dtype=torch.float).view(3, 2, 1, 5)  # 3 token rows, 2 heads
    cache.layout = StepLayout.build([1], [0], [3])
    keys, values = cache.update(k, k + 1, 0)
    assert keys.shape == (1, 2, 3, 5) and torch.equal(keys[0].transpose(0, 1), k[:, :, 0])
    cache.reserve(9)
    assert cache.capacity == 16 and torch.equal(cache.keys[0][1, :, :3].transpose(0, 1), k[:, :, 0])
    with pytest.raises(ValueError, match="exceeds the cache's 64"):
        cache.reserve(65)


def _req(rid: str, n: int) -> Request:
    return Request(rid, list(range(5, 5 + n)), SamplingParams(), max_tokens=4)


def test_scheduler_decodes_first_then_chunks_prompts_fcfs() -> None:
    cache = SlotKVCache(num_layers=1, num_slots=2, max_len=64)
    sched = Scheduler(cache, token_budget=8)
    a, b, c = _req("a", 10), _req("b", 3), _req("c", 3)
    for r in (a, b, c):
        sched.add(r)
    plan = sched.schedule()
    assert [(ch.request.request_id, ch.num_tokens) for ch in plan.chunks] == [("a", 8)]
    a.num_computed = 8
    plan = sched.schedule()  # a's last 2 prompt tokens, then b is admitted; c waits (2 slots)
    assert [(ch.request.request_id, ch.num_tokens) for ch in plan.chunks] == [("a", 2), ("b", 3)]
    a.num_computed, b.num_computed = 10, 3
    a.output_token_ids.append(7)
    plan = sched.schedule()  # a decodes (one token) before b's... b has nothing left
    assert [(ch.request.request_id, ch.num_tokens) for ch in plan.chunks] == [("a", 1)]
    sched.finish(a)
    assert cache.num_free == 1 and sched.num_waiting == 1
    plan = sched.schedule()
    assert [(ch.request.request_id, ch.num_tokens) for ch in plan.chunks] == [("c", 3)]


def test_step_layout_views_consecutive_slots_and_masks_decoders() -> None:
    layout = StepLayout.build([0, 1, 2], [4, 6, 0], [1, 1, 3])
    assert (layout.slot_range, layout.num_single) == ((0, 3), 2)
    assert layout.single_mask.tolist() == [[True] * 5 + [False, False], [True] * 7]
    assert StepLayout.build([2, 0], [1, 1], [1, 1]).slot_range is None
    cache = SlotKVCache(num_layers=1, num_slots=3, max_len=16)
    cache.layout = layout
    keys = torch.arange(5 * 2.0).view(5, 1, 1, 2)
    k, _ = cache.update(keys, keys, 0)
    assert k.data_ptr() == cache.keys[0].data_ptr()  # a view of slots 0..2, no gather
    cache.layout = StepLayout.build([2, 0], [1, 1], [1, 1])
    k, _ = cache.update(keys[:2], keys[:2], 0)
    assert k.data_ptr() != cache.keys[0].data_ptr() and k[0, 0, 1].tolist() == [0.0, 1.0]


def test_request_token_ids_slices_prompt_and_output() -> None:
    req = _req("r", 3)
    req.output_token_ids.extend([7, 8])
    assert [req.token_ids(s, n) for s, n in ((0, 2), (2, 2), (3, 2), (4, 1))] == [
        req.all_token_ids[0:2],
        req.all_token_ids[2:4],
        [7, 8],
        [8],
    ]


def test_scheduler_budget_must_cover_one_decode_per_slot() -> None:
    with pytest.raises(ValueError, match="token budget 2 is below the 4 slots"):
        Scheduler(SlotKVCache(num_layers=1, num_slots=4, max_len=8), token_budget=2)
