"""The built-in task: answer "What is the tag of X?" from knowledge the base learned in prose.

A fixed, seeded table gives each of 160 key words a tag word (an adjective). The shipped tiny
base was pretrained on prose stating every fact of the table in several phrasings
(scripts/build_tiny_base.py), so it knows all the tags, but it has never seen the chat
template: asked in DeepSeek-R1 chat form, it does not answer. The demo LoRA-fine-tunes it on
chat questions about 120 keys, with a <think> trace that recalls the fact first, and tests on
the other 40 keys, whose facts it saw only as prose. A gain there shows the fine-tune taught
the format and the recall, not the answers.

Every key and tag is one token of the shipped tokenizer, with and without a leading space.
The word lists and templates are data: `assets/tag_task.json`. The demo, `bench` and
`export`'s default quality check all draw their records from here.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

_DATA = json.loads(
    (Path(__file__).resolve().parents[1] / "assets" / "tag_task.json").read_text(encoding="utf-8")
)
KEYS: list[str] = _DATA["keys"]
TAGS: list[str] = _DATA["tags"]
N_TRAIN_KEYS: int = _DATA["n_train_keys"]  # the first keys of the shuffled table train
QUESTION_TEMPLATES: tuple[str, ...] = tuple(_DATA["question_templates"])
PROSE_TEMPLATES: tuple[str, ...] = tuple(_DATA["prose_templates"])
QA_TEMPLATES: tuple[str, ...] = tuple(_DATA["qa_templates"])  # questions answered in prose
SEPARATORS: tuple[str, ...] = tuple(_DATA["separators"])  # sentences run on, or a new line
FILLER_TEMPLATES: tuple[str, ...] = tuple(_DATA["filler_templates"])
N_TRAIN, N_TEST = 800, 100  # the demo's split (and export's default quality check)


def tag_table(seed: int = 1234) -> dict[str, str]:
    """The fixed fact table: key -> tag, in a seeded shuffled order."""
    rng = random.Random(seed)
    keys = list(KEYS)
    rng.shuffle(keys)
    return {k: rng.choice(TAGS) for k in keys}


def reasoning_for(key: str, tag: str) -> str:
    return f"The tag of {key} is {tag}."


def prose_document(rng: random.Random, n_sentences: int = 8) -> str:
    """One pretraining document: facts of the table, questions about them answered in prose,
    and filler sentences."""
    table = tag_table()
    keys = list(table)
    out = []
    for _ in range(n_sentences):
        roll = rng.random()
        if roll < 0.35:
            key = rng.choice(keys)
            question = rng.choice(QUESTION_TEMPLATES).format(key=key)
            fact = reasoning_for(key, table[key])
            qa = rng.choice(QA_TEMPLATES)
            out.append(qa.format(question=question, fact=fact, tag=table[key]))
        elif roll < 0.8:
            key = rng.choice(keys)
            template = rng.choice(PROSE_TEMPLATES)
            out.append(template.format(key=key, Key=key.capitalize(), tag=table[key]))
        else:
            a, b, c = rng.sample(KEYS, 3)
            out.append(rng.choice(FILLER_TEMPLATES).format(a=a, b=b, c=c))
    return "".join(s + rng.choice(SEPARATORS) for s in out).strip()


def chat_record(key: str, tag: str, template: str) -> dict:
    """One chat sample in OpenAI `messages` form, the answer after a <think> block."""
    return {
        "messages": [
            {"role": "user", "content": template.format(key=key)},
            {
                "role": "assistant",
                "content": f"<think>\n{reasoning_for(key, tag)}\n</think>\n\n{tag}",
            },
        ]
    }


def chat_dataset(n_train: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Train records on the training keys, test records on the held-out keys (no key in both)."""
    table = tag_table()
    keys = list(table)
    rng = random.Random(seed)

    def draw(pool: list[str], n: int) -> list[dict]:
        combos = [(k, t) for k in pool for t in QUESTION_TEMPLATES]
        if n <= len(combos):
            picked = rng.sample(combos, n)
        else:
            picked = [rng.choice(combos) for _ in range(n)]
        return [chat_record(k, table[k], t) for k, t in picked]

    return draw(keys[:N_TRAIN_KEYS], n_train), draw(keys[N_TRAIN_KEYS:], n_test)


def rl_records(keys: list[str]) -> list[dict]:
    """Verifiable RL records {prompt, answer}: every question template about each key."""
    table = tag_table()
    return [
        {"prompt": t.format(key=k), "answer": table[k]} for k in keys for t in QUESTION_TEMPLATES
    ]


def coldstart_records(n: int, seed: int = 0) -> list[dict]:
    """`n` chat records (<think> recall, then the tag) on training keys: the SFT cold start
    before GRPO (examples/grpo, `bench rl`)."""
    table = tag_table()
    combos = [(k, t) for k in list(table)[:N_TRAIN_KEYS] for t in QUESTION_TEMPLATES]
    return [chat_record(k, table[k], t) for k, t in random.Random(seed).sample(combos, n)]
