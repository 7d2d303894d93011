"""Rollouts of recipe=grpo on the shipped tiny base with a LoRA adapter (engine's own forward).

- the engine runs the live weights: after the adapter changes, greedy rollouts equal
  Hugging Face `generate` on the same PeftModel (no copy, no sync);
- a group's prompt is prefilled once (the other completions load its cached blocks) and the
  completions are those of the same seeded requests without prefix sharing;
- seeds come from (seed, batch, prompt, sample): same batch -> same completions, another
  batch -> others; the completion keeps its stop token;
- packed per-token log-probs equal each sequence's own forward;
- the prompt order visits every prompt once per epoch.
"""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from tunesmith.config.schema import ModelConfig
from tunesmith.inference.engine import Engine
from tunesmith.inference.params import SamplingParams
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.training.rl.batch import pack, token_logps
from tunesmith.training.rl.rollout import RolloutSettings, batch_prompts, generate, rollout_seed

TARGETS = ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
QUESTIONS = ["What is the tag of layer?", "Which tag goes with city?", "Tell me the tag of war."]


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3-base"))
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    prompts = [
        tok(tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                    add_generation_prompt=True), add_special_tokens=False)["input_ids"]
        for q in QUESTIONS
    ]  # fmt: skip
    return model, tok, prompts


def _settings(tok, **kw) -> RolloutSettings:
    base = {"group_size": 4, "max_tokens": 10, "stop_token_ids": (tok.eos_token_id,), "seed": 3}
    return RolloutSettings(**{**base, **kw})


def test_greedy_rollouts_follow_the_live_adapter(policy):
    model, tok, prompts = policy
    before = generate(model, prompts, [0, 1, 2], 0, _settings(tok), greedy=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(len(name)))
    ro = generate(model, prompts, [0, 1, 2], 0, _settings(tok), greedy=True)
    assert model.training  # back in train mode
    assert ro.completion_ids != before.completion_ids  # the new weights, not a stale copy
    for prompt, got in zip(prompts, ro.completion_ids, strict=True):
        with torch.no_grad():
            out = model.generate(
                input_ids=torch.tensor([prompt]), max_new_tokens=10, do_sample=False,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
            )[0, len(prompt):].tolist()  # fmt: skip
        assert got == out
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.zero_()
    again = generate(model, prompts, [0, 1, 2], 0, _settings(tok), greedy=True)
    assert again.completion_ids == before.completion_ids


def test_group_prompt_prefilled_once_same_completions(policy):
    model, tok, prompts = policy
    s = _settings(tok, prefix_block_size=4)
    ro = generate(model, prompts, [0, 1, 2], 5, s)
    full = sum(len(p) for p in prompts) * 4
    assert ro.prompt_tokens == full
    # the leaders prefill everything; each follower recomputes at most its last partial block
    assert ro.prefill_tokens <= sum(len(p) for p in prompts) + 3 * sum(
        len(p) - (len(p) - 1) // 4 * 4 for p in prompts
    )
    assert ro.prefill_tokens < full
    plain = Engine(model, max_batch=12)
    reqs = [
        SamplingParams(max_tokens=10, seed=rollout_seed(3, 5, i, j), stop_token_ids=[tok.eos_token_id])
        for i in range(3) for j in range(4)
    ]  # fmt: skip
    outs = plain.generate([p for p in prompts for _ in range(4)], reqs)
    model.train()
    want = [o.token_ids + ([o.stop_token_id] if o.finish_reason == "stop" else []) for o in outs]
    assert ro.completion_ids == want
    assert ro.truncated == [o.finish_reason != "stop" for o in outs]


def test_seeds_from_batch_prompt_and_sample(policy):
    model, tok, prompts = policy
    a = generate(model, prompts[:2], [0, 1], 7, _settings(tok, temperature=2.0))
    b = generate(model, prompts[:2], [0, 1], 7, _settings(tok, temperature=2.0))
    c = generate(model, prompts[:2], [0, 1], 8, _settings(tok, temperature=2.0))
    assert a.completion_ids == b.completion_ids
    assert a.completion_ids != c.completion_ids
    # a prompt's completions do not depend on which other prompts share the batch
    d = generate(model, prompts[1:2], [1], 7, _settings(tok, temperature=2.0))
    assert d.completion_ids == a.completion_ids[4:]
    assert len({tuple(x) for x in a.completion_ids[:4]}) > 1  # the samples of a group differ
    assert rollout_seed(0, 1, 2, 3) != rollout_seed(0, 1, 3, 2)


def test_packed_token_logps_equal_each_sequence_alone(policy):
    model, tok, prompts = policy
    completions = [[40, 41, 42], [7], [50, 51, 52, 53, 1]]
    batch = pack(prompts, completions)
    with torch.no_grad():
        logps, mask, _ = token_logps(model, batch, temperature=0.7)
    assert mask.sum(1).tolist() == [3.0, 1.0, 5.0]
    for k, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1 : -1] / 0.7
        want = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(c)[:, None])[:, 0]
        torch.testing.assert_close(logps[k, : len(c)], want, atol=1e-5, rtol=0)


def test_a_shared_prompt_gives_the_same_logps_and_gradients(policy):
    """Groups packed with one copy of their prompt score exactly as unshared packing."""
    model, _, prompts = policy
    group_prompts = [prompts[0]] * 3 + [prompts[1]] * 2 + [prompts[2]]
    completions = [[40, 41, 42], [7], [50, 51, 52, 53, 1], [9, 9], [60, 61, 62], [5, 1]]
    shared = pack(group_prompts, completions, share_prompts=True)
    plain = pack(group_prompts, completions)
    assert shared["prefix_groups"] == [
        (0, len(prompts[0]), [(len(prompts[0]), 3), (len(prompts[0]) + 3, 1), (len(prompts[0]) + 4, 5)]),
        (len(prompts[0]) + 9, len(prompts[1]), [(len(prompts[0]) + 9 + len(prompts[1]), 2),
                                                (len(prompts[0]) + 11 + len(prompts[1]), 3)]),
        (len(prompts[0]) + 14 + len(prompts[1]), len(prompts[2]), [(len(prompts[0]) + 14 + len(prompts[1]) + len(prompts[2]), 2)]),
    ]  # fmt: skip
    saved = len(plain["input_ids"][0]) - len(shared["input_ids"][0])
    assert saved == 2 * len(prompts[0]) + len(prompts[1])
    weights = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    results = []
    for batch in (shared, plain):
        model.zero_grad()
        logps, mask, _ = token_logps(model, batch, temperature=0.7)
        (logps * mask * weights[:, : logps.shape[1]]).sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        results.append((logps.detach(), mask, grads))
    (a, mask_a, grads_a), (b, mask_b, grads_b) = results
    assert torch.equal(mask_a, mask_b) and mask_a.sum(1).tolist() == [3, 1, 5, 2, 3, 2]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(ga, gb, atol=1e-5, rtol=1e-4)
    model.zero_grad()


def test_prompt_order_visits_each_prompt_once_per_epoch():
    seen = [i for b in range(5) for i in batch_prompts(10, 4, b, seed=1)]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert seen[:10] != list(range(10))  # shuffled
    assert batch_prompts(10, 4, 3, seed=1) == seen[12:16]
