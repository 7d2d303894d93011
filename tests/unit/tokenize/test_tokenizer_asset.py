"""The shipped tokenizer: loads offline as a fast tokenizer, special ids, round trips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from tunesmith.errors import ConfigError
from tunesmith.models import tiny
from tunesmith.tokenize import (
    ASSISTANT,
    BOS,
    CHAT_TEMPLATE,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    THINK_CLOSE,
    THINK_OPEN,
    USER,
    load_tokenizer,
    shipped_tokenizer_dir,
)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_autotokenizer_loads_shipped_dir_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = AutoTokenizer.from_pretrained(str(shipped_tokenizer_dir()), local_files_only=True)
    assert t.is_fast
    assert len(t) == 4096
    assert (t.bos_token, t.eos_token, t.pad_token) == (BOS, EOS, PAD)
    assert (t.bos_token_id, t.eos_token_id, t.pad_token_id) == (0, 1, 2)


def test_shipped_files_are_small_and_hold_the_chat_template() -> None:
    files = {f.name: f.stat().st_size for f in shipped_tokenizer_dir().iterdir()}
    assert set(files) == {"tokenizer.json", "tokenizer_config.json"}
    assert sum(files.values()) < 1_000_000
    config = json.loads((shipped_tokenizer_dir() / "tokenizer_config.json").read_text("utf-8"))
    assert config["chat_template"] == CHAT_TEMPLATE  # rebuild with scripts/build_tokenizer.py


def test_special_tokens_are_single_ids_in_r1_order(tok) -> None:
    assert SPECIAL_TOKENS == (BOS, EOS, PAD, USER, ASSISTANT, THINK_OPEN, THINK_CLOSE)
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(t) == i
        assert tok.encode(t, add_special_tokens=False) == [i]
    assert tok.encode(f"a{USER}b{THINK_OPEN}c", add_special_tokens=False)[1::2] == [3, 5]


def test_tiny_model_constants_match(tok) -> None:
    ids = (len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    assert ids == (tiny.VOCAB_SIZE, tiny.BOS_ID, tiny.EOS_ID, tiny.PAD_ID)


def test_skip_special_tokens_keeps_think_and_role_markers(tok) -> None:
    assert tok.all_special_tokens == [BOS, EOS, PAD]
    text = f"{USER}q{ASSISTANT}{THINK_OPEN}r{THINK_CLOSE}a"
    ids = [0, *tok.encode(text, add_special_tokens=False), 1, 2]
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.decode(ids) == BOS + text + EOS + PAD


def test_bos_is_prepended_by_default_like_r1(tok) -> None:
    assert tok("Hi")["input_ids"] == [0, *tok("Hi", add_special_tokens=False)["input_ids"]]


def test_digits_split_one_per_token(tok) -> None:
    ids = tok.encode("x=12345", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(ids)[-5:] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        "  leading and trailing spaces \n\n",
        "café naïve Zürich — Ελλάδα, Москва, 東京, 서울 😀🚀 ∑π≈3.14159",
        'def f(x):\n\treturn {"a": [1, 2.5e-3, null]}\r\n',
        "mixed <think>tags</think> and <｜User｜> markers 0123456789",
        "\x00\x07 control bytes \u200b zero width",
    ],
)
def test_decode_encode_round_trip(tok, text: str) -> None:
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == text


def test_load_tokenizer_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="has no tokenizer.json"):
        load_tokenizer(tmp_path)
    spec = json.loads((shipped_tokenizer_dir() / "tokenizer.json").read_text("utf-8"))
    spec["added_tokens"] = [a for a in spec["added_tokens"] if a["content"] != USER]
    del spec["model"]["vocab"][USER]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), "utf-8")
    with pytest.raises(ConfigError, match="lacks the DeepSeek-R1 tokens"):
        load_tokenizer(tmp_path)


def test_build_script_reproduces_the_shipped_files(tmp_path) -> None:
    script = Path(__file__).parents[3] / "scripts" / "build_tokenizer.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True
    )
    for name in ("tokenizer.json", "tokenizer_config.json"):
        built = json.loads((tmp_path / name).read_text("utf-8"))
        assert built == json.loads((shipped_tokenizer_dir() / name).read_text("utf-8")), name
