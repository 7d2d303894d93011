"""Bad input to `data prepare`: one-line messages (file, line, field, expected) and exit 2,
or, with input.on_error=skip, the record accounted for under its reason and filed in rejects."""

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
    assert main(["data", "prepare", "--input", str(path), "--output", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {path}:2: {message}\n"
    assert "Traceback" not in captured.out + captured.err
    assert list((tmp_path / "o").iterdir()) == []  # no half-written outputs left behind


@pytest.mark.parametrize(
    ("line", "reason", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_on_error_skip_accounts_for_the_bad_record(tmp_path, line, reason, message):
    path = write(tmp_path, line)
    out = tmp_path / "o"
    argv = ["data", "prepare", "--input", str(path), "--output", str(out), "input.on_error=skip"]
    assert main(argv) == 0
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
