"""RL records: prompt formats detected per record, fields passed through, file:line errors."""

from __future__ import annotations

import json

import pytest

from tunesmith.data.rl import load_rl_records
from tunesmith.data.types import Message
from tunesmith.errors import DataError


def _write(tmp_path, *records, name="rl.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_every_prompt_format_and_its_fields(tmp_path):
    path = _write(
        tmp_path,
        {"prompt": "What is 6 x 7?", "answer": "42", "difficulty": "easy"},
        {"prompt": [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "2+2?"}], "answer": 4},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                      {"role": "user", "content": "3+3?"}], "answer": [6, "six"]},
        {"conversations": [{"from": "human", "value": "1+1?"}], "answer": "2"},
        {"question": "Natalia sold 48 clips...", "answer": "She sold 24.\n#### 72"},
        {"problem": "Compute $1/3 + 1/3$.", "solution": "\\frac{2}{3}", "level": 2},
    )  # fmt: skip
    data = load_rl_records([path])
    assert data.records_in == 6 and data.rejected == 0
    assert data.formats == {"prompt": 2, "messages": 1, "conversations": 1, "question": 1,
                            "problem": 1}  # fmt: skip
    first, chat, multi, share, gsm, math = data.records
    assert first.prompt == [Message("user", "What is 6 x 7?")]
    assert first.raw_prompt == "What is 6 x 7?"
    assert first.fields == {"answer": "42", "difficulty": "easy"}
    assert first.source == f"{path}:1"
    assert [m.role for m in chat.prompt] == ["system", "user"] and chat.answer == 4
    assert [m.role for m in multi.prompt] == ["user", "assistant", "user"]
    assert multi.answer == [6, "six"]
    assert share.prompt == [Message("user", "1+1?")]
    assert gsm.prompt == [Message("user", "Natalia sold 48 clips...")]
    assert math.fields == {"solution": "\\frac{2}{3}", "level": 2, "answer": "\\frac{2}{3}"}


def test_system_prompt_is_added_where_missing(tmp_path):
    path = _write(
        tmp_path, {"prompt": "a", "answer": "1"},
        {"prompt": "b", "system": "Own system.", "answer": "1"},
    )  # fmt: skip
    data = load_rl_records([path], system_prompt="Think first.")
    assert data.records[0].prompt[0] == Message("system", "Think first.")
    assert data.records[1].prompt[0] == Message("system", "Own system.")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"prompt": "q", "answer": {"value": 1}},
         "field 'answer': wrong type: got object (expected a string, a number or a non-empty "
         "list of them)"),
        ({"prompt": "q", "answer": True},
         "field 'answer': wrong type: got bool (expected a string, a number or a non-empty "
         "list of them)"),
        ({"prompt": "q", "solution": "  "},
         "field 'solution': empty answer (expected a string, a number or a non-empty list of "
         "them)"),
        ({"answer": "4"},
         "record has no prompt (its keys: answer) (expected a prompt: one of prompt, messages, "
         "conversations, question, problem)"),
        ({"prompt": "  ", "answer": "4"},
         "field 'prompt': empty or whitespace-only text (expected non-empty text)"),
        ({"question": ["q"], "answer": "4"},
         "field 'question': wrong type: got list (expected a string)"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "4"}]},
         "field 'messages[1]': the prompt ends with an assistant turn (expected turns ending "
         "with a user turn (the policy writes the reply; put a reference answer in `answer`))"),
        ({"prompt": "q", "answer": "4", "completions": ["x"]},
         "field 'completions': field name is a reward argument (expected another name "
         "(prompts, completions, completion_ids are taken))"),
        ({"prompt": "q"}, "field 'answer': missing required field (expected a value (the "
         "rewards need 'answer'))"),
    ],
)  # fmt: skip
def test_bad_records_raise_with_file_and_line(tmp_path, record, message):
    path = _write(tmp_path, {"prompt": "ok", "answer": "1"}, record)
    with pytest.raises(DataError) as err:
        load_rl_records([path], required=("answer",))
    assert str(err.value) == f"{path}:2: {message}"


def test_bad_json_line_and_skip_mode_counts(tmp_path):
    path = tmp_path / "rl.jsonl"
    path.write_text('{"prompt": "a", "answer": "1"}\n{"prompt": \n\n{"answer": "2"}\n')
    with pytest.raises(DataError, match=r"rl\.jsonl:2: invalid JSON"):
        load_rl_records([path])
    data = load_rl_records([path], on_error="skip")
    assert data.records_in == 3 and len(data.records) == 1 and data.rejected == 2
    assert data.rejected_by_reason == {"invalid_json": 1, "no_format": 1}


def test_answer_is_optional_unless_required(tmp_path):
    path = _write(tmp_path, {"prompt": "write a haiku", "topic": "autumn"})
    (rec,) = load_rl_records([path]).records
    assert rec.answer is None and rec.fields == {"topic": "autumn"}


def test_csv_records(tmp_path):
    path = tmp_path / "rl.csv"
    path.write_text("question,answer\nWhat is 2+3?,5\n")
    (rec,) = load_rl_records([path]).records
    assert rec.prompt == [Message("user", "What is 2+3?")] and rec.answer == "5"
