"""`tunesmith eval harness`: lm-evaluation-harness in-process on the shipped tiny model, local
task files (tests/assets/eval/harness), no network (sockets refused while it runs). The
harness's log-likelihoods and accuracy are checked against our own teacher-forced scorer
(`evaluation.loglik.sample_losses`) on the same items, its generations against HF `generate`.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import torch

from tunesmith.cli.main import main
from tunesmith.config.jobs import EvalHarnessSettings
from tunesmith.errors import ConfigError
from tunesmith.evaluation.harness import run_harness
from tunesmith.evaluation.load import load_for_eval
from tunesmith.evaluation.loglik import sample_losses
from tunesmith.tokenize.packing import IGNORE, Sample

pytest.importorskip("lm_eval")  # the `harness` extra; make setup installs it

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests/assets/eval/harness"
MODEL = "tiny-deepseek-v3-base"


def _docs() -> list[dict]:
    lines = (ROOT / TASKS / "tiny_mc.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test (and is recorded)."""
    attempts: list[object] = []

    def refuse(self, address):  # noqa: ANN001
        attempts.append(address)
        raise OSError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture(scope="module")
def harness_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("harness")
    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)  # the task files name their data relative to the repository root
    attempts: list[object] = []

    def refuse(self, address):  # noqa: ANN001
        attempts.append(address)
        raise OSError(f"network access attempted: {address}")

    mp.setattr(socket.socket, "connect", refuse)
    try:
        s = EvalHarnessSettings(
            model=MODEL, tasks=["tiny_mc,tiny_gen"], include_path=[TASKS], output=str(out)
        )
        result, paths = run_harness(s)
    finally:
        mp.undo()
    return result, paths, attempts


def _samples(paths: dict, task: str) -> list[dict]:
    rows = [json.loads(line) for line in paths["samples"].read_text().splitlines()]
    return sorted((r for r in rows if r["task"] == task), key=lambda r: r["doc_id"])


def our_logliks(model, tok, context: str, continuations: list[str]) -> list[float]:  # noqa: ANN001
    """Summed log-probability of each continuation after `context`, split as lm-eval
    splits a pair (encode the whole, the context's tokens first; the tokenizer's own special
    tokens, BOS here, as lm-eval's HFLM keeps them), scored by our loglik."""
    ctx = tok.encode(context)
    samples = []
    for cont in continuations:
        whole = tok.encode(context + cont)
        assert whole[: len(ctx)] == ctx
        samples.append(Sample.from_labels(whole, [IGNORE] * len(ctx) + whole[len(ctx) :]))
    return [-loss for loss, _ in sample_losses(model, samples, batch_tokens=4096)]


def test_accuracy_equals_our_own_loglik_scorer_offline(harness_run):
    result, paths, attempts = harness_run
    assert attempts == []  # nothing tried the network (HF hub / datasets offline)
    model, tok = load_for_eval(MODEL)
    docs, logged = _docs(), _samples(paths, "tiny_mc")
    assert [r["doc_id"] for r in logged] == list(range(len(docs)))
    hits, hits_norm = [], []
    for doc, row in zip(docs, logged, strict=True):
        ours = our_logliks(model, tok, doc["question"], [" " + c for c in doc["choices"]])
        theirs = [resp[0][0] for resp in row["resps"]]
        assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-3)
        hits.append(max(range(len(ours)), key=ours.__getitem__) == doc["answer"])
        norm = [ll / len(c) for ll, c in zip(ours, doc["choices"], strict=True)]
        hits_norm.append(max(range(len(norm)), key=norm.__getitem__) == doc["answer"])
    assert result.metrics["tiny_mc/acc"] == sum(hits) / len(hits) == 0.4
    assert result.metrics["tiny_mc/acc_norm"] == sum(hits_norm) / len(hits_norm)
    assert result.counts == {"tiny_mc/samples": 10, "tiny_gen/samples": 10}


def test_generations_equal_hf_greedy_generate(harness_run):
    result, paths, _ = harness_run
    model, tok = load_for_eval(MODEL)
    rows = _samples(paths, "tiny_gen")
    expected_hits = []
    for doc, row in zip(_docs(), rows, strict=True):
        prompt = f"Question: {doc['question']}\nAnswer:"
        ids = torch.tensor([tok.encode(prompt)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=8, do_sample=False, attention_mask=None)
        text = tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).split("\n")[0]
        assert row["resps"][0][0] == text
        expected_hits.append(text == doc["choices"][doc["answer"]])
    assert result.metrics["tiny_gen/exact_match"] == sum(expected_hits) / len(rows)


