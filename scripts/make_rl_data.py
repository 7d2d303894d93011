# Run: .venv/bin/python scripts/make_rl_data.py
"""Write the verifiable task of the grpo example (examples/data/tags-rl/).

The demo's tag task (tunesmith.demo.task) as RL records: a question and the answer the
`accuracy` reward checks. train.jsonl asks about the 120 training keys (every question
template), validation.jsonl about the 40 held-out keys, whose facts the tiny base saw only
in prose. coldstart.jsonl: a few chat answers with the R1 format (<think> recall, then the
tag) on training keys, for the short SFT cold start before GRPO (docs/rl.md).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tunesmith.demo.task import N_TRAIN_KEYS, QUESTION_TEMPLATES, chat_record, tag_table

OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tags-rl"
COLDSTART = 24


def main() -> None:
    table = tag_table()
    keys = list(table)
    rows = {
        name: [
            {"prompt": t.format(key=k), "answer": table[k]}
            for k in pool
            for t in QUESTION_TEMPLATES
        ]
        for name, pool in (("train", keys[:N_TRAIN_KEYS]), ("validation", keys[N_TRAIN_KEYS:]))
    }
    rng = random.Random(0)
    combos = [(k, t) for k in keys[:N_TRAIN_KEYS] for t in QUESTION_TEMPLATES]
    rows["coldstart"] = [chat_record(k, table[k], t) for k, t in rng.sample(combos, COLDSTART)]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
