# Run: .venv/bin/python scripts/make_example_data.py
"""Write the example dataset the configs under configs/ train on (examples/data/).

tags/: the demo's task (OpenAI `messages` with <think> traces), seeded. Training questions
ask about the 120 training keys; validation and test about the 40 held-out keys.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.data.tag_task import chat_dataset

OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tags"


def main() -> None:
    train, held = chat_dataset(800, 120, seed=0)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("validation", held[:60]), ("test", held[60:])):
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
