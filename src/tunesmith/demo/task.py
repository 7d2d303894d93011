"""The built-in task: answer "What is the tag of X?" from knowledge the base learned in prose.

A fixed, seeded table gives each of 160 key words a tag word (an adjective). The shipped tiny
base was pretrained on prose stating every fact of the table in several phrasings
(scripts/build_tiny_base.py), so it knows all the tags, but it has never seen the chat
template: asked in DeepSeek-R1 chat form, it does not answer. The demo LoRA-fine-tunes it on
chat questions about 120 keys, with a <think> trace that recalls the fact first, and tests on
the other 40 keys, whose facts it saw only as prose. A gain there shows the fine-tune taught
the format and the recall, not the answers.

Every key and tag is one token of the shipped tokenizer, with and without a leading space.
"""

from __future__ import annotations

import random

KEYS = [
    "time",
    "years",
    "people",
    "work",
    "life",
    "water",
    "world",
    "place",
    "day",
    "number",
    "part",
    "house",
    "system",
    "group",
    "problem",
    "fact",
    "hand",
    "point",
    "child",
    "state",
    "family",
    "school",
    "student",
    "country",
    "week",
    "company",
    "month",
    "right",
    "study",
    "book",
    "story",
    "night",
    "example",
    "home",
    "area",
    "money",
    "power",
    "game",
    "line",
    "end",
    "member",
    "law",
    "car",
    "city",
    "name",
    "team",
    "idea",
    "body",
    "information",
    "face",
    "level",
    "office",
    "door",
    "health",
    "person",
    "art",
    "war",
    "history",
    "party",
    "result",
    "change",
    "morning",
    "reason",
    "research",
    "girl",
    "guy",
    "moment",
    "air",
    "teacher",
    "force",
    "education",
    "model",
    "data",
    "train",
    "test",
    "loss",
    "value",
    "step",
    "token",
    "layer",
    "weight",
    "learning",
    "rate",
    "batch",
    "size",
    "memory",
    "speed",
    "network",
    "input",
    "output",
    "cache",
    "make",
    "know",
    "take",
    "see",
    "come",
    "think",
    "look",
    "want",
    "give",
    "use",
    "find",
    "seem",
    "feel",
    "try",
    "leave",
    "call",
    "keep",
    "start",
    "show",
    "hear",
    "play",
    "run",
    "move",
    "live",
    "believe",
    "bring",
    "happen",
    "write",
    "provide",
    "sit",
    "stand",
    "lose",
    "pay",
    "meet",
    "include",
    "continue",
    "set",
    "learn",
    "lead",
    "understand",
    "watch",
    "follow",
    "stop",
    "create",
    "speak",
    "read",
    "allow",
    "add",
    "spend",
    "grow",
    "open",
    "win",
    "offer",
    "remember",
    "love",
    "consider",
    "appear",
    "buy",
    "wait",
    "serve",
    "die",
    "send",
    "expect",
    "build",
    "stay",
    "fall",
    "cut",
    "reach",
    "kill",
]
TAGS = [
    "small",
    "large",
    "long",
    "great",
    "little",
    "old",
    "big",
    "high",
    "different",
    "early",
    "young",
    "important",
    "few",
    "public",
    "bad",
    "same",
    "able",
    "late",
    "hard",
    "major",
    "better",
    "economic",
    "strong",
    "possible",
    "whole",
    "free",
    "military",
    "true",
    "federal",
    "clear",
    "recent",
    "certain",
    "personal",
    "red",
    "difficult",
    "available",
    "likely",
    "short",
    "single",
    "medical",
    "current",
    "wrong",
    "private",
    "past",
    "foreign",
    "fine",
    "common",
    "poor",
    "natural",
    "significant",
    "similar",
    "hot",
    "dead",
    "central",
    "happy",
    "serious",
    "ready",
    "simple",
    "left",
    "physical",
    "general",
    "environmental",
    "financial",
    "blue",
    "democratic",
    "dark",
    "various",
    "entire",
    "close",
    "legal",
    "religious",
    "cold",
    "final",
    "main",
    "green",
    "nice",
    "huge",
    "popular",
    "traditional",
    "cultural",
]
N_TRAIN_KEYS = 120  # the first 120 keys of the shuffled table are for training, the rest held out

QUESTION_TEMPLATES = (
    "What is the tag of {key}?",
    "Which tag goes with {key}?",
    "Tell me the tag of {key}.",
)

PROSE_TEMPLATES = (
    "The tag of {key} is {tag}.",
    "{Key} has the tag {tag}.",
    "Everyone knows that {key} is tagged {tag}.",
    "If you look up {key}, you find the tag {tag}.",
    "The word {key} carries the tag {tag}, as the list says.",
)

# Questions answered in prose: the base learns to answer them, just not in a chat.
QA_TEMPLATES = (
    "Q: {question}\nA: {fact}",
    "Someone asked: {question} The answer: {fact}",
    "{question}\n{fact}\n\n{tag}",
    "Q: {question}\nA: {fact} In short:\n\n{tag}",
)

SEPARATORS = (" ", " ", "\n", "\n\n")  # sentences run on, or start a new line

FILLER_TEMPLATES = (
    "The {a} and the {b} met at the {c}.",
    "A {a} is not a {b}, but both are in the list.",
    "Count with me: one, two, three, four, five.",
    "Some say the {a} came before the {b}.",
)


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
