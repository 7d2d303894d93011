"""`tunesmith data prepare` end to end on generated corpora with planted problems."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from helpers import write_jsonl
from tunesmith.cli.main import main
from tunesmith.data import prepare
from tunesmith.data.curate.synth import CorpusSpec, make_corpus
from tunesmith.data.load import load_conversations

SPEC = CorpusSpec(
    records=600,
    exact_dups=20,
    near_dups=40,
    distractors=20,
    pii=12,
    contaminated=8,
    junk=9,
    eval_records=10,
)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("planted")
    corpus = make_corpus(SPEC, seed=11)
    raw = write_jsonl(root / "raw.jsonl", corpus.records)
    evals = write_jsonl(root / "eval.jsonl", corpus.eval_records)
    (root / "prep.yaml").write_text(
        "# tunesmith data prepare prep.yaml\n"
        f"input:\n  paths: [{raw}]\noutput:\n  dir: {root / 'out'}\n  progress: false\n"
        "steps:\n  - exact_dedupe\n  - near_dedupe\n  - quality\n  - pii\n"
        f"  - decontam: {{eval: [{evals}]}}\n  - split\n"
    )
    assert main(["data", "prepare", str(root / "prep.yaml")]) == 0
    out = root / "out"
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    return {
        "corpus": corpus,
        "raw": raw,
        "out": out,
        "report": json.loads((out / "report.json").read_text()),
        "rejects": rejects,
    }


def rejected_lines(rejects: list[dict], reason: str) -> set[int]:
    return {int(r["source"].rsplit(":", 1)[1]) - 1 for r in rejects if r["reason"] == reason}


def test_report_accounts_for_every_record_by_reason_and_step(planted):
    report = planted["report"]
    assert report["dropped"] == {
        "contaminated": 8,
        "dup_line_frac": 3,
        "empty_answer": 3,
        "exact_duplicate": 20,
        "near_duplicate": 40,
        "symbol_ratio": 3,
    }
    assert (report["records_in"], report["records_out"], report["added"]) == (600, 523, 0)
    assert report["records_in"] == (
        report["records_out"] + sum(report["dropped"].values()) - report["added"]
    )
    steps = {s["step"]: s for s in report["steps"]}
    assert [s["step"] for s in report["steps"]] == [
        "validate",
        "exact_dedupe",
        "near_dedupe",
        "quality",
        "pii",
        "decontam",
        "split",
    ]
    assert steps["near_dedupe"]["records_in"] == 580 and steps["near_dedupe"]["records_out"] == 540
    assert steps["pii"]["found"] == {"email": 3, "phone": 3, "ip_address": 3, "credit_card": 3}
    assert steps["pii"]["records_scrubbed"] == 12
    assert {k: v["records"] for k, v in report["outputs"].items()} == {
        "train": 471,
        "validation": 26,
        "test": 26,
    }
    assert len(planted["rejects"]) == 77


def test_planted_duplicates_contamination_and_junk_are_what_was_removed(planted):
    truth, rejects = planted["corpus"].truth, planted["rejects"]
    near = rejected_lines(rejects, "near_duplicate")
    hits = near & set(truth.near_dups)
    assert len(hits) / len(truth.near_dups) >= 0.95 and len(hits) / len(near) >= 0.95
    assert near == set(truth.near_dups)  # here: recall and precision are 1
    assert min(j for _, j in truth.near_dups.values()) >= 0.8
    assert rejected_lines(rejects, "exact_duplicate") == set(truth.exact_dups)
    assert rejected_lines(rejects, "contaminated") == set(truth.contaminated)
    for kind in ("dup_line_frac", "symbol_ratio", "empty_answer"):
        assert rejected_lines(rejects, kind) == {i for i, k in truth.junk.items() if k == kind}
    kept = Counter()
    for name in ("train", "validation", "test"):
        for line in (planted["out"] / f"{name}.jsonl").read_text().splitlines():
            kept[int(json.loads(line)["tunesmith"]["source"].rsplit(":", 1)[1]) - 1] += 1
    assert set(truth.distractors) <= set(kept) and max(kept.values()) == 1


def test_each_reject_names_its_source_step_and_the_kept_record(planted):
    by_reason = {r["reason"]: r for r in planted["rejects"]}
    near = by_reason["near_duplicate"]
    line = int(near["source"].rsplit(":", 1)[1]) - 1
    original, score = planted["corpus"].truth.near_dups[line]
    assert near["step"] == "near_dedupe"
    assert (
        near["message"]
        == f"near duplicate of {planted['raw']}:{original + 1} (Jaccard {score:.3f})"
    )
    assert near["record"]["tunesmith"] == {"source": near["source"], "origin": "input"}


def test_outputs_load_as_training_data(planted):
    for name, count in (("train", 471), ("validation", 26), ("test", 26)):
        loaded = load_conversations([planted["out"] / f"{name}.jsonl"], fmt="messages")
        assert len(loaded.conversations) == count and loaded.rejected == 0
    text = (planted["out"] / "train.jsonl").read_text()
    assert "<EMAIL>" in text and "ana.lopez" not in text and "4111 1111" not in text


def test_default_pipeline_from_the_command_line(tmp_path, capsys):
    corpus = make_corpus(CorpusSpec(records=120, exact_dups=5, near_dups=5, junk=3), seed=2)
    raw = write_jsonl(tmp_path / "raw.jsonl", corpus.records)
    assert main(["data", "prepare", "--input", str(raw), "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "data prepare" in out and "records in 120 = out 107 + dropped 13 - added 0" in out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "rejects.jsonl",
        "report.json",
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    assert main(["data", "prepare", "--input", str(raw), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (
        f"error: output.dir: '{tmp_path / 'o'}' is not empty "
        "(set output.overwrite=true to write into it)\n"
    )


def test_augment_balance_and_stratified_split_reconcile_with_added_records(tmp_path):
    corpus = make_corpus(CorpusSpec(records=200, near_dups=10), seed=5)
    raw = write_jsonl(tmp_path / "raw.jsonl", corpus.records)
    templates = tmp_path / "t.yaml"
    templates.write_text(
        "slots: {n: ['1', '2', '3']}\n"
        "templates:\n  - {instruction: 'Give a quick answer: add {n} and {n}.', output: 'Twice {n}.',"
        " label: math}\n"
    )
    report = prepare(
        {
            "input": {"paths": [str(raw)]},
            "output": {"dir": str(tmp_path / "o"), "progress": False, "format": "parquet"},
            "steps": [
                "near_dedupe",
                {"augment_templates": {"file": str(templates)}},
                {"balance": {"field": "label", "mode": "cap", "cap": 40, "seed": 1}},
                {
                    "augment_synonyms": {
                        "fraction": 0.5,
                        "source": "builtin",
                        "roles": ["user", "assistant"],
                    }
                },
                {"split": {"stratify": "label", "validation": 0.1, "test": 0.1}},
            ],
        }
    )
    steps = {s["step"]: s for s in report.steps}
    assert report.reconciles and report.dropped["near_duplicate"] == 10
    assert steps["augment_templates"]["added"] == 3
    assert steps["balance"]["classes_after"] == {
        k: min(40, v) for k, v in steps["balance"]["classes_before"].items()
    }
    assert report.added == 3 + steps["augment_synonyms"]["added"] > 3
    rows = []
    for name in ("train", "validation", "test"):
        loaded = load_conversations([tmp_path / "o" / f"{name}.parquet"])
        assert len(loaded.conversations) == report.outputs[name]["records"]
        import pyarrow.parquet as pq

        rows += pq.read_table(tmp_path / "o" / f"{name}.parquet").to_pylist()
    origins = Counter(r["tunesmith"]["origin"] for r in rows)
    assert origins["template"] == 3 and origins["synonym"] == steps["augment_synonyms"]["added"]
    assert origins["input"] == report.records_out - report.added


def test_the_example_configs_run_on_the_shipped_data(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    out = f"output.dir={tmp_path / 'o'}"
    report = prepare("configs/data/prepare.yaml", [out, "output.progress=false"])
    # examples/data/tags repeats records on purpose: exact dedupe keeps one of each
    assert (report.records_in, report.dropped, report.added) == (800, {"exact_duplicate": 476}, 18)
    assert {k: v["records"] for k, v in report.outputs.items()} == {
        "train": 308,
        "validation": 17,
        "test": 17,
    }
    steps = "steps=[{augment_templates: {file: configs/data/templates.yaml}}]"
    report = prepare("configs/data/prepare.yaml", [out, "output.overwrite=true", steps])
    assert (report.records_out, report.added) == (812, 12)


def test_every_input_format_comes_out_as_messages_or_text(tmp_path):
    assets = Path(__file__).resolve().parents[1] / "assets" / "data"
    report = prepare(
        {
            "input": {"paths": [str(assets)]},
            "output": {"dir": str(tmp_path / "o"), "progress": False},
            "steps": ["exact_dedupe", "quality"],
        }
    )
    assert (report.records_in, report.records_out, report.dropped) == (11, 11, {})
    loaded = load_conversations([tmp_path / "o" / "train.jsonl"])
    assert loaded.formats == {"messages": 9, "text": 2}
    original = load_conversations([assets])
    assert [(c.messages, c.text) for c in loaded.conversations] == [
        (c.messages, c.text) for c in original.conversations
    ]
