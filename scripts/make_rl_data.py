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
from pathlib import Path

from tunesmith.data.tag_task import N_TRAIN_KEYS, coldstart_records, rl_records, tag_table

OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tags-rl"
COLDSTART = 24


def main() -> None:
    keys = list(tag_table())
    rows = {
        "train": rl_records(keys[:N_TRAIN_KEYS]),
        "validation": rl_records(keys[N_TRAIN_KEYS:]),
        "coldstart": coldstart_records(COLDSTART, seed=0),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
