"""The tool-calling example of docs/serve.md, shortened: configs/tiny-deepseek-v3-base/full-tools.yaml
trains 3 steps on examples/data/tools, then the run is served and asked with tools through the
openai client. (Three steps teach little: the answer's shape is checked, not its call.)"""

from __future__ import annotations

import json
from pathlib import Path

import openai
from serve_helpers import live_server

from tunesmith.api import train

ROOT = Path(__file__).resolve().parents[3]
CONFIG = "configs/tiny-deepseek-v3-base/full-tools.yaml"


def test_tool_example_trains_and_serves(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    run = train(
        CONFIG,
        overrides=[f"output.dir={tmp_path / 'run'}", "train.max_steps=3", "train.eval_every=0",
                   "train.save_every=0", "train.progress=false", "output.tensorboard=false"],
    )  # fmt: skip
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["final"]["step"] == 3
    first = json.loads((ROOT / "examples/data/tools/train.jsonl").read_text().splitlines()[0])
    with live_server(run, served_name="tools") as (url, _):
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        r = client.chat.completions.create(
            model="tools",
            messages=first["messages"][:1],
            tools=first["tools"],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            temperature=0,
            max_tokens=12,
        )
    [call] = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert r.choices[0].finish_reason in ("tool_calls", "length")
