"""RL records: a prompt for the policy to answer, and the fields its rewards check.

    {"prompt": "What is 6 x 7?", "answer": "42"}
    {"prompt": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
     "answer": 42, "difficulty": "easy"}

The prompt is taken, per record, from the first key present of:

    prompt          a string (one user turn) or messages ending with a user turn
    messages        messages ending with a user turn (OpenAI form)
    conversations   ShareGPT turns [{from, value}] ending with a human turn
    question        a string (GSM8K)
    problem         a string (MATH, open-r1)

A `system` string adds a system turn where the prompt has none. `answer` (a string, a number
or a list of accepted answers) is what the accuracy reward compares with; a record without
one takes its `solution`. Every other field is passed through unchanged to the reward
functions, as a keyword argument holding one value per completion. The reward argument
names (prompts, completions, completion_ids) cannot be field names. Any file type of
data/sources (jsonl, json, csv, parquet, arrow, a directory) works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.data.formats import SHAREGPT_ROLES
from tunesmith.data.load import Checked, check_records
from tunesmith.data.preference import prompt_turns
from tunesmith.data.validate import Invalid, type_name
from tunesmith.records import Message

PROMPT_KEYS = ("prompt", "messages", "conversations", "question", "problem")
STRING_ONLY = ("question", "problem")
RESERVED = ("prompts", "completions", "completion_ids")
ANSWER_EXPECTED = "a string, a number or a non-empty list of them"


@dataclass
class RLRecord:
    """One prompt: `prompt` its turns (ending with a user turn, for the chat template),
    `raw_prompt` the value as written (what reward functions receive as `prompts[i]`),
    `fields` everything else (with `answer`), passed to the rewards."""

    prompt: list[Message]
    raw_prompt: str | list
    fields: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    format: str = ""

    @property
    def answer(self) -> Any:
        return self.fields.get("answer")


RLData = Checked[RLRecord]
"""Kept records plus counts: records_in == len(records) + rejected."""


def _check_answer(value: object, key: str) -> None:
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        raise Invalid("wrong_type", "empty list", field=key, expected=ANSWER_EXPECTED)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise Invalid(
                "wrong_type", f"wrong type: got {type_name(item)}", field=key,
                expected=ANSWER_EXPECTED,
            )  # fmt: skip
        if isinstance(item, str) and not item.strip():
            raise Invalid("empty_text", "empty answer", field=key, expected=ANSWER_EXPECTED)


def _check_last_turn(value: object, key: str) -> None:
    """A prompt's turns end with a user turn: the policy writes the reply."""
    if not isinstance(value, list) or not value or not isinstance(value[-1], dict):
        return
    last = value[-1]
    role = last.get("role") if key != "conversations" else SHAREGPT_ROLES.get(last.get("from"))
    if role == "assistant":
        raise Invalid(
            "bad_order", "the prompt ends with an assistant turn",
            field=f"{key}[{len(value) - 1}]",
            expected="turns ending with a user turn (the policy writes the reply; "
            "put a reference answer in `answer`)",
        )  # fmt: skip


def convert(record: object, required: Sequence[str] = ()) -> RLRecord:
    """One parsed record as an RLRecord, or Invalid."""
    if not isinstance(record, dict):
        raise Invalid("not_object", f"record is not an object: got {type_name(record)}",
                      expected="an object")  # fmt: skip
    key = next((k for k in PROMPT_KEYS if k in record), None)
    if key is None:
        keys = ", ".join(sorted(map(str, record))) or "none"
        raise Invalid(
            "no_format", f"record has no prompt (its keys: {keys})",
            expected="a prompt: one of " + ", ".join(PROMPT_KEYS),
        )  # fmt: skip
    if key in STRING_ONLY and not isinstance(record[key], str):
        raise Invalid("wrong_type", f"wrong type: got {type_name(record[key])}", field=key,
                      expected="a string")  # fmt: skip
    _check_last_turn(record[key], key)
    turns = prompt_turns(record, key, sharegpt=key == "conversations")
    clash = [k for k in record if k in RESERVED]
    if clash:
        raise Invalid(
            "reserved_field", "field name is a reward argument", field=clash[0],
            expected="another name (" + ", ".join(RESERVED) + " are taken)",
        )  # fmt: skip
    fields = {k: v for k, v in record.items() if k != key}
    if "answer" not in fields and "solution" in fields:
        fields["answer"] = fields["solution"]
    if fields.get("answer") is not None:
        _check_answer(fields["answer"], "answer" if "answer" in record else "solution")
    for name in required:
        if fields.get(name) is None:
            raise Invalid("missing_field", "missing required field", field=name,
                          expected=f"a value (the rewards need '{name}')")  # fmt: skip
    return RLRecord(turns, record[key], fields, format=key)


def load_rl_records(
    paths: Sequence[str | Path],
    on_error: str = "raise",
    required: Sequence[str] = (),
    system_prompt: str | None = None,
) -> RLData:
    """Read and check every record of `paths`. Bad records raise `DataError` ("file:line:
    field 'answer': wrong type: got object (expected ...)") or, with on_error="skip", are
    counted by reason. `required`: fields every record must hold (e.g. ("answer",) when the
    accuracy reward is on). `system_prompt` is added to prompts without a system turn."""

    def make(data: object, _: list[RLRecord]) -> RLRecord:
        item = convert(data, required)
        if system_prompt is not None and item.prompt[0].role != "system":
            item.prompt.insert(0, Message("system", system_prompt))
        return item

    return check_records(paths, on_error, make, RLData())
