"""Tool calls in the DeepSeek-V3 markup: exact rendering, Jinja == Python, exact ids and mask."""

from __future__ import annotations

import pytest

from tunesmith.data.formats import convert
from tunesmith.tokenize import encode_segments, load_tokenizer, render, render_segments
from tunesmith.tokenize.templates import Segment, render_prompt, to_chat_messages

B, E, U, A = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"
CALLS = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>"
CALL_END = "<｜tool▁call▁end｜>"
OUTS = "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>"
OUT = "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>"
X = -100

WEATHER = {
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather of a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "time"}},
    ],
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Oslo and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "type": "function",
                    "function": {"name": "weather", "arguments": {"city": "Rome"}},
                },
            ],
        },
        {"role": "tool", "content": "3 C"},
        {"role": "tool", "content": "20 C"},
        {"role": "assistant", "content": "Oslo 3 C, Rome 20 C."},
    ],
}
SYSTEM = (
    "Be brief.\n\n## Tools\nYou have access to the following tools:\n\n### weather\n"
    'Description: Weather of a city.\nParameters: {"type": "object", "properties": '
    '{"city": {"type": "string"}}}\n\n### time'
)
CALL_TEXT = (
    f'Checking.{CALLS[0]}{CALL}weather\n```json\n{{"city": "Oslo"}}\n```{CALL_END}\n'
    f'{CALL}weather\n```json\n{{"city": "Rome"}}\n```{CALL_END}{CALLS[1]}{E}'
)
RESULTS = f"{OUTS[0]}{OUT[0]}3 C{OUT[1]}\n{OUT[0]}20 C{OUT[1]}{OUTS[1]}"


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_segments_train_on_calls_not_on_results() -> None:
    conv = convert(WEATHER)[1]
    assert render_segments(conv) == [
        Segment(B, False),
        Segment(SYSTEM, False),
        Segment(f"{U}Oslo and Rome?", False),
        Segment(A, False),
        Segment(CALL_TEXT, True),
        Segment(RESULTS, False),  # the answer follows the results without <｜Assistant｜>
        Segment(f"Oslo 3 C, Rome 20 C.{E}", True),
    ]
    # a prompt for the answer ends with the results block: no <｜Assistant｜> after it
    assert render_prompt(conv) == f"{B}{SYSTEM}{U}Oslo and Rome?{A}{CALL_TEXT}{RESULTS}"


@pytest.mark.parametrize("gen", [False, True])
@pytest.mark.parametrize("cut", [3, 5, 6])
def test_jinja_template_equals_python_renderer(tok, gen: bool, cut: int) -> None:
    record = {**WEATHER, "messages": WEATHER["messages"][:cut]}
    if cut == 5:  # ending on tool results: a prompt for the answer
        conv = convert(
            {**WEATHER, "messages": [*record["messages"], {"role": "assistant", "content": "x"}]}
        )[1]
        conv.messages.pop()
    else:
        conv = convert(record)[1]
    jinja = tok.apply_chat_template(
        to_chat_messages(conv), tools=conv.tools, tokenize=False, add_generation_prompt=gen
    )
    assert jinja == render(conv, add_generation_prompt=gen)


def test_sharegpt_function_call_ids_and_mask_are_exact(tok) -> None:
    record = {
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "function_call", "value": '{"name": "f", "arguments": {}}'},
            {"from": "observation", "value": "1"},
            {"from": "gpt", "value": "ok"},
        ],
        "tools": '[{"name": "f"}]',
    }
    name, conv = convert(record)
    ids, labels = encode_segments(tok, render_segments(conv))
    sep = [292, 683, 445, 298, 314, 86, 293]  # <｜tool▁sep｜>: plain text in the shipped vocabulary
    assert tok.encode("<｜tool▁sep｜>", add_special_tokens=False) == sep
    tools = [9, 9, 1754, 445, 89, 205, 858, 888, 302, 73, 299, 281, 577, 436, 1077, 312, 577]
    tools += [445, 89, 32, 205, 205, 9, 9, 9, 286]  # "## Tools\nYou have ... tools:\n\n### f"
    calls_begin = [292, 683, 445, 298, 2901, 89, 298, 451, 419]
    call_begin = [683, 445, 298, 2901, 298, 451, 293]
    head = [*calls_begin, *call_begin, 76, 295, 609, *sep, 76, 205, 70, 70, 70, 80, 433, 205]
    call = [*head, 97, 99, 205, 70, 70, 70, 292, 683, 445, 298, 2901, 298, 341, 419]
    call += [683, 445, 298, 2901, 89, 298, 341, 293, 1]  # <｜tool▁call(s)▁end｜> <eos>
    results = [292, 683, 445, 298, 1562, 89, 298, 451, 419, 683, 445, 298, 1562, 298, 451, 293]
    results += [23, 292, 683, 445, 298, 1562, 298, 341, 419, 683, 445, 298, 1562, 89, 298, 341, 293]
    assert name == "sharegpt"
    assert ids == [0, *tools, 3, 46, 79, 4, *call, *results, 363, 1]
    assert labels == [X] * (1 + len(tools) + 4) + call + [X] * len(results) + [363, 1]
    assert tok.decode(call) == CALLS[0] + CALL + "f\n```json\n{}\n```" + CALL_END + CALLS[1] + E
