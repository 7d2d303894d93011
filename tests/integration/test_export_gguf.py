"""`tunesmith export gguf`: the CLI writes model.gguf + Modelfile (+ report); llama.cpp
(llama-cpp-python, when installed) tokenizes like our tokenizer and decodes the same greedy
tokens as our engine; bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest
from transformers import AutoConfig, AutoModelForCausalLM

from helpers import gguf_sources
from tunesmith.cli.main import main
from tunesmith.compress.llama_cpp import llama_class
from tunesmith.config.schema import ModelConfig
from tunesmith.inference import Engine, SamplingParams
from tunesmith.models.load import load_model_and_tokenizer

BASE = "tiny-deepseek-v3-base"
PROMPTS = (
    "<｜User｜>What is the tag of water?<｜Assistant｜>",
    "Hello! Who are you? 12345",
    "def fibonacci(n):\n    return",
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    return gguf_sources(tmp_path_factory.mktemp("gguf-models"))


def export(*argv) -> int:
    return main(["export", "gguf", *map(str, argv)])


def test_cli_writes_gguf_modelfile_and_report(models, tmp_path, capsys):
    out = tmp_path / "demo"
    assert export("--model", BASE, "--output", out, "--outtype", "q8_0") == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out / 'model.gguf'} (deepseek2, q8_0) from ")
    assert "tensors            70 (47 Q8_0, 23 F32)" in printed
    assert "gpt2 BPE, 4096 tokens, 3833 merges, pre-tokenizer starcoder" in printed
    report = json.loads((out / "export_report.json").read_text())
    assert report["kind"] == "gguf" and report["outtype"] == "q8_0"
    assert report["size_bytes"] == (out / "model.gguf").stat().st_size
    modelfile = (out / "Modelfile").read_text()
    assert modelfile.splitlines()[1] == "FROM ./model.gguf"
    assert '{{- if eq .Role "user" }}<｜User｜>{{ .Content }}' in modelfile
    assert 'PARAMETER stop "<｜end▁of▁sentence｜>"' in modelfile


def test_file_output_puts_the_modelfile_beside_it(models, tmp_path, capsys):
    target = tmp_path / "llama-f16.gguf"
    assert export("--model", models["llama"], "--output", target) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile", "llama-f16.gguf"]
    assert "FROM ./llama-f16.gguf" in (tmp_path / "Modelfile").read_text()


def _llama_cpp():  # noqa: ANN202
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    return llama_class()


@pytest.mark.parametrize(
    ("arch", "outtype"),
    [("llama", "f32"), ("llama", "f16"), ("qwen2", "f16"), ("deepseek_v3", "f16"),
     ("deepseek_v3", "q8_0")],
)  # fmt: skip
def test_llama_cpp_decodes_our_greedy_tokens(models, arch, outtype, tmp_path):
    llama = _llama_cpp()
    path = tmp_path / f"{arch}.gguf"
    assert export("--model", models[arch], "--output", path, "--outtype", outtype) == 0
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=models[arch]))
    engine = Engine(model, max_batch=len(PROMPTS))
    llm = llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
    ids = [tok(p)["input_ids"] for p in PROMPTS]
    params = SamplingParams(max_tokens=12, temperature=0.0, stop_token_ids=[tok.eos_token_id])
    ours = [list(o.token_ids) for o in engine.generate(ids, params)]
    for prompt, prompt_ids, want in zip(PROMPTS, ids, ours, strict=True):
        assert llm.tokenize(prompt.encode(), add_bos=True, special=True) == prompt_ids
        got = []
        for token in llm.generate(prompt_ids, temp=0.0, top_k=1, reset=True):
            if token == tok.eos_token_id or len(got) == 12:
                break
            got.append(token)
        assert got == want


def refused(capsys, *argv) -> str:
    assert export(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err.strip()


def test_unsupported_architecture_is_refused(tmp_path, capsys):
    config = AutoConfig.for_model(
        "gpt2", n_layer=1, n_embd=32, n_head=2, vocab_size=4096, n_positions=64
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "gpt2")
    err = refused(capsys, "--model", tmp_path / "gpt2", "--output", tmp_path / "o")
    assert err == (
        f"error: --model: '{tmp_path / 'gpt2'}' is a gpt2 model; tunesmith export gguf writes "
        "llama, qwen2, deepseek_v3 models"
    )
    assert not (tmp_path / "o").exists()


def test_bad_outtype_missing_model_and_existing_output(models, tmp_path, capsys):
    err = refused(capsys, "--model", BASE, "--output", tmp_path / "o", "--outtype", "q4_0")
    assert err == "error: --outtype: 'q4_0' is not one of f16, q8_0, f32"
    err = refused(capsys, "--model", tmp_path / "nope", "--output", tmp_path / "o")
    assert err.startswith(f"error: --model: '{tmp_path / 'nope'}' is neither a preset (")
    (tmp_path / "empty").mkdir()
    err = refused(capsys, "--model", tmp_path / "empty", "--output", tmp_path / "o")
    assert err == (
        f"error: --model: '{tmp_path / 'empty'}' has no config.json "
        "(expected a Hugging Face model directory)"
    )
    (tmp_path / "x.gguf").write_text("old")
    err = refused(capsys, "--model", models["qwen2"], "--output", tmp_path / "x.gguf")
    assert (
        err == f"error: --output: '{tmp_path / 'x.gguf'}' exists (pass --overwrite to replace it)"
    )
    assert export("--model", models["qwen2"], "--output", tmp_path / "x.gguf", "--overwrite") == 0
    assert (tmp_path / "x.gguf").stat().st_size > 1000
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "stale.txt").write_text("old")
    err = refused(capsys, "--model", models["qwen2"], "--output", tmp_path / "d")
    assert err == (
        f"error: --output: '{tmp_path / 'd'}' exists and is not empty (pass --overwrite to replace it)"
    )
    assert export("--model", models["qwen2"], "--output", tmp_path / "d", "--overwrite") == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "Modelfile", "README.md", "export_report.json", "model.gguf"
    ]  # fmt: skip
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
