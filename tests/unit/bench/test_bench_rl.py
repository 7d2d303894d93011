"""`bench rl`'s pieces that decide what is compared: the task, the rewards TRL is handed,
and how runs over several seeds are summarised."""

from __future__ import annotations

import pytest

from tunesmith.bench.rl import COLDSTART_RECORDS, make_prompts, summarize
from tunesmith.bench.rl_arms import trl_rewards
from tunesmith.data.tag_task import coldstart_records, tag_table


def test_prompts_are_tag_questions_with_their_answers() -> None:
    rows = make_prompts(5, seed=42)
    table = tag_table()
    assert len(rows) == 5 and rows == make_prompts(5, seed=42) != make_prompts(5, seed=43)
    for r in rows:
        key = next(k for k in table if f" {k}?" in r["prompt"] or f" {k}." in r["prompt"])
        assert r["answer"] == table[key]
    assert len(coldstart_records(COLDSTART_RECORDS)) == 24
    assert coldstart_records(24)[0]["messages"][1]["content"].startswith("<think>\n")


def test_trl_gets_the_same_rewards_as_tunesmith_on_message_completions() -> None:
    think_format, accuracy = trl_rewards()
    prompts = [[{"role": "user", "content": "What is the tag of layer?"}]] * 3
    texts = ["<think>\nThe tag of layer is single.\n</think>\n\nsingle", "single", "<think>x"]
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    assert think_format(prompts, completions) == [1.0, 0.0, 0.0]
    assert accuracy(prompts, completions, answer=["single"] * 3) == [1.0, 1.0, 0.0]


def _run(rewards: list[float], seconds: float) -> dict:
    return {"train_seconds": seconds, "generation_seconds": seconds / 2, "steps": len(rewards),
            "rewards": rewards, "generated_tokens": 100.0, "peak_rss_mb": 500.0 + seconds,
            "arm_seconds": seconds + 1, "arm_cpu_seconds": 1.5 * (seconds + 1),
            "torch_threads": 2}  # fmt: skip


def test_seeds_are_summed_for_speed_and_averaged_for_rewards() -> None:
    s = summarize([_run([0.0, 1.0, 1.0, 2.0], 10.0), _run([1.0, 1.0, 0.0, 1.0], 30.0)])
    assert s["steps_per_s"] == pytest.approx(8 / 40)
    assert s["rollout_tokens_per_s"] == pytest.approx(200 / 20)
    assert s["rewards"] == [0.5, 1.0, 0.5, 1.5]
    assert s["reward_last_half_per_seed"] == [1.5, 0.5]
    assert s["reward_last_half"] == pytest.approx(1.0)
    assert s["reward_last_half_std"] == pytest.approx(0.5**0.5 * 1.0)
    assert s["peak_rss_mb"] == 530.0
    assert s["cpu_cores_busy"] == pytest.approx(1.5)
    assert summarize([_run([1.0, 2.0], 5.0)])["reward_last_half_std"] != 0.0  # nan: one seed
