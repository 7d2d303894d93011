"""Open a GGUF file with llama-cpp-python (an optional package: it builds llama.cpp from
source, ~15 minutes on 2 cores, so it is never a dependency). Used by `bench serve`'s
llama.cpp arm and by the GGUF round-trip tests.

    llm = open_gguf("model.gguf", threads=1)   # None when llama_cpp is not importable
"""

from __future__ import annotations

from pathlib import Path


def llama_class():  # noqa: ANN201
    """llama_cpp.Llama with no "extra" CPU buffer types (AMX / repacked weights): on VMs that
    list AMX in cpuinfo without enabling it, ggml's AMX q8_0 kernels die with SIGILL. None when
    llama-cpp-python is not installed."""
    try:
        import llama_cpp
        from llama_cpp import llama as module
    except ImportError:
        return None
    default = llama_cpp.llama_model_default_params
    if not getattr(default, "_tunesmith_plain_bufts", False):

        def params():  # noqa: ANN202
            p = default()
            p.use_extra_bufts = False
            return p

        params._tunesmith_plain_bufts = True  # type: ignore[attr-defined]
        module.llama_cpp.llama_model_default_params = params
    return module.Llama


def open_gguf(path: str | Path, threads: int, n_ctx: int = 512):  # noqa: ANN201
    """A llama_cpp.Llama on `path` (None when llama-cpp-python is not installed)."""
    llama = llama_class()
    if llama is None:
        return None
    return llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, verbose=False)


def greedy_tokens(llm, prompt: list[int], max_tokens: int) -> list[int]:  # noqa: ANN001
    """`max_tokens` greedy tokens after `prompt` (end-of-sequence not honoured, as the
    engine's arms run with it ignored)."""
    out: list[int] = []
    for token in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
        out.append(token)
        if len(out) == max_tokens:
            break
    return out
