"""Bad input to `data prepare`: by default (input.on_error=skip) the record is accounted for
under its reason and filed in rejects.jsonl, and the run stops only when more than
input.max_reject_fraction of the records are bad; with input.on_error=raise, a one-line
message (file, line, field, expected) and exit 2. An empty input file is an error unless
output.allow_empty=true."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.cli.main import main

GOOD = (
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}'
)
BIG = 50 * 1024 * 1024

# (id, second line of the file as bytes, reason, message after "FILE:2: ")
CASES = [
    (
        "malformed_json",
        b'{"messages": [}',
        "invalid_json",
        "invalid JSON: Expecting value: column 15 (expected one JSON object per line)",
    ),
    (
        "missing_field",
        b'{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}',
        "missing_field",
        "field 'messages[0].content': missing required field (expected a string)",
    ),
    (
        "mistyped_field",
        b'{"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "x"}]}',
        "wrong_type",
        "field 'messages[0].content': wrong type: got int (expected a string)",
    ),
    (
        "empty_conversation",
        b'{"messages": []}',
        "no_assistant",
        "field 'messages': empty conversation (expected at least one turn)",
    ),
    (
        "invalid_utf8",
        b'{"messages": "caf\xe9"}',
        "invalid_utf8",
        "invalid UTF-8 at byte 18 of the line (invalid continuation byte) (expected UTF-8 text)",
    ),
    (
        "mixed_formats",
        b'{"instruction": "Say hi.", "output": "hi"}',
        "mixed_formats",
        "field 'instruction': record is in format 'alpaca' but the file's first record (line 1) "
        "is in format 'messages' (expected one record format per file)",
    ),
    (
        "line_of_50_mb",
        b'{"messages": [{"role": "user", "content": "'
        + b"x" * BIG
        + b'"}, {"role": "assistant", "content": "ok"}]}',
        "too_large",
        f"field 'messages': record has {BIG + 2:,} characters (expected at most 1,000,000 "
        "characters per record; input.max_record_chars sets it)",
    ),
]


def write(tmp_path: Path, line: bytes) -> Path:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(
        GOOD.encode() + b"\n" + line + b"\n" + GOOD.replace("hi", "hey").encode() + b"\n"
    )
    return path


@pytest.mark.parametrize(
    ("line", "reason", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_record_stops_with_one_line_naming_file_line_field(
    tmp_path, capsys, line, reason, message
):
    path = write(tmp_path, line)
    argv = ["data", "prepare", "--input", str(path), "--output", str(tmp_path / "o")]
    assert main([*argv, "input.on_error=raise"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {path}:2: {message}\n"
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "o").exists()  # no half-written outputs, no directory left behind


@pytest.mark.parametrize(
    ("line", "reason", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_by_default_the_bad_record_goes_to_rejects(tmp_path, line, reason, message):
    path = write(tmp_path, line)
    out = tmp_path / "o"
    # 1 bad record in 3 is over the default bound of 0.2
    argv = ["data", "prepare", "--input", str(path), "--output", str(out)]
    assert main([*argv, "input.max_reject_fraction=0.34"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dropped"] == {reason: 1}
    assert (report["records_in"], report["records_out"]) == (3, 2)
    (reject,) = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert reject["source"] == f"{path}:2" and reject["step"] == "validate"
    assert reject["reason"] == reason and reject["message"] == f"{path}:2: {message}"
    if reason == "too_large":
        assert reject["record"].endswith(f"... [cut: {len(line):,} characters in all]")


def test_unknown_step_name_in_the_yaml(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(
        "input: {paths: [raw.jsonl]}\noutput: {dir: o}\nsteps:\n  - exact_dedupe\n  - shuffle\n"
    )
    assert main(["data", "prepare", str(tmp_path / "p.yaml")]) == 2
    assert capsys.readouterr().err == (
        f"error: unknown step 'shuffle' (in {tmp_path / 'p.yaml'}, line 5) (steps: exact_dedupe, "
        "near_dedupe, quality, pii, decontam, balance, augment_templates, augment_synonyms, "
        "augment_paraphrase, split)\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--input", "missing.jsonl", "--output", "o"],
            "missing.jsonl: file not found (expected a file ending in .jsonl, .json, .csv, .parquet, "
            ".arrow or a directory of them)",
        ),
        (["nope.yaml"], "config file not found: nope.yaml"),
        (["--output", "o"], "input.paths: no input files (give --input FILE or set input.paths)"),
        (
            ["--input", "raw.jsonl", "--output", "o", "steps.near_dedupe.num_perm=1"],
            "steps.near_dedupe.num_perm: must be >= 2, got 1 "
            "(in override 'steps.near_dedupe.num_perm=1')",
        ),
    ],
)
def test_config_and_path_errors_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    Path("raw.jsonl").write_text(GOOD + "\n")
    assert main(["data", "prepare", *argv]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def alpaca_lines(n: int, empty_at: set[int]) -> bytes:
    rows = [
        {"instruction": f"Question {i}?", "output": "" if i in empty_at else f"Answer {i}."}
        for i in range(1, n + 1)
    ]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_one_empty_answer_is_cleaned_not_fatal(tmp_path, capsys):
    """The issue's case: a raw file with one empty assistant answer (line 7 of 10)."""
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(alpaca_lines(10, {7}))
    out = tmp_path / "out"
    assert main(["data", "prepare", "--input", str(raw), "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dropped"] == {"empty_text": 1}
    assert (report["records_in"], report["records_out"]) == (10, 9)
    (reject,) = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert reject["source"] == f"{raw}:7" and reject["reason"] == "empty_text"
    assert reject["message"] == (
        f"{raw}:7: field 'output': assistant answer is empty (expected non-empty text)"
    )
    assert "empty_text" in capsys.readouterr().out  # the printed report counts it


def test_mostly_bad_file_stops_past_max_reject_fraction(tmp_path, capsys):
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(alpaca_lines(10, {2, 3, 5}))  # 30% bad > 0.2
    out = tmp_path / "out"
    assert main(["data", "prepare", "--input", str(raw), "--output", str(out)]) == 2
    assert capsys.readouterr().err == (
        "error: input: 3 of 10 records (30%) are bad (3 empty_text), more than "
        "input.max_reject_fraction=0.2: is this the right file? First: "
        f"{raw}:2: field 'output': assistant answer is empty (expected non-empty text). "
        "Raise the bound to accept them (1 accepts any share)\n"
    )
    assert not out.exists()
    argv = ["data", "prepare", "--input", str(raw), "--output", str(out)]
    assert main([*argv, "input.max_reject_fraction=0.3"]) == 0  # at the bound: accepted
    assert json.loads((out / "report.json").read_text())["records_out"] == 7


def test_empty_input_file_is_an_error_unless_allowed(tmp_path, capsys, caplog):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    assert main(["data", "prepare", "--input", str(empty), "--output", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {empty}: the file holds no records (expected at least one record; "
        "output.allow_empty=true accepts an empty input)\n"
    )
    assert not out.exists()
    argv = ["data", "prepare", "--input", str(empty), "--output", str(out)]
    assert main([*argv, "output.allow_empty=true"]) == 0
    assert f"{empty} holds no records (accepted: output.allow_empty=true)" in caplog.text
    assert (out / "train.jsonl").read_text() == ""


def test_nothing_left_to_write_is_an_error_unless_allowed(tmp_path, capsys):
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(alpaca_lines(2, {1, 2}))
    argv = ["data", "prepare", "--input", str(raw), "--output", str(tmp_path / "out")]
    assert main([*argv, "input.max_reject_fraction=1"]) == 2
    assert capsys.readouterr().err == (
        "error: input: no record left to write: all 2 records read were rejected or dropped "
        "by the steps (see the counts with output.allow_empty=true, which writes the empty "
        "outputs and rejects.jsonl)\n"
    )
    assert main([*argv, "input.max_reject_fraction=1", "output.allow_empty=true"]) == 0
