"""Read what gets evaluated: a dataset for `eval run`, a predictions file for `eval score`.

Dataset records are any training format (see data/formats.py); the reference is the last
assistant turn (with its reasoning, which scoring cuts off unless asked not to). Extra
optional fields:

    references  list of further acceptable answers (text metrics take the max over all)
    label       the gold class (default: the reference answer without reasoning)
    choices     the candidate classes of this record (default: every label in the dataset)

Prediction records (jsonl / json / csv / parquet):

    prediction        the output text (text metrics; a class for accuracy / macro_f1)
    reference         the reference text, or `references`: a list of them
    label             the gold class                          (accuracy, macro_f1, roc_auc)
    predicted_label   the predicted class (default: argmax of `scores`, else `prediction`)
    scores            {class: score}; probabilities summing to 1 for > 2 classes (roc_auc)
    loss, tokens      mean token loss and target-token count of the sample (loss)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.data.formats import convert
from tunesmith.data.limits import MAX_RECORD_CHARS, check_record_size
from tunesmith.data.load import RecordError
from tunesmith.data.sources import RawRecord, expand_paths, iter_records
from tunesmith.data.validate import Invalid, optional_str, require_str, type_name
from tunesmith.errors import DataError
from tunesmith.evaluation.registry import LABEL, TEXT, of_kind
from tunesmith.evaluation.score import EvalRow
from tunesmith.records import Conversation
from tunesmith.tokenize.templates import assistant_text, render_prompt

NO_REFERENCE = ("no_assistant", "trailing_user")


@dataclass
class EvalItem:
    """A dataset sample: the conversation (prompt, teacher forcing) and its row to score."""

    conv: Conversation
    row: EvalRow
    choices: list[str] | None = None


def _strings(record: dict, key: str, *, min_items: int = 1) -> list[str] | None:
    """`record[key]` as a list of non-blank strings, or None when absent."""
    value = record.get(key)
    if value is None:
        return None
    expected = f"a list of at least {min_items} non-empty strings"
    if not isinstance(value, list) or len(value) < min_items:
        raise Invalid("wrong_type", f"got {type_name(value)}", field=key, expected=expected)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            got = f"got {type_name(item)}" if not isinstance(item, str) else "empty text"
            raise Invalid("wrong_type", got, field=f"{key}[{i}]", expected=expected)
    return value


def records(paths: list[str | Path]) -> list[RawRecord]:
    """Every record of `paths`; a record that is not valid JSON etc. raises with its line."""
    out: list[RawRecord] = []
    for path in expand_paths(paths):
        for record in iter_records(path):
            if record.error is not None:
                raise RecordError(record, record.error)
            out.append(record)
    return out


def _missing_reference(record: RawRecord, invalid: Invalid) -> DataError:
    return DataError(
        f"no reference answer: {invalid.message}",
        file=record.file,
        line=record.line,
        field=invalid.field,
        expected="the last turn to be the assistant's reference answer",
    )


def read_dataset(
    paths: list[str | Path], metrics: list[str], fmt: str = "auto", max_samples: int = 0
) -> list[EvalItem]:
    """Items of a dataset; records that cannot give what `metrics` need raise `DataError`."""
    needs_chat = of_kind(metrics, TEXT) + of_kind(metrics, LABEL)
    items: list[EvalItem] = []
    for record in records(paths):
        if max_samples and len(items) == max_samples:
            break
        try:
            _, conv = convert(record.data, fmt)
            check_record_size(record.data, conv, MAX_RECORD_CHARS, None)
            item = _item(record, conv, labels=bool(of_kind(metrics, LABEL)))
        except Invalid as invalid:
            if invalid.reason in NO_REFERENCE:
                raise _missing_reference(record, invalid) from None
            raise RecordError(record, invalid) from None
        if conv.is_text and needs_chat:
            raise DataError(
                "a text sample has no prompt or reference answer "
                f"(needed by {', '.join(needs_chat)})",
                file=record.file,
                line=record.line,
                field="text",
                expected="messages, sharegpt, alpaca or cqa records",
            )
        items.append(item)
    if not items:
        raise DataError("no records to evaluate", file=", ".join(map(str, paths)))
    return items


def _item(record: RawRecord, conv: Conversation, *, labels: bool) -> EvalItem:
    """The item of a converted record; `labels`: also read its gold class and choices."""
    conv.source = f"{record.file}:{record.line}"
    row = EvalRow(file=record.file, line=record.line)
    if conv.is_text:
        return EvalItem(conv, row)
    answer = next(m for m in reversed(conv.messages) if m.role == "assistant")
    row.input = render_prompt(conv)
    row.references = [assistant_text(answer, history=False)]
    row.references += _strings(record.data, "references") or []
    if not labels:
        return EvalItem(conv, row)
    row.label = optional_str(record.data, "label") or answer.content
    choices = _strings(record.data, "choices", min_items=2)
    if choices is not None and row.label not in choices:
        raise Invalid(
            "bad_label",
            f"'{row.label}' is not one of choices {choices}",
            field="label",
            expected="the gold class to be one of the record's choices",
        )
    return EvalItem(conv, row, choices)


def items_from_conversations(convs: list[Conversation], metrics: list[str]) -> list[EvalItem]:
    """Items of already loaded chat conversations (e.g. a validation split); the extra
    fields come from the records their `source` ("file:line") points at."""
    raw: dict[str, RawRecord] = {}
    for file in dict.fromkeys(c.source.rsplit(":", 1)[0] for c in convs if c.source):
        if Path(file).is_file():
            raw |= {f"{r.file}:{r.line}": r for r in iter_records(Path(file))}
    items = []
    for conv in convs:
        file, _, line = conv.source.rpartition(":")
        record = raw.get(conv.source) or RawRecord(file, int(line or 0), {}, None)
        try:
            items.append(_item(record, conv, labels=bool(of_kind(metrics, LABEL))))
        except Invalid as invalid:
            raise RecordError(record, invalid) from None
    return items


def read_predictions(path: str | Path, allow_empty: bool = False) -> list[EvalRow]:
    """Rows of a predictions file (fields in the module docstring), types checked."""
    rows = []
    for record in records([path]):
        if not isinstance(record.data, dict):
            raise RecordError(
                record,
                Invalid("not_object", f"got {type_name(record.data)}", expected="an object"),
            )
        try:
            rows.append(_prediction_row(record, allow_empty))
        except Invalid as invalid:
            raise RecordError(record, invalid) from None
    return rows


def _prediction_row(record: RawRecord, allow_empty: bool) -> EvalRow:
    data: dict[str, Any] = record.data
    row = EvalRow(file=record.file, line=record.line, input=data.get("input"))
    if data.get("prediction") is not None:
        row.prediction = require_str(data, "prediction", non_empty=False)
        if not allow_empty and not row.prediction.strip():
            raise Invalid(
                "empty_text",
                "empty prediction (pass --allow-empty to score it as a wrong answer)",
                field="prediction",
                expected="non-empty text",
            )
    refs = _strings(data, "references")
    if refs is None and data.get("reference") is not None:
        refs = [require_str(data, "reference")]
    row.references = refs or []
    row.label = optional_str(data, "label")
    row.predicted_label = optional_str(data, "predicted_label")
    row.scores = _scores(data)
    if data.get("loss") is not None:
        loss, tokens = data["loss"], data.get("tokens")
        if not isinstance(loss, int | float) or not isinstance(tokens, int) or tokens < 0:
            raise Invalid(
                "wrong_type",
                f"got loss={loss!r}, tokens={tokens!r}",
                field="loss",
                expected="a number with 'tokens', a non-negative integer",
            )
        row.loss_sum, row.tokens = float(loss) * tokens, tokens
    return row


def _scores(data: dict) -> dict[str, float] | None:
    value = data.get("scores")
    if value is None:
        return None
    ok = isinstance(value, dict) and len(value) >= 2
    if not ok or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise Invalid(
            "wrong_type",
            f"got {type_name(value)}" + (f" {value}" if isinstance(value, dict) else ""),
            field="scores",
            expected="an object mapping at least two classes to numbers",
        )
    return {str(k): float(v) for k, v in value.items()}
