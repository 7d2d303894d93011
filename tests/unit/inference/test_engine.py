"""The engine against transformers' own generate, batch invariance, stops, logprobs, aborts."""

from __future__ import annotations

import pytest
import torch
from inference_helpers import ARCHS, hf_greedy, random_prompts, tiny_model

from tunesmith.inference import Engine, InvalidRequestError, SamplingParams

GREEDY = SamplingParams(max_tokens=6, temperature=0.0)


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_equals_transformers_generate(arch: str) -> None:
    model = tiny_model(arch)
    prompts = random_prompts(4, seed=1)
    # a budget of 16 tokens forces chunked prefill mixed with other sequences' decoding
    outs = Engine(model, max_batch=3, token_budget=16).generate(prompts, GREEDY)
    assert [o.token_ids for o in outs] == [hf_greedy(model, p, 6) for p in prompts]
    assert [o.finish_reason for o in outs] == ["length"] * 4


@pytest.mark.parametrize("batched_decode", [True, False])
@pytest.mark.parametrize("arch", ["tiny-deepseek-v3-base", "tiny-qwen2"])
def test_batch_invariance_32_concurrent_equal_alone(arch: str, batched_decode: bool) -> None:
    model = tiny_model(arch)
    prompts = random_prompts(32, seed=2, high=48)
    # a 64-token budget: most steps mix decoders (one padded call) with prompt chunks
    engine = Engine(model, max_batch=32, token_budget=64, batched_decode=batched_decode)
    together = engine.generate(prompts, GREEDY)
    alone = [Engine(model, max_batch=1).generate([p], GREEDY)[0] for p in prompts]
    assert [o.token_ids for o in together] == [o.token_ids for o in alone]


