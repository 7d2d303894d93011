"""A scripted tiny model (exact, known answers) and a live server in a thread.

The scripted model is a real Llama-architecture model with crafted weights: attention and
MLP outputs are zero, so the last hidden state is the current token's embedding, and the LM
head maps each scripted token to its successor. Greedy decoding then follows `CHAIN`:

    <｜Assistant｜> -> <think> \\n The ␣time ␣is </think> wrong . <eos>

so every chat answers reasoning "The time is", content "wrong.". The LoRA adapter "great"
(on the LM head) turns the answer into "great.". A completion prompt ending in " water"
loops " world water world ..." until max_tokens (for slow, long requests).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import uvicorn
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from tunesmith.inference import Engine
from tunesmith.inference.async_engine import AsyncEngine
from tunesmith.inference.grammar import GrammarCompiler
from tunesmith.models.tiny import tiny_llama_config
from tunesmith.serve.app import build_app
from tunesmith.serve.loading import load_served
from tunesmith.serve.state import ServerSettings, ServerState
from tunesmith.tokenize.templates import load_tokenizer

ASSISTANT, THINK, END_THINK, EOS = 4, 5, 6, 1
NL, THE, TIME, IS, WRONG, GREAT, DOT, WATER, WORLD = 205, 2131, 1099, 561, 2745, 1634, 20, 870, 1189
CHAIN = {
    ASSISTANT: THINK,
    THINK: NL,
    NL: THE,
    THE: TIME,
    TIME: IS,
    IS: END_THINK,
    END_THINK: WRONG,
    WRONG: DOT,
    GREAT: DOT,
    DOT: EOS,
    WATER: WORLD,
    WORLD: WATER,
}
REASONING, CONTENT, ADAPTER_CONTENT = "The time is", "wrong.", "great."
ANSWER_TOKENS = 9  # <think> \n The ␣time ␣is </think> wrong . + the eos


def build_scripted(root: Path) -> tuple[Path, Path]:
    """Save the scripted model (with the shipped tokenizer) and its adapter; return dirs."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_llama_config(), dtype=torch.float32)
    scripted = sorted(set(CHAIN) | set(CHAIN.values()))
    basis = {t: i for i, t in enumerate(scripted)}
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = model.model.embed_tokens.weight
        for t, i in basis.items():
            emb[t] = 0.0
            emb[t, i] = 1.0
        head = model.lm_head.weight
        head.zero_()
        for cur, nxt in CHAIN.items():
            head[nxt, basis[cur]] += 100.0
    model_dir, adapter_dir = root / "scripted", root / "great"
    model.save_pretrained(model_dir)
    load_tokenizer().save_pretrained(model_dir)
    lora = get_peft_model(
        model, LoraConfig(r=1, lora_alpha=1, target_modules=["lm_head"], init_lora_weights=False)
    )
    layer = lora.base_model.model.lm_head
    with torch.no_grad():
        layer.lora_A["default"].weight.zero_()
        layer.lora_A["default"].weight[0, basis[END_THINK]] = 1.0
        layer.lora_B["default"].weight.zero_()
        layer.lora_B["default"].weight[GREAT, 0] = 300.0
    lora.save_pretrained(adapter_dir)
    return model_dir, adapter_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(
    model_dir: Path | str,
    adapters: list[str] | None = None,
    *,
    max_batch: int = 4,
    settings: ServerSettings | None = None,
    served_name: str = "scripted",
    max_model_len: int | None = None,
) -> Iterator[tuple[str, ServerState]]:
    """(base url, state) of a uvicorn server in a thread, stopped on exit."""
    model, tok, names = load_served(str(model_dir), adapters, served_name=served_name)
    grammar = GrammarCompiler.from_tokenizer(tok, model.config.vocab_size)
    engine = AsyncEngine(
        Engine(model, max_batch=max_batch, max_model_len=max_model_len, grammar=grammar)
    )
    state = ServerState(engine, tok, names, settings or ServerSettings())
    port = free_port()
    config = uvicorn.Config(build_app(state), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(10)


def wait_until(predicate, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