def test_results_sit_beside_eval_run_and_eval_compare_reads_them(harness_run, tmp_path, capsys):
    _, paths, _ = harness_run
    out = paths["json"].parent
    data = json.loads(paths["json"].read_text())
    assert set(data["metrics"]) == {"tiny_mc/acc", "tiny_mc/acc_norm", "tiny_gen/exact_match"}
    assert set(data["stderr"]) == set(data["metrics"])
    assert data["tasks"] == ["tiny_mc", "tiny_gen"] and data["model"] == MODEL
    raw = json.loads(paths["raw"].read_text())
    assert raw["results"]["tiny_mc"]["acc,none"] == data["metrics"]["tiny_mc/acc"]
    # an `eval run` result in the same directory: compare shows both files' metrics
    (out / "eval.json").write_text(json.dumps({"metrics": {"em": 0.25}}))
    code = main(["eval", "compare", str(out), "--output", str(tmp_path / "cmp")])
    assert code == 0
    rows = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert rows[0]["metrics"] == {"em": 0.25, **data["metrics"]}
    (out / "eval.json").unlink()


def test_an_adapter_is_applied(tmp_path, monkeypatch, no_network):
    from peft import LoraConfig, get_peft_model

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path=MODEL))
    torch.manual_seed(0)
    lora = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(tmp_path / "adapter")
    monkeypatch.chdir(ROOT)
    s = EvalHarnessSettings(
        model=MODEL,
        adapter=str(tmp_path / "adapter"),
        tasks=["tiny_mc"],
        include_path=[TASKS],
        limit=3,
        output=str(tmp_path / "out"),
    )
    _, paths = run_harness(s)
    merged, tok = load_for_eval(MODEL, str(tmp_path / "adapter"))
    plain, _ = load_for_eval(MODEL)
    for doc, row in zip(_docs()[:3], _samples(paths, "tiny_mc"), strict=True):
        conts = [" " + c for c in doc["choices"]]
        theirs = [resp[0][0] for resp in row["resps"]]
        assert our_logliks(merged, tok, doc["question"], conts) == pytest.approx(
            theirs, rel=1e-4, abs=1e-3
        )
        assert our_logliks(plain, tok, doc["question"], conts) != pytest.approx(theirs, abs=1e-2)
    assert no_network == []


def test_remote_task_data_is_refused_offline(tmp_path, no_network, capsys):
    (tmp_path / "remote.yaml").write_text(
        "task: remote_mc\ndataset_path: someorg/remote-data\ntest_split: test\n"
        "output_type: multiple_choice\ndoc_to_text: '{{question}}'\n"
        "doc_to_choice: '{{choices}}'\ndoc_to_target: '{{answer}}'\n"
        "metric_list:\n  - metric: acc\n"
    )
    argv = ["eval", "harness", "--model", MODEL, "--tasks", "remote_mc"]
    code = main([*argv, "--include-path", str(tmp_path), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.splitlines()[-1]
    assert code == 2
    assert err.startswith("error: --tasks: Couldn't reach 'someorg/remote-data' on the Hub")
    assert "tunesmith runs lm-eval offline, so a task's data must be local" in err
    assert no_network == []


def test_bad_input_fails_before_the_model_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    argv = ["eval", "harness", "--model", MODEL, "--include-path", TASKS]
    assert main([*argv, "--tasks", "tiny_mc,no_such_task"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --tasks: unknown task(s) no_such_task (not in lm-eval's")
    assert main(["eval", "harness", "--model", MODEL]) == 2
    assert "error: --tasks: required (or `tasks:` in CONFIG)" in capsys.readouterr().err
    assert main(["eval", "harness", "--model", MODEL, "--tasks", "x", "--limit", "-1"]) == 2
    assert "error: --limit: must be >= 0, got -1" in capsys.readouterr().err
    (tmp_path / "h.yaml").write_text(f"model: {MODEL}\ntask: [tiny_mc]\n")
    assert main(["eval", "harness", str(tmp_path / "h.yaml")]) == 2
    assert "did you mean 'tasks'" in capsys.readouterr().err


def test_missing_lm_eval_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval -> ImportError
    s = EvalHarnessSettings(model=MODEL, tasks=["tiny_mc"])
    with pytest.raises(ConfigError) as e:
        run_harness(s)
    assert str(e.value) == (
        "eval harness needs lm-evaluation-harness: pip install 'tunesmith[harness]'"
    )
