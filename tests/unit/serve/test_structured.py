"""Structured output through the official openai client on a live server over the shipped
tiny base: its sampled outputs are near random, so every one parsing and validating against
its schema (jsonschema), matching its regex or being one of its choices is a real test."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator

import jsonschema
import openai
import pytest
from serve_helpers import live_server

MODEL = "tiny"
CHAT = [{"role": "user", "content": "Describe the tag of time as JSON."}]

ENUM = {
    "type": "object",
    "properties": {
        "color": {"enum": ["red", "green", "blue"]},
        "ok": {"type": "boolean"},
    },
    "required": ["color", "ok"],
    "additionalProperties": False,
}
NESTED = {
    "type": "object",
    "properties": {
        "person": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 6},
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
            },
            "required": ["name", "age"],
            "additionalProperties": False,
        }
    },
    "required": ["person"],
    "additionalProperties": False,
}
ARRAY = {
    "type": "array",
    "items": {"type": "integer", "minimum": -9, "maximum": 9},
    "minItems": 2,
    "maxItems": 4,
}
NUMBERS = {
    "type": "object",
    "properties": {
        "x": {"type": "number", "minimum": -1.5, "maximum": 2.5},
        "k": {"type": "integer", "exclusiveMinimum": 10, "maximum": 15},
    },
    "required": ["x", "k"],
    "additionalProperties": False,
}
SCHEMAS = {"enum": ENUM, "nested": NESTED, "array": ARRAY, "numbers": NUMBERS}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, object]]:
    with live_server("tiny-deepseek-v3-base", max_batch=8, served_name=MODEL) as live:
        yield live


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0)


def _json_schema(name: str, schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_sampled_choice_validates_against_its_schema(client, name) -> None:
    r = client.chat.completions.create(
        model=MODEL,
        messages=CHAT,
        response_format=_json_schema(name, SCHEMAS[name]),
        n=4,
        seed=7,
        temperature=1.0,
        max_tokens=80,
    )
    assert len(r.choices) == 4
    for c in r.choices:
        assert c.finish_reason == "stop", c.message.content
        jsonschema.validate(json.loads(c.message.content), SCHEMAS[name])
    assert len({c.message.content for c in r.choices}) > 1  # sampled: not one forced answer


def test_greedy_json_schema_answer_is_pinned(client) -> None:
    r = client.chat.completions.create(
        model=MODEL, messages=CHAT, response_format=_json_schema("e", ENUM), temperature=0
    )
    c = r.choices[0]
    assert (c.message.content, c.finish_reason) == ('{"color": "red", "ok": true}', "stop")
    assert r.usage.completion_tokens == 15  # the grammar ended it: no end-of-sequence token


def test_schema_streams_valid_json_per_choice(client) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=CHAT,
        response_format=_json_schema("nested", NESTED),
        n=2,
        seed=3,
        max_tokens=60,
        stream=True,
    )
    texts, finish = {0: "", 1: ""}, {}
    for chunk in stream:
        for ch in chunk.choices:
            texts[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finish[ch.index] = ch.finish_reason
    assert finish == {0: "stop", 1: "stop"}
    for text in texts.values():
        jsonschema.validate(json.loads(text), NESTED)


def test_json_object_holds_against_a_logit_bias_pulling_out_of_it(client) -> None:
    # This model writes English inside a free JSON string until max_tokens. +100 on the quote
    # token and +50 on "}" would make anything unconstrained a run of quotes; under the mask
    # they close each string at once and the object as soon as a value is complete.
    quote, close = 8, 99  # '"', '}'
    r = client.chat.completions.create(
        model=MODEL,
        messages=CHAT,
        response_format={"type": "json_object"},
        n=3,
        seed=3,
        max_tokens=60,
        logit_bias={str(quote): 100, str(close): 50},
    )
    for c in r.choices:
        assert c.finish_reason == "stop", c.message.content
        assert isinstance(json.loads(c.message.content), dict)
    free = client.chat.completions.create(
        model=MODEL, messages=CHAT, seed=3, max_tokens=5, logit_bias={str(quote): 100}
    )
    assert free.choices[0].message.content == '"' * 5


def test_guided_regex_and_choice(client) -> None:
    pattern = r"[a-z]{2,5}-[0-9]{3}"
    r = client.chat.completions.create(
        model=MODEL, messages=CHAT, n=4, seed=1, extra_body={"guided_regex": pattern}
    )
    for c in r.choices:
        assert re.fullmatch(pattern, c.message.content) and c.finish_reason == "stop"
    options = ["yes", "no", 'maybe "so"']
    r = client.chat.completions.create(
        model=MODEL, messages=CHAT, n=6, seed=2, extra_body={"guided_choice": options}
    )
    assert all(c.message.content in options for c in r.choices)
    assert all(c.finish_reason == "stop" for c in r.choices)
    grammar = 'start: ("ab" | "c") "-" DIGIT\n%import common.DIGIT'
    r = client.chat.completions.create(
        model=MODEL, messages=CHAT, n=4, seed=4, extra_body={"guided_grammar": grammar}
    )
    for c in r.choices:
        assert re.fullmatch(r"(ab|c)-[0-9]", c.message.content) and c.finish_reason == "stop"
    newer = {"structured_outputs": {"choice": options}}  # vLLM's newer name
    r = client.chat.completions.create(model=MODEL, messages=CHAT, n=3, seed=2, extra_body=newer)
    assert all(c.message.content in options for c in r.choices)


def test_completions_take_guided_json_and_response_format(client) -> None:
    r = client.completions.create(
        model=MODEL,
        prompt="JSON:",
        max_tokens=60,
        n=3,
        seed=5,
        extra_body={"guided_json": json.dumps(NESTED)},
    )
    for c in r.choices:
        jsonschema.validate(json.loads(c.text), NESTED)
    for extra in (
        {"response_format": _json_schema("a", ARRAY)},
        {"structured_outputs": {"json": ARRAY}},
    ):
        r = client.completions.create(
            model=MODEL, prompt="JSON:", max_tokens=60, seed=5, extra_body=extra
        )
        jsonschema.validate(json.loads(r.choices[0].text), ARRAY)


@pytest.mark.parametrize(
    ("extra", "param", "message"),
    [
        (
            {"response_format": _json_schema("bad", {"type": "foo"})},
            "response_format",
            "invalid JSON schema in 'response_format': Invalid type: foo",
        ),
        (
            {"response_format": _json_schema("bad", {"type": "integer", "minimum": "x"})},
            "response_format",
            "Expected f64 for 'minimum', got \"x\"",
        ),
        (
            {"guided_regex": "a(b"},
            "guided_regex",
            "invalid regular expression in 'guided_regex'",
        ),
        ({"guided_choice": []}, "guided_choice", "must be a non-empty list of non-empty"),
        ({"guided_json": "{not json"}, "guided_json", "'guided_json' is not valid JSON"),
        (
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema",
            "needs 'json_schema'",
        ),
        (
            {"response_format": {"type": "json_object"}, "guided_regex": "a"},
            "guided_regex",
            "at most one of 'response_format'",
        ),
        (
            {"structured_outputs": {"choice": []}},
            "structured_outputs.choice",
            "must be a non-empty list of non-empty",
        ),
        (
            {"structured_outputs": {"regex": "a", "json_object": True}},
            "structured_outputs.json_object",
            "at most one of",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
            "response_format.json_schema.name",
            "String should match pattern",
        ),
    ],
)
def test_bad_schema_regex_or_choice_is_a_400_naming_the_field(client, extra, param, message):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=CHAT, extra_body=extra)
    err = e.value.body
    assert e.value.status_code == 400 and message in err["message"], err
    assert err["param"] == param and err["type"] == "invalid_request_error"


def test_without_llguidance_the_400_names_the_extra(client, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "llguidance", None)  # import llguidance -> ImportError
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=MODEL, messages=CHAT, extra_body={"guided_regex": "[0-9]{7}"}
        )
    err = e.value.body
    assert (err["param"], err["code"]) == ("guided_regex", "unsupported_parameter")
    assert "pip install 'tunesmith[grammar]'" in err["message"]
