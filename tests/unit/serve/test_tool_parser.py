"""The DeepSeek-V3 tool-call parser, character by character and whole."""

from __future__ import annotations

from tunesmith.serve.tool_parser import ToolCallStream, parse_tool_calls

BEGIN, END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL, CALL_END = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>", "<｜tool▁call▁end｜>"
TWO = (
    f'Sure.{BEGIN}{CALL}get_weather\n```json\n{{"city": "Oslo"}}\n```{CALL_END}\n'
    f'{CALL}add\n```json\n{{"a": 1}}\n```{CALL_END}{END}'
)


def _stream(text: str) -> tuple[list[str], list]:
    stream, content, deltas = ToolCallStream(), [], []
    for i in range(1, len(text) + 1):
        c, d = stream.update(text[:i], final=i == len(text))
        content += [c] if c else []
        deltas += d
    return content, deltas


def test_whole_output_gives_content_and_calls() -> None:
    content, calls = parse_tool_calls(TWO)
    assert content == "Sure."
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_weather", '{"city": "Oslo"}'),
        ("add", '{"a": 1}'),
    ]
    assert calls[0].id != calls[1].id and calls[0].id.startswith("call_")


def test_streamed_pieces_add_up_and_never_leak_markers() -> None:
    content, deltas = _stream(TWO + "ignored after the calls")
    assert "".join(content) == "Sure."
    heads = [(d.index, d.name) for d in deltas if d.name is not None]
    assert heads == [(0, "get_weather"), (1, "add")]
    args = {i: "".join(d.arguments or "" for d in deltas if d.index == i) for i in (0, 1)}
    assert args == {0: '{"city": "Oslo"}', 1: '{"a": 1}'}
    assert all("｜" not in (d.arguments or "") and "`" not in (d.arguments or "") for d in deltas)


def test_a_partial_marker_is_held_then_released_as_content() -> None:
    stream = ToolCallStream()
    assert stream.update("a <｜tool▁ca") == ("a ", [])
    assert stream.update("a <｜tool▁cab", final=True) == ("<｜tool▁cab", [])


def test_a_block_without_a_named_call_is_content() -> None:
    assert parse_tool_calls(f"x{BEGIN}junk") == (f"x{BEGIN}junk", [])


def test_a_call_cut_by_the_token_limit_keeps_what_was_written() -> None:
    content, [call] = parse_tool_calls(f'{BEGIN}{CALL}add\n```json\n{{"a": 1')
    assert (content, call.name, call.arguments) == ("", "add", '{"a": 1')
