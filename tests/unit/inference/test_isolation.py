"""One request's sampling parameters never fail its neighbours in the same engine step."""

from __future__ import annotations

import asyncio

import pytest
from inference_helpers import random_prompts, tiny_model

from tunesmith.inference import Engine, InvalidRequestError, SamplingParams
from tunesmith.inference.async_engine import AsyncEngine

GREEDY = SamplingParams(max_tokens=6, temperature=0.0)
POISONED = [
    # positive logits / 1e-300 overflow to +inf: the distribution is not a distribution
    (SamplingParams(max_tokens=6, repetition_penalty=1e-300), "repetition_penalty"),
    (
        SamplingParams(max_tokens=6, temperature=0.0, repetition_penalty=1e-300),
        "repetition_penalty",
    ),
]


@pytest.mark.parametrize(("poison", "param"), POISONED)
def test_a_poisoned_request_fails_alone_and_its_neighbours_equal_their_solo_run(
    poison: SamplingParams, param: str
) -> None:
    model = tiny_model("tiny-deepseek-v3-base")
    prompts = random_prompts(9, seed=3)
    alone = [Engine(model, max_batch=1).generate([p], GREEDY)[0].token_ids for p in prompts[:8]]
    engine = Engine(model, max_batch=9)
    outs = engine.generate(prompts, [GREEDY] * 8 + [poison])
    assert [o.token_ids for o in outs[:8]] == alone
    assert [o.finish_reason for o in outs] == ["length"] * 8 + ["error"]
    bad = outs[8]
    assert bad.token_ids == [] and bad.error is not None
    assert (bad.error.param, bad.error.code) == (param, "invalid_value")
    assert "repetition_penalty=1e-300" in str(bad.error)
    assert "non-finite" in str(bad.error)
    assert engine.cache.num_free == 9 and not engine.requests


def test_a_temperature_below_epsilon_is_greedy() -> None:
    model = tiny_model("tiny-deepseek-v3-base")
    prompts = random_prompts(4, seed=4)
    greedy = Engine(model, max_batch=4).generate(prompts, GREEDY)
    tiny = SamplingParams(max_tokens=6, temperature=1e-300, seed=1)
    assert tiny.greedy
    outs = Engine(model, max_batch=4).generate(prompts, tiny)
    assert [o.token_ids for o in outs] == [o.token_ids for o in greedy]


def test_seeds_anywhere_in_the_int64_range_and_beyond_are_accepted() -> None:
    model = tiny_model("tiny-deepseek-v3-base")
    prompt = random_prompts(1, seed=5)
    engine = Engine(model, max_batch=2)
    for seed in (-(2**63), 2**63 - 1, 2**64 + 5):
        out = engine.generate(prompt, SamplingParams(max_tokens=3, seed=seed))[0]
        assert len(out.token_ids) == 3
    same = [SamplingParams(max_tokens=5, seed=s) for s in (7, 2**64 + 7)]
    a, b = engine.generate(prompt * 2, same)
    assert a.token_ids == b.token_ids  # seeds are taken modulo 2**64


def test_async_engine_raises_the_error_for_that_request_only() -> None:
    model = tiny_model("tiny-deepseek-v3-base")
    prompts = random_prompts(3, seed=6)
    expected = Engine(model, max_batch=1).generate(prompts[:2], GREEDY)

    async def run() -> list:
        engine = AsyncEngine(Engine(model, max_batch=3))
        engine.start()
        try:

            async def last(rid: str, prompt: list[int], params: SamplingParams):
                outs = [out async for out in engine.generate(rid, prompt, params)]
                return outs[-1]

            return await asyncio.gather(
                last("a", prompts[0], GREEDY),
                last("b", prompts[1], GREEDY),
                last("c", prompts[2], POISONED[0][0]),
                return_exceptions=True,
            )
        finally:
            engine.shutdown()

    a, b, c = asyncio.run(run())
    assert [a.token_ids, b.token_ids] == [o.token_ids for o in expected]
    assert isinstance(c, InvalidRequestError) and c.param == "repetition_penalty"
