"""`tunesmith data inspect`: formats, counts, token lengths, labels, duplicates, plot, JSON."""

from __future__ import annotations

import json

from helpers import write_jsonl
from tunesmith.cli.main import main


def chat(user: str, answer: str, **extra: object) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        **extra,
    }


def test_inspect_reports_what_is_in_the_files(tmp_path, capsys):
    long = " ".join(f"word{i}" for i in range(80))
    rows = [
        chat("What is one?", "One.", label="math"),
        chat("what is  ONE?", "one.", label="math"),  # exact duplicate (case, spaces)
        chat("Tell me", long, label="text"),
        chat("Tell me", long.replace("word40", "other"), label="text"),  # near duplicate
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"},
            ],
            "label": "chat",
        },
    ]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    with open(path, "a") as f:
        f.write("{broken\n")
    other = write_jsonl(tmp_path / "alpaca.jsonl", [{"instruction": "Say hi", "output": "hi"}])
    argv = [
        "data",
        "inspect",
        str(path),
        str(other),
        "--max-len",
        "40",
        "--plot",
        str(tmp_path / "len.png"),
        "--json",
        str(tmp_path / "r.json"),
    ]
    assert main(argv) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["files"] == {str(path): {"messages": 5}, str(other): {"alpaca": 1}}
    assert (report["records"], report["valid"], report["invalid"]) == (7, 6, {"invalid_json": 1})
    assert report["roles"] == {"user": 7, "assistant": 7, "system": 1}
    assert report["turns_per_conversation"]["max"] == 4
    assert report["labels"] == {"label": {"math": 2, "text": 2, "chat": 1}}
    assert report["duplicates"] == {"exact": 1, "near": 1, "near_threshold": 0.8}
    assert report["max_len"] == 40 and report["over_max_len"] == 2
    assert report["tokens"] == {
        "min": 9,
        "p50": 15.0,
        "p90": 237.0,
        "p99": 237.9,
        "max": 238,
        "mean": 87.33,
        "total": 524,
    }
    assert (tmp_path / "len.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "data inspect" in out and "exact duplicates" in out and str(tmp_path / "len.png") in out


def test_inspect_without_tokens_and_a_chosen_label_field(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a", domain="x", label="y")])
    assert (
        main(
            [
                "data",
                "inspect",
                str(path),
                "--no-tokens",
                "--field",
                "domain",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert "tokens" not in report and report["labels"] == {"domain": {"x": 1}}


def test_inspect_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["data", "inspect", str(tmp_path / "nope.jsonl"), "--no-tokens"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nope.jsonl'}: file not found")


def test_inspect_writes_no_file_unless_asked(tmp_path, monkeypatch):
    """Files only where the user asked: no token_lengths.png in the current directory."""
    path = write_jsonl(tmp_path / "d.jsonl", [chat("q", "a")])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["data", "inspect", str(path)]) == 0
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "d.jsonl"]
