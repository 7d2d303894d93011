"""What an export costs and buys: quality on an evaluation set, decode speed in our engine.

    items = eval_items(None)                     # the demo task's held-out questions
    quality(model, tok, items, ["em"])           # {"em": 0.93, "loss": 0.41, "ppl": 1.51}
    tokens_per_s(model, tok, items)              # greedy decode tokens per second

Quality runs `tunesmith eval`'s evaluator (greedy generations scored by the metrics, and the
teacher-forced loss, whose exp is the perplexity). Speed runs the inference engine the way
`tunesmith serve` does: SPEED_PROMPTS prompts decoded together, SPEED_TOKENS new tokens each
(end-of-sequence ignored, so every run decodes the same number of tokens), after one warm-up
pass; the best of SPEED_REPEATS runs is kept, since other processes only ever slow a run down.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.evaluation.records import EvalItem

SPEED_PROMPTS, SPEED_TOKENS, SPEED_REPEATS = 8, 32, 2
DEMO_EVAL = "demo task test split"


def eval_items(
    eval_data: str | Path | None, metrics: list[str], max_samples: int = 0
) -> list[EvalItem]:
    """Items of `eval_data` (any format `tunesmith eval run` reads), or else of the demo
    task's held-out questions (the records `tunesmith demo` writes to runs/demo/data/test.jsonl)."""
    from tunesmith.evaluation.records import read_dataset

    names = list(dict.fromkeys([*metrics, "loss"]))
    if eval_data is not None:
        return read_dataset([str(eval_data)], names, "auto", max_samples)
    import json

    from tunesmith.data.tag_task import N_TEST, N_TRAIN, chat_dataset

    _, rows = chat_dataset(N_TRAIN, N_TEST, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        items = read_dataset([str(path)], names, "auto", max_samples)
    for item in items:  # the file is gone; say where the records came from
        item.row.file = DEMO_EVAL
    return items


def quality(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    items: list[EvalItem],
    metrics: list[str],
    max_new_tokens: int = 64,
) -> dict[str, float]:
    """Metric name -> value on `items`; always with `loss` and `ppl`."""
    import copy

    from tunesmith.evaluation.runner import EvalOptions, evaluate_items

    names = list(dict.fromkeys([*metrics, "loss"]))
    fresh = copy.deepcopy(items)  # the evaluator writes predictions into the rows
    opts = EvalOptions(names, max_new_tokens=max_new_tokens, batch_size=64)
    result = evaluate_items(model, tok, fresh, opts)
    return {k: float(v) for k, v in result.metrics.items()}


@torch.no_grad()
def tokens_per_s(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    prompts: list[str],
    n_prompts: int = SPEED_PROMPTS,
    n_tokens: int = SPEED_TOKENS,
    repeats: int = SPEED_REPEATS,
) -> float:
    """Generated tokens per second of wall time, best of `repeats` after a warm-up."""
    from tunesmith.inference import Engine, SamplingParams

    ids = [tok.encode(p, add_special_tokens=False) for p in prompts[:n_prompts]]
    engine = Engine(model, max_batch=len(ids), batched_decode=True)
    params = SamplingParams(max_tokens=n_tokens, temperature=0.0)
    engine.generate(ids, SamplingParams(max_tokens=2, temperature=0.0))  # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        outs = engine.generate(ids, params)
        seconds = time.perf_counter() - start
        best = max(best, sum(len(o.token_ids) for o in outs) / seconds)
    return best


def prompts_of(items: list[EvalItem]) -> list[str]:
    """Rendered prompts of the chat items (text samples have none)."""
    return [item.row.input for item in items if item.row.input]


def measured(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    items: list[EvalItem],
    metrics: list[str],
    prompts: list[str],
    label: str = "export: measuring",
) -> dict:
    """The `measured` block of export_report.json: quality on `items`, decode speed on
    `prompts` (see the module docstring for the setup). `label` names the phase in the
    progress output (plain lines when stderr is not a terminal)."""
    from tunesmith.progress import status

    with status(f"{label}: quality on {len(items)} samples"):
        scores = quality(model, tok, items, metrics)
    with status(f"{label}: decode tokens/s"):
        speed = tokens_per_s(model, tok, prompts)
    return {
        "metrics": scores,
        "eval_data": items[0].row.file,
        "eval_samples": len(items),
        "tokens_per_s": speed,
        "speed_setup": {
            "prompts": min(SPEED_PROMPTS, len(prompts)),
            "new_tokens": SPEED_TOKENS,
            "best_of": SPEED_REPEATS,
            "threads": torch.get_num_threads(),
        },
    }
