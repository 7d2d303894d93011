"""Every command converted to a settings schema (issue 16): a CONFIG.yaml, a dotted override and
a flag reach the command's code; a misspelled key in the file or an override exits 2 with the
shared did-you-mean line. Benchmarks, the demo and the web server are replaced by a recorder
(their own tests run them); data inspect, eval compare and profile run for real on tiny input."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from tunesmith.cli.main import main


def record_calls(monkeypatch, module: str, name: str = "run_bench") -> list:
    """Replace `module.name` by a recorder of its (positional, keyword) arguments."""
    calls: list = []
    fake = types.ModuleType(module)
    setattr(fake, name, lambda *args, **kw: calls.append((args, kw)))
    monkeypatch.setitem(sys.modules, module, fake)
    return calls


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_bench_train_config_override_and_flag(here, monkeypatch):
    calls = record_calls(monkeypatch, "tunesmith.bench.train")
    Path("b.yaml").write_text("model: tiny-llama\nrepeats: 3\nbudget_tokens: 5000\n")
    assert main(["bench", "train", "b.yaml", "method=full", "--json", "b.json"]) == 0
    assert calls == [
        (
            ("b.json",),
            {
                "repeats": 3,
                "budget_tokens": 5000,
                "model": "tiny-llama",
                "method": "full",
                "precision": "fp32",
            },
        )
    ]


def test_bench_data_config_override_and_flag(here, monkeypatch):
    calls = record_calls(monkeypatch, "tunesmith.bench.data")
    Path("d.yaml").write_text("docs: 300\nseed: 7\n")
    assert main(["bench", "data", "d.yaml", "processes=2", "--seed", "9"]) == 0
    assert calls == [((None,), {"docs": 300, "processes": 2, "seed": 9})]


def test_bench_memory_config_picks_the_real_shape_bench(here, monkeypatch):
    real = record_calls(monkeypatch, "tunesmith.bench.memory_real")
    tiny = record_calls(monkeypatch, "tunesmith.bench.memory")
    Path("m.yaml").write_text("shape: v2-lite\nseq: [512]\narms: [tunesmith lora]\n")
    assert main(["bench", "memory", "m.yaml", "layers=[1,3]", "--threads", "2"]) == 0
    assert real == [
        (
            (None,),
            {
                "shape": "v2-lite",
                "seqs": (512,),
                "layers": (1, 3),
                "arms": ("tunesmith lora",),
                "threads": 2,
            },
        )
    ]
    assert main(["bench", "memory", "steps=4"]) == 0  # overrides alone, no CONFIG
    assert tiny == [((None,), {"steps": 4})]


def test_bench_preference_config_override_and_flag(here, monkeypatch):
    calls = record_calls(monkeypatch, "tunesmith.bench.preference")
    Path("p.yaml").write_text("budget_tokens: 4000\njson: from-file.json\n")
    assert main(["bench", "preference", "p.yaml", "json=o.json"]) == 0
    assert main(["bench", "preference", "p.yaml", "--budget-tokens", "2000"]) == 0
    assert calls == [
        (("o.json",), {"budget_tokens": 4000}),
        (("from-file.json",), {"budget_tokens": 2000}),
    ]


def test_bench_rl_config_override_and_flag(here, monkeypatch):
    calls = record_calls(monkeypatch, "tunesmith.bench.rl")
    Path("rl.yaml").write_text("steps: 2\nprompts: 2\ngroup_size: 4\n")
    assert main(["bench", "rl", "rl.yaml", "max_tokens=8", "--threads", "1"]) == 0
    assert main(["bench", "rl"]) == 0  # the defaults; threads 0 means all
    assert calls == [
        ((None,), {"steps": 2, "prompts_per_step": 2, "group_size": 4, "max_tokens": 8, "threads": 1, "seeds": 1}),
        ((None,), {"steps": 20, "prompts_per_step": 8, "group_size": 8, "max_tokens": 24, "threads": None, "seeds": 1}),
    ]  # fmt: skip


def test_bench_serve_config_override_and_flag(here, monkeypatch):
    calls = record_calls(monkeypatch, "tunesmith.bench.serve")
    Path("s.yaml").write_text("concurrency: [1, 4]\nrequests: [2, 8]\nengine_process: true\n")
    assert main(["bench", "serve", "s.yaml", "max_tokens=5", "--rate", "20"]) == 0
    ((args, kw),) = calls
    assert args == (None,)
    assert kw == {
        "model": "tiny-qwen2",
        "concurrency": (1, 4),
        "requests": (2, 8),
        "max_tokens": 5,
        "rate_per_slot": 20.0,
        "threads": 1,
        "seed": 0,
        "engine_process": True,
        "prefix_len": 256,
        "prefix_prompts": 4,
        "prefix_samples": 8,
        "compile_buckets": (),
    }


def test_bench_serve_counts_must_match_after_the_merge(here, monkeypatch, capsys):
    record_calls(monkeypatch, "tunesmith.bench.serve")
    Path("s.yaml").write_text("concurrency: [1, 4]\n")
    assert main(["bench", "serve", "s.yaml", "requests=[3]"]) == 2
    assert capsys.readouterr().err == (
        "error: --requests needs one count per --concurrency level [1, 4], got [3]\n"
    )


def test_demo_config_and_override(here, monkeypatch, capsys):
    calls = record_calls(monkeypatch, "tunesmith.demo", "run_demo")
    Path("demo.yaml").write_text("output: from-file\n")
    assert main(["demo", "demo.yaml"]) == 0
    assert main(["demo", "demo.yaml", "output=from-override"]) == 0
    assert calls == [(("from-file",), {}), (("from-override",), {})]


def test_ui_config_override_and_flag(here, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.delenv("TUNESMITH_UI_TOKEN", raising=False)
    (here / "runs").mkdir()
    Path("ui.yaml").write_text("port: 9001\nlog_level: info\n")
    assert main(["ui", "ui.yaml", "host=localhost", "--runs", "runs"]) == 0
    assert calls == [{"host": "localhost", "port": 9001, "log_level": "info"}]
    assert main(["ui", "ui.yaml", "--log-level", "debug"]) == 0  # ui's flag, not the global one
    assert calls[1] == {"host": "127.0.0.1", "port": 9001, "log_level": "debug"}


def test_data_inspect_config_override_and_files(here):
    rows = [
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
         "domain": "x", "label": "y"},
    ]  # fmt: skip
    Path("d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    Path("i.yaml").write_text("tokens: false\nfield: [domain]\n")
    assert main(["data", "inspect", "i.yaml", "json=r.json", "d.jsonl"]) == 0
    report = json.loads(Path("r.json").read_text())
    assert "tokens" not in report and report["labels"] == {"domain": {"x": 1}}
    Path("j.yaml").write_text("files: [d.jsonl]\njson: s.json\n")  # the files in the CONFIG
    assert main(["data", "inspect", "j.yaml", "--field", "label"]) == 0
    report = json.loads(Path("s.json").read_text())
    assert report["labels"] == {"label": {"y": 1}} and "tokens" in report


def test_eval_compare_config_override_and_runs(here, capsys):
    for name, em in (("a", 0.25), ("b", 0.75)):
        Path(name).mkdir()
        Path(name, "eval.json").write_text(json.dumps({"metrics": {"em": em, "f1": 0.5}}))
    Path("c.yaml").write_text("runs: [a, b]\nmetrics: f1\n")
    assert main(["eval", "compare", "c.yaml", "metrics=em", "--output", "cmp"]) == 0
    rows = json.loads(Path("cmp/compare.json").read_text())
    assert [(r["name"], r["metrics"]["em"]) for r in rows] == [("a", 0.25), ("b", 0.75)]
    assert Path("cmp/compare.md").read_text().splitlines()[0] == "| run | em |"


def test_profile_config_override_and_flag(here, capsys, one_thread):
    Path("p.yaml").write_text("model: tiny-llama\nmode: infer\nbatch_size: 1\nsteps: 1\n")
    assert main(["profile", "p.yaml", "seq_len=8", "--warmup", "0", "--output", "out"]) == 0
    report = json.loads(Path("out/profile.json").read_text())
    assert report["tokens_per_step"] == 8 and report["trainable_parameters"] == 0
    assert report["options"]["mode"] == "infer" and report["options"]["warmup"] == 0


def test_models_takes_no_settings(capsys):
    assert main(["models", "m.yaml"]) == 2
    assert "unrecognized arguments: m.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "override", "message"),
    [
        (["bench", "train"], "repeat=2", "unknown config key 'repeat' (in override 'repeat=2'); did you mean 'repeats'?"),
        (["bench", "data"], "doc=5", "unknown config key 'doc' (in override 'doc=5'); did you mean 'docs'?"),
        (["bench", "memory"], "shapes=v2-lite", "unknown config key 'shapes' (in override 'shapes=v2-lite'); did you mean 'shape'?"),
        (["bench", "preference"], "budget_token=9", "unknown config key 'budget_token' (in override 'budget_token=9'); did you mean 'budget_tokens'?"),
        (["bench", "rl"], "group=4", "unknown config key 'group' (in override 'group=4'); did you mean 'group_size'?"),
        (["bench", "serve"], "max_token=3", "unknown config key 'max_token' (in override 'max_token=3'); did you mean 'max_tokens'?"),
        (["data", "inspect", "d.jsonl"], "max_lne=9", "unknown config key 'max_lne' (in override 'max_lne=9'); did you mean 'max_len'?"),
        (["eval", "compare", "a"], "metric=em", "unknown config key 'metric' (in override 'metric=em'); did you mean 'metrics'?"),
        (["profile", "--model", "tiny-llama"], "seqlen=8", "unknown config key 'seqlen' (in override 'seqlen=8'); did you mean 'seq_len'?"),
        (["demo"], "ouput=x", "unknown config key 'ouput' (in override 'ouput=x'); did you mean 'output'?"),
        (["ui"], "prot=1", "unknown config key 'prot' (in override 'prot=1'); did you mean 'port'?"),
        (["data", "prepare"], "output.dri=x", "unknown config key 'output.dri' (in override 'output.dri=x'); did you mean 'output.dir'?"),
    ],
)  # fmt: skip
def test_misspelled_override_gets_did_you_mean(capsys, command, override, message):
    assert main([*command, override]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
