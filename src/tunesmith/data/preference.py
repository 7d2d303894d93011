"""Preference records: paired (chosen vs rejected) and unpaired (KTO) formats.

Paired formats (each of prompt / chosen / rejected may be a string or chat messages):

- `pair`:          prompt, chosen, rejected, system?           (TRL's explicit-prompt form)
                   prompt: a string (one user turn) or messages ending with a user turn;
                   chosen / rejected: a string, an assistant message, or a list holding one.
- `pair_messages`: messages, chosen, rejected, system?         (OpenAI messages form)
                   messages: the prompt turns; chosen / rejected: the final assistant turns.
- `pair_implicit`: chosen, rejected                            (TRL's implicit-prompt form)
                   two whole conversations that share every turn but the last assistant one.
- `pair_sharegpt`: conversations, chosen, rejected, system?    (LLaMA-Factory's ShareGPT pairs)
                   conversations: [{from, value}] prompt turns; chosen / rejected:
                   {from: gpt, value} (or a string).
Unpaired (KTO):
- `kto`:           prompt, completion, label (true = desirable), system?

Detection per record: `completion` or `label` -> kto; else `chosen` / `rejected` with
`conversations` -> pair_sharegpt, `messages` -> pair_messages, `prompt` -> pair, neither ->
pair_implicit. A file mixing paired and unpaired records fails at the first record that
differs (`mixed_kinds`). Assistant text may open with a DeepSeek-R1 `<think>` block, split
into reasoning as for SFT (data/validate.split_think).
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.data.formats import SHAREGPT_ROLES
from tunesmith.data.load import Checked, check_records
from tunesmith.data.validate import (
    Invalid,
    assistant_message,
    check_turns,
    optional_str,
    require_str,
    type_name,
)
from tunesmith.errors import ConfigError
from tunesmith.records import Message, PreferenceRecord

PAIRED_FORMATS = ("pair", "pair_messages", "pair_implicit", "pair_sharegpt")
FORMATS = (*PAIRED_FORMATS, "kto")
PREFERENCE_KEYS = ("chosen", "rejected", "completion")


def is_preference_record(record: object) -> bool:
    """True when a record carries a preference key (chosen, rejected or completion)."""
    return isinstance(record, dict) and any(k in record for k in PREFERENCE_KEYS)


def detect(record: dict) -> str | None:
    if "completion" in record or "label" in record:
        return "kto"
    if "chosen" not in record and "rejected" not in record:
        return None
    if "conversations" in record:
        return "pair_sharegpt"
    if "messages" in record:
        return "pair_messages"
    if "prompt" in record:
        return "pair"
    return "pair_implicit"


def _message(item: object, field_name: str, roles: dict[str, str], role_key: str,
             text_key: str) -> Message:  # fmt: skip
    if not isinstance(item, dict):
        raise Invalid(
            "wrong_type", f"wrong type: got {type_name(item)}", field=field_name,
            expected="an object",
        )  # fmt: skip
    prefix = field_name + "."
    sender = require_str(item, role_key, prefix)
    role = roles.get(sender)
    if role is None:
        raise Invalid(
            "unknown_role", f"unknown role '{sender}'", field=prefix + role_key,
            expected="one of " + ", ".join(roles),
        )  # fmt: skip
    if role == "assistant":
        text = require_str(item, text_key, prefix, non_empty=False)
        return assistant_message(text, prefix + text_key, optional_str(item, "reasoning_content"))
    return Message(role, require_str(item, text_key, prefix))


def _turns(value: object, field_name: str, sharegpt: bool = False) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise Invalid(
            "wrong_type", f"wrong type: got {type_name(value)}", field=field_name,
            expected="a non-empty list of messages",
        )  # fmt: skip
    roles = SHAREGPT_ROLES if sharegpt else {r: r for r in ("system", "user", "assistant")}
    keys = ("from", "value") if sharegpt else ("role", "content")
    return [_message(m, f"{field_name}[{i}]", roles, *keys) for i, m in enumerate(value)]


def prompt_turns(record: dict, key: str, sharegpt: bool = False) -> list[Message]:
    """The prompt turns of `record[key]`: a string (one user turn), OpenAI messages or,
    with `sharegpt`, ShareGPT turns (also the prompt reader of RL records, data/rl.py)."""
    value = record.get(key)
    if isinstance(value, str):
        turns = [Message("user", require_str(record, key))]
    elif value is None:
        raise Invalid("missing_field", "missing required field", field=key,
                      expected="a string or a list of messages")  # fmt: skip
    else:
        turns = _turns(value, key, sharegpt)
    system = optional_str(record, "system")
    if system is not None and turns[0].role != "system":
        turns.insert(0, Message("system", system))
    check_turns([*turns, Message("assistant", "x")], key, "from" if sharegpt else "role")
    return turns


def _answer(record: dict, key: str, sharegpt: bool = False) -> Message:
    value = record.get(key)
    if isinstance(value, str) or value is None:
        return assistant_message(require_str(record, key, non_empty=False), key)
    if isinstance(value, list):
        if len(value) != 1:
            raise Invalid(
                "wrong_type", f"{len(value)} messages", field=key,
                expected="one assistant message (the prompt turns belong in the prompt)",
            )  # fmt: skip
        value, key = value[0], f"{key}[0]"
    roles = SHAREGPT_ROLES if sharegpt else {r: r for r in ("system", "user", "assistant")}
    keys = ("from", "value") if sharegpt else ("role", "content")
    message = _message(value, key, roles, *keys)
    if message.role != "assistant":
        raise Invalid(
            "bad_order", f"the answer is a '{message.role}' turn", field=key,
            expected="an assistant turn",
        )  # fmt: skip
    return message


def _implicit(record: dict) -> tuple[list[Message], Message, Message]:
    chosen, rejected = (
        _turns(record.get("chosen"), "chosen"),
        _turns(record.get("rejected"), "rejected"),
    )
    for name, turns in (("chosen", chosen), ("rejected", rejected)):
        check_turns(turns, name, "role")
    if chosen[:-1] != rejected[:-1]:
        raise Invalid(
            "prompt_mismatch", "chosen and rejected differ before their last turn",
            field="rejected", expected="two conversations sharing every turn but the last",
        )  # fmt: skip
    return chosen[:-1], chosen[-1], rejected[-1]


def _label(record: dict) -> bool:
    if "label" not in record:
        raise Invalid("missing_field", "missing required field", field="label",
                      expected="true (desirable) or false")  # fmt: skip
    value = record["label"]
    if not isinstance(value, bool):
        raise Invalid("wrong_type", f"wrong type: got {type_name(value)} {value!r}",
                      field="label", expected="true (desirable) or false")  # fmt: skip
    return value


def convert(record: object, fmt: str = "auto") -> PreferenceRecord:
    """One parsed record as a PreferenceRecord, or Invalid."""
    if not isinstance(record, dict):
        raise Invalid("not_object", f"record is not an object: got {type_name(record)}",
                      expected="an object")  # fmt: skip
    name = detect(record) if fmt == "auto" else fmt
    if name is None:
        keys = ", ".join(sorted(map(str, record))) or "none"
        raise Invalid(
            "no_format", f"record matches no preference format (its keys: {keys})",
            expected="prompt + chosen + rejected (or messages / conversations + chosen + "
            "rejected), or prompt + completion + label",
        )  # fmt: skip
    if name == "kto":
        return PreferenceRecord(
            prompt_turns(record, "prompt"), _answer(record, "completion"), desirable=_label(record),
            format=name,
        )  # fmt: skip
    if name == "pair_implicit":
        prompt, chosen, rejected = _implicit(record)
        return PreferenceRecord(prompt, chosen, rejected, format=name)
    sharegpt = name == "pair_sharegpt"
    key = {"pair": "prompt", "pair_messages": "messages", "pair_sharegpt": "conversations"}[name]
    return PreferenceRecord(
        prompt_turns(record, key, sharegpt), _answer(record, "chosen", sharegpt),
        _answer(record, "rejected", sharegpt), format=name,
    )  # fmt: skip


class PreferenceData(Checked[PreferenceRecord]):
    """Kept records plus counts: records_in == len(records) + rejected."""

    @property
    def paired(self) -> bool:
        return bool(self.records) and self.records[0].paired


def load_preference(
    paths: list[str | Path], fmt: str = "auto", on_error: str = "raise"
) -> PreferenceData:
    """Read and check every record of `paths`; bad records raise `DataError` (file:line,
    field, expected) or, with on_error="skip", are counted by reason. Paired and unpaired
    records never mix."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ConfigError(
            f"unknown preference format '{fmt}' (expected auto, {', '.join(FORMATS)})"
        )

    def make(data: object, kept: list[PreferenceRecord]) -> PreferenceRecord:
        item = convert(data, fmt)
        if kept and item.paired != kept[0].paired:
            raise _mixed(item, kept[0].source)
        return item

    return check_records(paths, on_error, make, PreferenceData())


def _mixed(item: PreferenceRecord, first: str) -> Invalid:
    kinds = ("unpaired (kto)", "paired")
    return Invalid(
        "mixed_kinds",
        f"a {kinds[item.paired]} record after {kinds[not item.paired]} records (first at {first})",
        expected="one kind per dataset: paired (chosen/rejected) or unpaired (completion/label)",
    )
