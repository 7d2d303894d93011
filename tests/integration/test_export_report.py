"""`tunesmith export report`: one table (+ JSON, PNG) over model variants, all measured now
by default; with --reuse, what an export recorded, marked as not measured in this run; bad
input exits 2."""

from __future__ import annotations

import json

import pytest

from tunesmith.cli.main import main
from tunesmith.models.registry import PRESETS

BASE = "tiny-deepseek-v3-base"


@pytest.fixture(scope="module")
def variants(chat_files, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("variants")
    data = ["--eval-data", chat_files["validation"], "--max-samples", 4]
    q = ["export", "quantize", "--model", BASE, "--scheme", "int8-weight-only"]
    assert main([*q, "--output", str(root / "int8"), *map(str, data)]) == 0
    assert main(["export", "gguf", "--model", BASE, "--output", str(root / "gguf")]) == 0
    return {"base": PRESETS[BASE].path(), "int8": root / "int8", "gguf": root / "gguf"}


def test_reused_figures_are_marked(variants, chat_files, tmp_path, capsys):
    out = tmp_path / "report"
    dirs = [variants["base"], variants["int8"], variants["gguf"]]
    data = ["--eval-data", chat_files["validation"], "--max-samples", 4, "--output", out]
    assert main(["export", "report", "--reuse", *map(str, dirs), *map(str, data)]) == 0
    printed = capsys.readouterr().out
    header = "| variant | kind | parameters | size MiB | size | tokens/s | speed | em | ppl |"
    assert printed.splitlines()[0] == header
    recorded = json.loads((variants["int8"] / "export_report.json").read_text())
    int8_line = next(ln for ln in printed.splitlines() if ln.startswith("| int8 |"))
    cells = [c.strip() for c in int8_line.strip("|").split("|")]
    assert cells[5] == f"{recorded['measured']['tokens_per_s']:.0f} *"  # tokens/s
    assert cells[6].endswith("× *")  # its ratio to the reference
    assert cells[7] == f"{recorded['measured']['metrics']['em']:.4f} *"
    base_line = next(ln for ln in printed.splitlines() if ln.startswith(f"| {BASE} |"))
    assert "*" not in base_line.split("|")[6]  # the reference itself was measured now
    note = printed.splitlines()[-2]
    assert note.startswith("* not measured in this run: tokens/s and quality of int8 (20")
    assert note.endswith("run without --reuse to measure every variant now")
    assert printed.splitlines()[-1] == (
        f"wrote {out / 'report.md'}, {out / 'report.json'}, {out / 'report.png'}"
    )
    assert (out / "report.md").read_text() == "\n".join(printed.splitlines()[:-1]) + "\n"
    assert (out / "report.png").stat().st_size > 10_000
    rows = {r["name"]: r for r in json.loads((out / "report.json").read_text())}
    base, int8, gguf = rows[BASE], rows["int8"], rows["gguf"]
    assert base["kind"] == "model" and base["measured_now"] and base["parameters"] == 4_364_032
    assert int8["kind"] == "quantize" and not int8["measured_now"]  # from its report
    recorded = json.loads((variants["int8"] / "export_report.json").read_text())
    assert int8["tokens_per_s"] == recorded["measured"]["tokens_per_s"]
    assert int8["metrics"] == recorded["measured"]["metrics"]
    assert base["metrics"]["ppl"] == pytest.approx(recorded["baseline"]["metrics"]["ppl"], 1e-6)
    assert gguf["kind"] == "gguf" and gguf["tokens_per_s"] is None and gguf["metrics"] == {}
    assert gguf["size_bytes"] == (variants["gguf"] / "model.gguf").stat().st_size
    line = next(ln for ln in printed.splitlines() if ln.startswith("| gguf |"))
    assert line.endswith("| — | — | — | — |") and "| 1.00× |" in printed
    assert int8["recorded_at"] and base["recorded_at"] is None


def test_default_measures_every_loadable_variant_now(variants, chat_files, tmp_path, capsys):
    data = ["--eval-data", chat_files["validation"], "--max-samples", 2, "--output", tmp_path]
    dirs = [str(variants["base"]), str(variants["int8"])]
    assert main(["export", "report", *dirs, *map(str, data)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "report.json").read_text())
    assert [r["measured_now"] for r in rows] == [True, True]
    assert rows[1]["kind"] == "quantize" and rows[1]["tokens_per_s"] > 0
    assert rows[1]["recorded_at"] is None and "*" not in printed
    assert "not measured in this run" not in (tmp_path / "report.md").read_text()


def test_bad_directories_are_refused(tmp_path, capsys):
    assert main(["export", "report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"error: DIR '{tmp_path / 'nope'}' is not a directory"
    (tmp_path / "empty").mkdir()
    assert main(["export", "report", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: DIR '{tmp_path / 'empty'}' is not a model: no config.json, model/, adapter/ "
        "or export_report.json in it"
    )
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "export_report.json").write_text("{oops")
    assert main(["export", "report", str(tmp_path / "bad")]) == 2
    assert "export_report.json: not valid JSON" in capsys.readouterr().err
