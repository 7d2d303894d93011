"""Bad records: exact messages under on_error="raise", rejects file and counts under "skip"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.data import RecordError, load_conversations
from tunesmith.errors import ConfigError

ALTERNATE = "expected user and assistant turns to alternate, after one optional system message"
FORMAT_LIST = (
    "messages (messages, tools?); sharegpt (conversations, system?, tools?);"
    " alpaca (instruction, input?, output, system?);"
    " cqa (context?, question, answer, system?); text (text)"
)

# a valid first record for each fmt used, so the bad record sits on line 3
GOOD_LINE = {
    "auto": '{"text": "fine"}',
    "alpaca": '{"instruction": "i", "output": "o"}',
    "cqa": '{"question": "q", "answer": "a"}',
    "sharegpt": '{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}',
}


def msgs(*turns: tuple[str, str]) -> str:
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]})


# (id, raw jsonl line, fmt, reason, message after "file:1: ")
CASES = [
    (
        "invalid_json",
        '{"instruction": "x", "output": }',
        "auto",
        "invalid_json",
        "invalid JSON: Expecting value: column 32 (expected one JSON object per line)",
    ),
    (
        "not_object",
        "[1, 2]",
        "auto",
        "not_object",
        "record is not an object: got list (expected an object)",
    ),
    (
        "missing_field",
        '{"instruction": "Say hi."}',
        "auto",
        "missing_field",
        "field 'output': missing required field (expected a string)",
    ),
    (
        "wrong_type",
        '{"instruction": "Count.", "output": 3}',
        "auto",
        "wrong_type",
        "field 'output': wrong type: got int (expected a string)",
    ),
    (
        "wrong_type_list",
        '{"messages": {"role": "user"}}',
        "auto",
        "wrong_type",
        "field 'messages': wrong type: got object (expected a list)",
    ),
    (
        "empty_output",
        '{"instruction": "Say hi.", "output": "  \\n"}',
        "auto",
        "empty_text",
        "field 'output': assistant answer is empty (expected non-empty text)",
    ),
    (
        "empty_after_think",
        '{"instruction": "Say hi.", "output": "<think>hm</think>\\n"}',
        "auto",
        "empty_text",
        "field 'output': assistant answer is empty after the </think> block"
        " (expected non-empty text)",
    ),
    (
        "empty_user",
        msgs(("user", " "), ("assistant", "a")),
        "auto",
        "empty_text",
        "field 'messages[0].content': empty or whitespace-only text (expected non-empty text)",
    ),
    (
        "unclosed_think",
        msgs(("user", "q"), ("assistant", "<think>still thinking")),
        "auto",
        "unclosed_think",
        "field 'messages[1].content': unclosed <think> block (expected a closed </think>)",
    ),
    (
        "unknown_role",
        msgs(("user", "q"), ("function", "{}")),
        "auto",
        "unknown_role",
        "field 'messages[1].role': unknown role 'function'"
        " (expected one of system, user, assistant, tool)",
    ),
    (
        "unknown_sharegpt_role",
        '{"conversations": [{"from": "bot", "value": "x"}]}',
        "sharegpt",
        "unknown_role",
        "field 'conversations[0].from': unknown role 'bot'"
        " (expected one of human, user, gpt, assistant, system, function_call, observation)",
    ),
    (
        "trailing_user",
        msgs(("user", "q"), ("assistant", "a"), ("user", "q2")),
        "auto",
        "trailing_user",
        "field 'messages[2].role': conversation ends with a user turn that has no reply"
        " (expected the last turn to be assistant)",
    ),
    (
        "no_assistant",
        msgs(("system", "s"), ("user", "q")),
        "auto",
        "no_assistant",
        "field 'messages': conversation has no assistant turn"
        " (expected at least one assistant message)",
    ),
    (
        "only_system",
        msgs(("system", "s")),
        "auto",
        "no_assistant",
        "field 'messages': conversation has no assistant turn"
        " (expected at least one assistant message)",
    ),
    (
        "empty_list",
        '{"messages": []}',
        "auto",
        "no_assistant",
        "field 'messages': empty conversation (expected at least one turn)",
    ),
    (
        "starts_with_assistant",
        msgs(("system", "s"), ("assistant", "a"), ("user", "q"), ("assistant", "b")),
        "auto",
        "bad_order",
        "field 'messages[1].role': conversation starts with 'assistant'"
        " (expected the first turn (after an optional system message) to be user)",
    ),
    (
        "late_system",
        msgs(("user", "q"), ("system", "s"), ("assistant", "a")),
        "auto",
        "bad_order",
        "field 'messages[1].role': system message at position 1;"
        f" only the first message may be system ({ALTERNATE})",
    ),
    (
        "consecutive_users",
        msgs(("user", "a"), ("user", "b"), ("assistant", "c")),
        "auto",
        "consecutive_roles",
        "field 'messages[1].role': two consecutive 'user' turns at positions 0 and 1;"
        f" the DeepSeek chat template needs alternation, merge them ({ALTERNATE})",
    ),
    (
        "no_format",
        '{"prompt": "p", "completion": "c"}',
        "auto",
        "no_format",
        f"record matches no format (its keys: completion, prompt) (expected one of: {FORMAT_LIST})",
    ),
    (
        "format_mismatch",
        msgs(("user", "q"), ("assistant", "a")),
        "alpaca",
        "format_mismatch",
        "field 'instruction': record looks like format 'messages', but fmt='alpaca' was given"
        " (expected alpaca keys: instruction, input?, output, system?)",
    ),
    (
        "named_format_missing_key",
        '{"prompt": "p"}',
        "cqa",
        "missing_field",
        "field 'question': missing required field (expected a string)",
    ),
]


@pytest.mark.parametrize(
    ("line", "fmt", "reason", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_record_raises_exact_message(
    tmp_path: Path, line: str, fmt: str, reason: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(GOOD_LINE[fmt] + "\n\n" + line + "\n")
    with pytest.raises(RecordError) as info:
        load_conversations([path], fmt=fmt)
    assert str(info.value) == f"{path}:3: {message}"
    assert (info.value.file, info.value.line, info.value.reason) == (str(path), 3, reason)


def test_invalid_utf8_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(RecordError) as info:
        load_conversations([path])
    assert str(info.value) == (
        f"{path}:2: invalid UTF-8 at byte 14 of the line (invalid continuation byte)"
        " (expected UTF-8 text)"
    )


def test_csv_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"instruction,output\nHi,Hello\nA,B,C\nCaf\xe9,x\nQ,\n")
    rejects = tmp_path / "rejects.jsonl"
    result = load_conversations([path], on_error="skip", rejects_path=rejects)
    lines = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(x["source"], x["reason"]) for x in lines] == [
        (f"{path}:3", "bad_csv_row"),
        (f"{path}:4", "invalid_utf8"),
        (f"{path}:5", "empty_text"),
    ]
    assert lines[0]["message"] == (
        f"{path}:3: row has 3 fields, the header has 2 (expected 2 fields: instruction, output)"
    )
    assert lines[1]["raw"] == {"instruction": "Caf\ufffd", "output": "x"}
    assert (result.records_in, len(result.conversations), result.rejected) == (4, 1, 3)


def test_skip_writes_rejects_and_counts_reconcile(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    bad_json = '{"text": "unterminated'
    missing = '{"instruction": "no output"}'
    consecutive = msgs(("user", "a"), ("user", "b"), ("assistant", "c"))
    path.write_bytes(
        "\n".join(
            ['{"text": "one"}', bad_json, "", missing, '{"text": "two"}', consecutive]
        ).encode()
        + b"\n\xff\n   \n"
    )
    rejects = tmp_path / "out" / "rejects.jsonl"
    result = load_conversations([path], on_error="skip", rejects_path=rejects)

    assert [c.text for c in result.conversations] == ["one", "two"]
    assert result.records_in == 6
    assert result.rejected == 4
    assert result.records_in == len(result.conversations) + result.rejected
    assert result.rejected_by_reason == {
        "consecutive_roles": 1,
        "invalid_json": 1,
        "invalid_utf8": 1,
        "missing_field": 1,
    }
    entries = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert entries == [
        {
            "source": f"{path}:2",
            "reason": "invalid_json",
            "message": f"{path}:2: invalid JSON: Unterminated string starting at: column 10"
            " (expected one JSON object per line)",
            "raw": bad_json,
        },
        {
            "source": f"{path}:4",
            "reason": "missing_field",
            "message": f"{path}:4: field 'output': missing required field (expected a string)",
            "raw": missing,
        },
        {
            "source": f"{path}:6",
            "reason": "consecutive_roles",
            "message": f"{path}:6: field 'messages[1].role': two consecutive 'user' turns at"
            " positions 0 and 1; the DeepSeek chat template needs alternation, merge them"
            f" ({ALTERNATE})",
            "raw": consecutive,
        },
        {
            "source": f"{path}:7",
            "reason": "invalid_utf8",
            "message": f"{path}:7: invalid UTF-8 at byte 1 of the line (invalid start byte)"
            " (expected UTF-8 text)",
            "raw": "\ufffd",
        },
    ]


def test_skip_without_rejects_path_still_counts(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"text": "a"}, 7, {"question": "q", "answer": ""}]))
    result = load_conversations([path], on_error="skip")
    assert (result.records_in, len(result.conversations)) == (3, 1)
    assert result.rejected_by_reason == {"empty_text": 1, "not_object": 1}


def test_skip_rejects_file_holds_the_json_record(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"instruction": "i", "output": 1}]))
    rejects = tmp_path / "r.jsonl"
    load_conversations([path], on_error="skip", rejects_path=rejects)
    [entry] = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert entry["raw"] == {"instruction": "i", "output": 1}
    assert entry["source"] == f"{path}:1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"fmt": "chatml"},
            "unknown data format 'chatml' (expected auto, messages, sharegpt, alpaca, cqa, text)",
        ),
        ({"on_error": "ignore"}, "unknown on_error 'ignore' (expected raise or skip)"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_conversations([tmp_path], **kwargs)
    assert str(info.value) == message


def test_record_over_the_default_size_limit_is_bad_input(tmp_path: Path) -> None:
    """The guard `data prepare` applies, in the loader training uses (default 1,000,000)."""
    path = tmp_path / "big.jsonl"
    big = {"instruction": "i", "output": "x" * 1_000_000}
    path.write_text('{"text": "fine"}\n' + json.dumps(big) + "\n")
    with pytest.raises(RecordError) as info:
        load_conversations([path])
    assert str(info.value) == (
        f"{path}:2: field 'output': record has 1,000,001 characters (expected at most "
        "1,000,000 characters per record; data.max_record_chars sets it)"
    )
    assert info.value.reason == "too_large"
    skipped = load_conversations([path], on_error="skip", max_record_chars=2_000_000)
    assert (skipped.records_in, skipped.rejected) == (2, 0)
    skipped = load_conversations([path], on_error="skip")
    assert skipped.rejected_by_reason == {"too_large": 1}


def test_evaluation_files_get_the_size_guard(tmp_path: Path) -> None:
    from tunesmith.evaluation.records import read_dataset

    path = tmp_path / "eval.jsonl"
    path.write_text(msgs(("user", "q"), ("assistant", "y" * 1_000_001)) + "\n")
    with pytest.raises(RecordError) as info:
        read_dataset([path], ["em"])
    assert str(info.value) == (
        f"{path}:1: field 'messages': record has 1,000,002 characters (expected at most "
        "1,000,000 characters per record)"
    )
