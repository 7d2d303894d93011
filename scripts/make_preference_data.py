# Run: .venv/bin/python scripts/make_preference_data.py
"""Write the preference example data (examples/data/tags-preference/), seeded.

The demo's task as preferences: asked "What is the tag of X?", the chosen answer is the true
tag, the rejected one another tag (answers only: with the demo's <think> trace, which states
the fact, the base already prefers the true tag; without it, in chat form, it guesses). Training pairs
ask about the 120 training keys; validation and test about the 40 held-out keys, whose facts
the shipped base saw only as prose. Each file shows one input format:

  train.jsonl       pair           {"prompt", "chosen", "rejected"} as strings
  validation.jsonl  pair_messages  {"messages", "chosen", "rejected"} (OpenAI messages)
  test.jsonl        pair_sharegpt  {"conversations", "chosen", "rejected"} (LLaMA-Factory)
  kto.jsonl         kto            {"prompt", "completion", "label"} from the training pairs
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tunesmith.data.tag_task import N_TRAIN_KEYS, QUESTION_TEMPLATES, TAGS, tag_table

OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tags-preference"


def pairs(keys: list[str], n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, chosen, rejected) for `n` (key, template) draws."""
    table = tag_table()
    combos = [(k, t) for k in keys for t in QUESTION_TEMPLATES]
    picked = rng.sample(combos, n) if n <= len(combos) else [rng.choice(combos) for _ in range(n)]
    out = []
    for key, template in picked:
        wrong = rng.choice([t for t in TAGS if t != table[key]])
        out.append((template.format(key=key), table[key], wrong))
    return out


def main() -> None:
    rng = random.Random(0)
    keys = list(tag_table())
    train = pairs(keys[:N_TRAIN_KEYS], 360, rng)
    held = pairs(keys[N_TRAIN_KEYS:], 120, rng)
    rows = {
        "train": [{"prompt": q, "chosen": c, "rejected": r} for q, c, r in train],
        "validation": [
            {"messages": [{"role": "user", "content": q}],
             "chosen": {"role": "assistant", "content": c},
             "rejected": {"role": "assistant", "content": r}}
            for q, c, r in held[:40]
        ],
        "test": [
            {"conversations": [{"from": "human", "value": q}],
             "chosen": {"from": "gpt", "value": c}, "rejected": {"from": "gpt", "value": r}}
            for q, c, r in held[40:]
        ],
        "kto": [
            {"prompt": q, "completion": a, "label": good}
            for i, (q, c, r) in enumerate(train)
            for a, good in ((c, True), (r, False))[i % 2 : i % 2 + 1]
        ],
    }  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
