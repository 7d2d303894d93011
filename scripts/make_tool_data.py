# .venv/bin/python scripts/make_tool_data.py  [--out examples/data/tools] [--seed 0]
"""Write the small tool-calling set the tool example trains on (seeded, no downloads).

Two tools, `get_weather(city)` and `get_time(city)`. Each record asks for one of them about a
city: the assistant calls the tool, reads its result and answers; a few records ask nothing a
tool knows and get a plain answer. Records alternate between the OpenAI form (`tools`,
`tool_calls`, `tool` turns) and LLaMA-Factory's ShareGPT form (`function_call`,
`observation`), which tunesmith reads alike. train.jsonl: 96 records, validation.jsonl: 16
(cities never asked in training).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "examples" / "data" / "tools"
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current temperature of a city.",
            "parameters": CITY,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a city.",
            "parameters": CITY,
        },
    },
]
CITIES = [
    "Oslo",
    "Rome",
    "Paris",
    "Berlin",
    "Madrid",
    "Lisbon",
    "Vienna",
    "Prague",
    "Warsaw",
    "Dublin",
    "Athens",
    "Cairo",
    "Lima",
    "Quito",
    "Tokyo",
    "Seoul",
    "Delhi",
    "Dhaka",
    "Hanoi",
    "Manila",
    "Sydney",
    "Perth",
    "Denver",
    "Boston",
    "Austin",
    "Miami",
    "Toronto",
    "Bogota",
]
HELD_OUT = ["Zurich", "Riga", "Tunis", "Nairobi", "Havana", "Osaka", "Kyiv", "Sofia"]
SMALL_TALK = [
    ("Say hello.", "Hello!"),
    ("Who are you?", "A tiny assistant."),
    ("Thanks!", "You are welcome."),
]


def record(rng: random.Random, city: str, i: int) -> dict:
    if i % 8 == 7:
        q, a = rng.choice(SMALL_TALK)
        return {
            "tools": TOOLS,
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        }
    if rng.random() < 0.5:
        name, q = "get_weather", f"What is the weather in {city}?"
        result = rng.randint(-5, 30)
        output = json.dumps({"temp": result})
        answer = f"It is {result} C in {city}."
    else:
        name, q = "get_time", f"What time is it in {city}?"
        hhmm = f"{rng.randint(0, 23):02d}:{rng.choice([0, 15, 30, 45]):02d}"
        output, answer = json.dumps({"time": hhmm}), f"It is {hhmm} in {city}."
    args = {"city": city}
    if i % 2 == 0:
        call = {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        return {"tools": TOOLS, "messages": [
            {"role": "user", "content": q},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": output},
            {"role": "assistant", "content": answer},
        ]}  # fmt: skip
    bare = json.dumps([t["function"] for t in TOOLS])
    return {"tools": bare, "conversations": [
        {"from": "human", "value": q},
        {"from": "function_call", "value": json.dumps({"name": name, "arguments": args})},
        {"from": "observation", "value": output},
        {"from": "gpt", "value": answer},
    ]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    splits = {
        "train.jsonl": [CITIES[i % len(CITIES)] for i in range(96)],
        "validation.jsonl": HELD_OUT * 2,
    }
    for name, cities in splits.items():
        rows = [record(rng, city, i) for i, city in enumerate(cities)]
        path = args.out / name
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        print(f"{len(rows):>4d} records  {path}")


if __name__ == "__main__":
    main()