def test_batched_decode_logits_match_one_call_per_sequence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The padded call attends over each sequence's own keys only: same logits (fp32,
    atol 1e-5) as one SDPA call per sequence, in steps mixing decoders and prompt chunks."""
    from tunesmith.inference.runner import ModelRunner

    model = tiny_model("tiny-qwen2")
    prompts = random_prompts(8, seed=5, high=40)
    logits: dict[bool, list[torch.Tensor]] = {True: [], False: []}
    for batched in (True, False):
        engine = Engine(model, max_batch=8, token_budget=24, batched_decode=batched)
        forward = ModelRunner._forward

        def spy(self, chunks, adapter, _fwd=forward, _out=logits[batched]):  # noqa: ANN001
            result = _fwd(self, chunks, adapter)
            _out.extend(r.last for r in result if r.last is not None)
            return result

        with monkeypatch.context() as m:
            m.setattr(ModelRunner, "_forward", spy)
            engine.generate(prompts, GREEDY)
    assert len(logits[True]) == len(logits[False]) == 8 * 6
    for a, b in zip(logits[True], logits[False], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_logit_bias_bans_and_forces_tokens() -> None:
    model = tiny_model("tiny-qwen2")  # random weights: logits within a few units
    prompt = random_prompts(1, seed=6)[0]
    free = Engine(model).generate([prompt], GREEDY)[0].token_ids
    banned = SamplingParams(max_tokens=6, temperature=0.0, logit_bias={free[0]: -100.0})
    assert Engine(model).generate([prompt], banned)[0].token_ids[0] != free[0]
    forced = SamplingParams(max_tokens=6, temperature=0.0, logit_bias={7: 100.0})
    assert Engine(model).generate([prompt], forced)[0].token_ids == [7] * 6
    sampled = SamplingParams(max_tokens=6, temperature=1.0, seed=1, logit_bias={9: 100.0})
    assert Engine(model).generate([prompt], sampled)[0].token_ids == [9] * 6
    with pytest.raises(InvalidRequestError, match="'logit_bias' token id 99999 is outside"):
        Engine(model).check_request(prompt, SamplingParams(logit_bias={99999: 1.0}))


def test_stop_token_ends_without_it_and_frees_the_slot() -> None:
    model = tiny_model("tiny-llama")
    prompt = random_prompts(1, seed=3)[0]
    free_run = hf_greedy(model, prompt, 5)
    engine = Engine(model, max_batch=2)
    out = engine.generate(
        [prompt], SamplingParams(max_tokens=5, temperature=0.0, stop_token_ids=[free_run[2]])
    )[0]
    cut = free_run.index(free_run[2])
    assert out.token_ids == free_run[:cut]
    assert (out.finish_reason, out.stop_token_id) == ("stop", free_run[2])
    assert engine.cache.num_free == 2 and not engine.has_unfinished()


def test_abort_frees_the_slot_and_reports_abort() -> None:
    engine = Engine(tiny_model("tiny-llama"), max_batch=2)
    a, b = random_prompts(2, seed=4)
    engine.add_request("a", a, SamplingParams(max_tokens=50, temperature=0.0))
    engine.add_request("b", b, SamplingParams(max_tokens=3, temperature=0.0))
    engine.step()
    assert engine.cache.num_free == 0
    assert engine.abort("a") is True
    assert engine.abort("a") is False  # already over
    assert engine.cache.num_free == 1
    finished = {}
    while engine.has_unfinished():
        for out in engine.step():
            if out.finished:
                finished[out.request_id] = out.finish_reason
    assert finished == {"a": "abort", "b": "length"}
    assert engine.cache.num_free == 2


def test_waiting_requests_are_admitted_as_slots_free() -> None:
    engine = Engine(tiny_model("tiny-llama"), max_batch=2)
    prompts = random_prompts(5, seed=5)
    outs = engine.generate(prompts, SamplingParams(max_tokens=3, temperature=0.0))
    assert [len(o.token_ids) for o in outs] == [3] * 5
    assert engine.cache.num_free == 2 and engine.num_waiting == 0


def test_same_seed_same_tokens_regardless_of_batch() -> None:
    model = tiny_model("tiny-deepseek-v3-base")
    prompts = random_prompts(3, seed=6)
    sp = SamplingParams(max_tokens=8, temperature=1.0, top_p=0.9, top_k=50, seed=42)
    batch = Engine(model, max_batch=4).generate(prompts, sp)
    again = [Engine(model, max_batch=1).generate([p], sp)[0] for p in prompts]
    assert [o.token_ids for o in batch] == [o.token_ids for o in again]
    other = Engine(model, max_batch=4).generate(
        prompts, SamplingParams(max_tokens=8, temperature=1.0, top_p=0.9, top_k=50, seed=43)
    )
    assert [o.token_ids for o in other] != [o.token_ids for o in batch]


def test_logprobs_and_prompt_logprobs_match_a_full_forward() -> None:
    model = tiny_model("tiny-qwen2")
    prompt = random_prompts(1, seed=7, low=12, high=13)[0]
    sp = SamplingParams(max_tokens=3, temperature=0.0, logprobs=2, prompt_logprobs=1)
    out = Engine(model, max_batch=2, token_budget=5).generate([prompt], sp)[0]
    full = prompt + out.token_ids
    with torch.no_grad():
        ref = torch.log_softmax(model(torch.tensor([full])).logits[0], dim=-1)
    assert out.prompt_logprobs[0] is None
    for i, lp in enumerate(out.prompt_logprobs[1:], start=1):
        assert lp.token_id == prompt[i]
        assert lp.logprob == pytest.approx(ref[i - 1, prompt[i]].item(), abs=1e-4)
        assert lp.top[0][0] == int(ref[i - 1].argmax())
    for j, lp in enumerate(out.logprobs):
        pos = len(prompt) - 1 + j
        assert lp.token_id == out.token_ids[j] == lp.top[0][0]  # greedy: the top token
        assert lp.logprob == pytest.approx(ref[pos].max().item(), abs=1e-4)
        assert len(lp.top) == 2


def test_max_tokens_zero_scores_the_prompt_only() -> None:
    prompt = random_prompts(1, seed=8)[0]
    out = Engine(tiny_model("tiny-llama")).generate(
        [prompt], SamplingParams(max_tokens=0, prompt_logprobs=0)
    )[0]
    assert out.token_ids == [] and out.finish_reason == "length"
    assert len(out.prompt_logprobs) == len(prompt) and out.prompt_logprobs[0] is None


def test_penalties_change_greedy_output() -> None:
    model = tiny_model("tiny-qwen2")  # random init: greedy repeats one token forever
    prompt = random_prompts(1, seed=9)[0]
    plain = Engine(model).generate([prompt], GREEDY)[0].token_ids
    assert len(set(plain)) == 1
    sp = SamplingParams(max_tokens=6, temperature=0.0, presence_penalty=2.0, repetition_penalty=5.0)
    penalized = Engine(model).generate([prompt], sp)[0].token_ids
    assert len(set(penalized)) == 6


@pytest.mark.parametrize(
    ("prompt", "params", "param", "message"),
    [
        ([], SamplingParams(), "prompt", "the prompt is empty"),
        ([5, 99999], SamplingParams(), "prompt", "token id 99999 is outside the vocabulary"),
        (
            [5] * 40,
            SamplingParams(max_tokens=30),
            "max_tokens",
            "This model's maximum context length is 64 tokens. However, you requested 70 tokens",
        ),
    ],
)
def test_bad_requests_raise_before_queueing(prompt, params, param, message) -> None:
    engine = Engine(tiny_model("tiny-llama"), max_model_len=64)
    with pytest.raises(InvalidRequestError) as e:
        engine.add_request("x", prompt, params)
    assert message in str(e.value) and e.value.param == param
    assert not engine.has_unfinished()


def test_sampling_params_are_validated() -> None:
    with pytest.raises(InvalidRequestError, match=r"'top_p' must be in \(0, 1\], got 0.0"):
        SamplingParams(top_p=0.0)
    with pytest.raises(InvalidRequestError, match=r"'temperature' must be in \[0, 100\]"):
        SamplingParams(temperature=-1)
