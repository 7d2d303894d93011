"""Tool calling through a live server and the official openai client.

The model is tiny-llama taught (here, in seconds) two tool-calling conversations by heart:
asked for Oslo's weather with tools offered, it calls `get_weather` with {"city": "Oslo"};
given the tool's result, it answers. Greedy decoding then reproduces them exactly, through
the real chat template, engine, detokenizer and tool-call parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
import torch
from serve_helpers import live_server
from transformers import AutoModelForCausalLM

from tunesmith.data.formats import convert
from tunesmith.models.tiny import tiny_llama_config
from tunesmith.tokenize import encode_conversation, load_tokenizer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time", "description": "Time of a city."}},
]
ASK = [{"role": "user", "content": "Weather in Oslo?"}]
ARGS = '{"city": "Oslo"}'
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}}
RESULT = [
    *ASK,
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 3}'},
]
ANSWER = "It is 3 C in Oslo."


def _teach(model_dir) -> None:  # noqa: ANN001
    tok = load_tokenizer()
    samples = [
        {"tools": TOOLS, "messages": [*ASK, {"role": "assistant", "tool_calls": [CALL]}]},
        {"tools": TOOLS, "messages": [*RESULT, {"role": "assistant", "content": ANSWER}]},
    ]
    encoded = [encode_conversation(tok, convert(s)[1], 1024) for s in samples]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_llama_config(), dtype=torch.float32)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(400):
        right = True
        for e in encoded:
            ids, labels = torch.tensor([e.input_ids]), torch.tensor([e.labels])
            out = model(input_ids=ids, labels=labels)
            out.loss.backward()
            trained = labels[0, 1:] != -100
            guess = out.logits[0, :-1].argmax(-1)
            right &= bool((guess[trained] == labels[0, 1:][trained]).all())
        optim.step()
        optim.zero_grad()
        if right and step > 20:
            break
    assert right, "the model did not learn the conversations"
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, object]]:
    model_dir = tmp_path_factory.mktemp("toolcaller")
    _teach(model_dir)
    with live_server(model_dir, served_name="toolcaller") as live:
        yield live


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0)


def _ask(client: openai.OpenAI, messages=ASK, **kw):  # noqa: ANN001, ANN003
    kw.setdefault("max_tokens", 80)
    return client.chat.completions.create(
        model="toolcaller", messages=messages, tools=TOOLS, temperature=0, **kw
    )


def test_auto_parses_the_call(client) -> None:
    choice = _ask(client).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert (call.type, call.function.name, call.function.arguments) == (
        "function",
        "get_weather",
        ARGS,
    )
    assert call.id.startswith("call_")


def test_the_tool_result_gets_an_answer(client) -> None:
    choice = _ask(client, RESULT).choices[0]
    assert (choice.message.content, choice.message.tool_calls) == (ANSWER, None)
    assert choice.finish_reason == "stop"


def test_streamed_call_deltas_add_up(client) -> None:
    chunks = list(_ask(client, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    pieces = [t for d in deltas for t in d.tool_calls or []]
    head = pieces[0]
    assert (head.index, head.type, head.function.name) == (0, "function", "get_weather")
    assert head.id.startswith("call_") and head.function.arguments is None
    assert all(p.id is None and p.function.name is None for p in pieces[1:])
    assert "".join(p.function.arguments for p in pieces[1:]) == ARGS
    assert len(pieces) > 2  # the arguments came in several pieces
    assert "".join(d.content or "" for d in deltas) == ""
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_required_and_named_choices_force_a_call(client) -> None:
    required = _ask(client, tool_choice="required").choices[0]
    assert [c.function.name for c in required.message.tool_calls] == ["get_weather"]
    assert required.message.tool_calls[0].function.arguments == ARGS
    named = _ask(client, tool_choice={"type": "function", "function": {"name": "get_time"}})
    [call] = named.choices[0].message.tool_calls
    assert call.function.name == "get_time"


def test_none_leaves_tools_out(client, server) -> None:
    r = _ask(client, tool_choice="none", max_tokens=8)
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason != "tool_calls"
    body = {"model": "toolcaller", "messages": ASK}
    plain = httpx.post(server[0] + "/tokenize", json=body).json()["count"]
    assert r.usage.prompt_tokens == plain  # the prompt has no tools block
    assert _ask(client, max_tokens=1).usage.prompt_tokens > plain + 40  # with "auto" it has


@pytest.mark.parametrize(
    ("extra", "param", "message"),
    [
        (
            {"tool_choice": "required"},
            "tool_choice",
            "'tool_choice' is only allowed when 'tools' are specified",
        ),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
            "'tool_choice' names function 'nope', which 'tools' does not define"
            " (defined: get_weather, get_time)",
        ),
        (
            {"tools": [TOOLS[0], TOOLS[0]]},
            "tools.1.function.name",
            "'tools': function 'get_weather' is defined twice",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools.0.function.name",
            "'tools.0.function.name': String should match pattern '^[A-Za-z0-9_.-]{1,64}$'",
        ),
        (
            {"tools": []},
            "tools",
            "'tools': List should have at least 1 item after validation, not 0",
        ),
        (
            {"tools": TOOLS, "tool_choice": "always"},
            "tool_choice",
            "'tool_choice': Input should be 'none', 'auto' or 'required'",
        ),
    ],
)
def test_bad_tools_are_400(server, extra, param, message) -> None:
    body = {"model": "toolcaller", "messages": ASK, **extra}
    r = httpx.post(server[0] + "/v1/chat/completions", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["param"], error["message"], error["type"]) == (
        param,
        message,
        "invalid_request_error",
    )


def test_parallel_tool_calls_false_keeps_one_call(client) -> None:
    choice = _ask(client, parallel_tool_calls=False).choices[0]
    assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Oslo"}
