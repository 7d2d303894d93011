"""Each format loads to the exact expected Conversation; auto-detection; <think>; system prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.data import Conversation, Message, detect_format, load_conversations
from tunesmith.data.validate import Invalid, split_think

ASSETS = Path(__file__).parents[2] / "assets" / "data"


def chat(source: str, fmt: str, *turns: tuple) -> Conversation:
    return Conversation(messages=[Message(*t) for t in turns], source=source, meta={"format": fmt})


def test_alpaca_jsonl() -> None:
    path = ASSETS / "alpaca.jsonl"
    result = load_conversations([path])
    assert result.conversations == [
        chat(
            f"{path}:1",
            "alpaca",
            ("user", "Translate to French.\n\nGood morning"),
            ("assistant", "Bonjour"),
        ),
        chat(
            f"{path}:2",
            "alpaca",
            ("system", "Be brief."),
            ("user", "Name a prime number."),
            ("assistant", "2", "2 is the smallest prime."),
        ),
        # line 3 is blank: skipped, not counted; an empty `input` adds nothing
        chat(f"{path}:4", "alpaca", ("user", "Say hi."), ("assistant", "Hi!")),
    ]
    assert (result.records_in, result.rejected, result.formats) == (3, 0, {"alpaca": 3})


def test_messages_jsonl_with_think_and_reasoning_content() -> None:
    path = ASSETS / "messages.jsonl"
    result = load_conversations([path], fmt="messages")
    assert result.conversations == [
        chat(
            f"{path}:1",
            "messages",
            ("system", "You are terse."),
            ("user", "2+2?"),
            ("assistant", "4"),
        ),
        chat(
            f"{path}:2",
            "messages",
            ("user", "Why is the sky blue?"),
            ("assistant", "Short wavelengths scatter more.", "Rayleigh scattering."),
            ("user", "Thanks"),
            ("assistant", "You're welcome.", "Polite reply."),
        ),
    ]


def test_sharegpt_json_list() -> None:
    path = ASSETS / "sharegpt.json"
    result = load_conversations([path])
    assert result.conversations == [
        chat(f"{path}:1", "sharegpt", ("user", "Hello"), ("assistant", "Hi there")),
        chat(
            f"{path}:2",
            "sharegpt",
            ("system", "Answer in one word."),
            ("user", "Capital of Italy?"),
            ("assistant", "Rome"),
        ),
    ]


def test_cqa_csv_with_and_without_context() -> None:
    path = ASSETS / "cqa.csv"
    result = load_conversations([path], fmt="cqa")
    assert result.conversations == [
        chat(
            f"{path}:2",
            "cqa",
            ("user", "Paris is the capital of France.\n\nWhat is the capital of France?"),
            ("assistant", "Paris"),
        ),
        chat(
            f"{path}:3",
            "cqa",
            ("user", "How many legs does a spider have?"),
            ("assistant", "Eight, usually."),
        ),
    ]


def test_text_jsonl() -> None:
    path = ASSETS / "text.jsonl"
    result = load_conversations([path], fmt="text", system_prompt="ignored for text")
    assert result.conversations == [
        Conversation(
            text="The quick brown fox jumps over the lazy dog.",
            source=f"{path}:1",
            meta={"format": "text"},
        ),
        Conversation(
            text="Second document.\nWith two lines.", source=f"{path}:2", meta={"format": "text"}
        ),
    ]
    assert all(c.is_text for c in result.conversations)


def test_directory_reads_files_sorted_and_counts_formats() -> None:
    result = load_conversations([ASSETS])
    sources = [c.source.split(":")[0] for c in result.conversations]
    assert [Path(s).name for s in dict.fromkeys(sources)] == [
        "alpaca.jsonl",
        "cqa.csv",
        "messages.jsonl",
        "sharegpt.json",
        "text.jsonl",
    ]
    assert result.formats == {"alpaca": 3, "cqa": 2, "messages": 2, "sharegpt": 2, "text": 2}
    assert result.records_in == 11 and result.rejected == 0


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"messages": [], "text": "x", "instruction": "y"}, "messages"),
        ({"conversations": [], "instruction": "y", "question": "q"}, "sharegpt"),
        ({"instruction": "i", "question": "q", "text": "t"}, "alpaca"),
        ({"question": "q", "answer": "a", "text": "t"}, "cqa"),
        ({"text": "t", "meta": 1}, "text"),
        ({"prompt": "p", "completion": "c"}, None),
    ],
)
def test_detection_order(record: dict, expected: str | None) -> None:
    assert detect_format(record) == expected


def test_auto_detects_per_record_in_a_mixed_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "plain"},
        {"question": "Q?", "answer": "A.", "context": None},
        {"instruction": "Do.", "output": "Done.", "text": "also has text"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = load_conversations([path])
    assert result.formats == {"text": 1, "cqa": 1, "alpaca": 1}
    assert result.conversations[1].messages == [Message("user", "Q?"), Message("assistant", "A.")]
    assert result.conversations[2].messages[1] == Message("assistant", "Done.")


@pytest.mark.parametrize(
    ("text", "reasoning", "content"),
    [
        ("<think>\n step one \n</think>\n\nAnswer.", "step one", "Answer."),
        ("  <think>a</think>b", "a", "b"),
        ("<think>\n\n</think>\n\nNo reasoning.", None, "No reasoning."),
        ("No think block.", None, "No think block."),
        ("Answer with <think>inside</think> text", None, "Answer with <think>inside</think> text"),
    ],
)
def test_split_think(text: str, reasoning: str | None, content: str) -> None:
    assert split_think(text, "output") == (reasoning, content)


def test_split_think_unclosed() -> None:
    with pytest.raises(Invalid) as info:
        split_think("<think>never closed", "output")
    assert (info.value.reason, info.value.field, info.value.expected) == (
        "unclosed_think",
        "output",
        "a closed </think>",
    )


def test_reasoning_content_wins_over_think_block(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    record = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {
                "role": "assistant",
                "content": "<think>inline</think>Hello",
                "reasoning_content": "x",
            },
        ]
    }
    path.write_text(json.dumps(record) + "\n")
    [conversation] = load_conversations([path]).conversations
    assert conversation.messages[1] == Message("assistant", "Hello", "x")


def test_system_prompt_inserted_only_when_missing() -> None:
    result = load_conversations([ASSETS / "messages.jsonl"], system_prompt="Default system.")
    first, second = result.conversations
    assert first.messages[0] == Message("system", "You are terse.")
    assert second.messages[0] == Message("system", "Default system.")
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]
