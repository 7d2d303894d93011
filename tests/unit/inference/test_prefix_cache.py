"""Prefix caching: the same tokens with and without it, fewer prompt tokens computed."""

from __future__ import annotations

import pytest
from inference_helpers import random_prompts, tiny_model

from tunesmith.inference import Engine, SamplingParams

GREEDY = SamplingParams(max_tokens=6, temperature=0.0)


def shared_prefix_prompts() -> list[list[int]]:
    """A 40-token 'system prompt' then 8 different user parts (5..20 tokens)."""
    system = random_prompts(1, seed=11, low=40, high=41)[0]
    return [system + p for p in random_prompts(8, seed=12, low=5, high=20)]


@pytest.mark.parametrize(
    ("arch", "forward"),
    [("tiny-qwen2", "auto"), ("tiny-deepseek-v3-base", "auto"), ("tiny-llama", "hf")],
)
def test_prefix_cache_gives_the_same_tokens_with_fewer_prompt_tokens(
    arch: str, forward: str
) -> None:
    model = tiny_model(arch)
    prompts = shared_prefix_prompts()
    off = Engine(model, max_batch=4, token_budget=32, forward=forward)
    on = Engine(model, max_batch=4, token_budget=32, forward=forward, prefix_caching=True)
    first = [p[:-2] for p in prompts]  # a first wave that fills the cache
    for engine in (off, on):
        engine.generate(first, GREEDY)
    want = [o.token_ids for o in off.generate(prompts, GREEDY)]
    assert [o.token_ids for o in on.generate(prompts, GREEDY)] == want
    total = 2 * sum(map(len, prompts)) - 2 * len(prompts)
    assert off.prefill_tokens_computed == total
    # the first wave computes its first request's 2 blocks, the other 7 hit them (7 x 32);
    # in the second wave every prompt hits at least the shared 2 blocks (8 x 32)
    stats = on.prefix_cache.stats
    assert stats.hit_tokens >= 7 * 32 + 8 * 32
    assert on.prefill_tokens_computed == total - stats.hit_tokens
    assert 0 < stats.hit_rate <= 1


def test_lru_eviction_keeps_outputs_and_counts() -> None:
    model = tiny_model("tiny-qwen2")
    prompts = shared_prefix_prompts()
    on = Engine(model, max_batch=2, prefix_caching=True, prefix_cache_blocks=2)
    off = Engine(model, max_batch=2)
    want = [o.token_ids for o in off.generate(prompts, GREEDY)]
    assert [o.token_ids for o in on.generate(prompts, GREEDY)] == want
    assert len(on.prefix_cache.blocks) == 2
    assert on.prefix_cache.stats.evicted_blocks > 0


def test_prompt_logprobs_requests_compute_their_whole_prompt() -> None:
    model = tiny_model("tiny-qwen2")
    prompt = shared_prefix_prompts()[0]
    engine = Engine(model, max_batch=2, prefix_caching=True)
    params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
    a = engine.generate([prompt], params)[0]
    b = engine.generate([prompt], params)[0]
    assert engine.prefix_cache.stats.hit_tokens == 0
    assert engine.prefill_tokens_computed == 2 * len(prompt)
    assert [x.logprob for x in a.prompt_logprobs[1:]] == [x.logprob for x in b.prompt_logprobs[1:]]


def test_block_hashes_chain_over_the_prefix_and_the_adapter() -> None:
    engine = Engine(tiny_model("tiny-qwen2"), max_batch=1, prefix_caching=True, prefix_block_size=4)
    from tunesmith.inference.request import Request

    def req(tokens: list[int], adapter: str | None = None) -> Request:
        return Request("r", tokens, GREEDY, 1, adapter=adapter)

    cache = engine.prefix_cache
    a = cache.hashes(req([1, 2, 3, 4, 5, 6, 7, 8, 9]), 9)
    assert len(a) == 2
    assert cache.hashes(req([1, 2, 3, 4, 5, 6, 7, 8]), 8) == a
    assert cache.hashes(req([0, 2, 3, 4, 5, 6, 7, 8]), 8)[1] != a[1]  # chained
    assert cache.hashes(req([1, 2, 3, 4, 5, 6, 7, 8], "sql"), 8)[0] != a[0]
