"""Engine-alone arms of `tunesmith bench serve` (in this process, no HTTP):

- single stream: one request decoding `max_tokens` tokens (greedy), output tokens/s, with
  the HF forward, the engine's own forward, (with `compile_buckets`) compiled, and llama.cpp
  on the same model converted by `tunesmith export gguf` (f16) when llama-cpp-python is
  importable (an optional package: it builds llama.cpp from source);
- shared prefix: `prompts` prompts x `samples` samples each, every prompt starting with the
  same `prefix_len`-token prefix (a system prompt; the n samples of one prompt), all queued
  at once: prompt tokens computed and output tokens/s with prefix caching off and on, and
  whether every output is the same;
- KV bytes per token for an MLA model: the latent cache vs the expanded one, for the model
  and computed for the real DeepSeek-V3 and DeepSeek-V2-Lite configs (bf16).

transformers' `generate_batch` cannot serve MLA (its paged cache has one head dim for keys
and values, MLA's differ): on deepseek_v3 that arm fails every request, which the report
shows as errors.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from tunesmith.bench.serve import MAX_BATCH, TOKEN_BUDGET

# the real configs' MLA sizes (config.json of deepseek-ai/DeepSeek-V3 and DeepSeek-V2-Lite)
REAL_MLA = {
    "DeepSeek-V3": {"num_hidden_layers": 61, "num_attention_heads": 128, "q_lora_rank": 1536},
    "DeepSeek-V2-Lite": {"num_hidden_layers": 27, "num_attention_heads": 16, "q_lora_rank": None},
}
_MLA_COMMON = {
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
}


def kv_bytes_report(config: object) -> dict | None:
    """{name: {latent, expanded, ratio}} bf16 bytes/token for an MLA model (None otherwise)."""
    from transformers import DeepseekV3Config

    from tunesmith.inference.models import kv_bytes_per_token

    if getattr(config, "kv_lora_rank", None) is None:
        return None
    out = {}
    configs = {"this model": config}
    for name, sizes in REAL_MLA.items():
        configs[name] = DeepseekV3Config(
            **sizes, num_key_value_heads=sizes["num_attention_heads"], **_MLA_COMMON
        )
    for name, cfg in configs.items():
        b = kv_bytes_per_token(cfg)
        out[name] = {**b, "ratio": round(b["expanded"] / b["latent"], 1)}
    return out


def single_stream(
    hf: torch.nn.Module, prompt: list[int], max_tokens: int, compile_buckets: tuple[int, ...]
) -> dict:
    """Output tokens/s of one greedy stream per forward variant (the faster of 2 runs)."""
    from tunesmith.inference import Engine, SamplingParams

    params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    variants = {"hf forward": {"forward": "hf"}, "own forward": {"forward": "native"}}
    if compile_buckets:
        variants["own forward, compiled"] = {"compile_buckets": (1,)}
    out: dict = {}
    for name, kwargs in variants.items():
        try:
            engine = Engine(hf, max_batch=1, **kwargs)
        except ValueError as e:  # no own forward for this architecture
            out[name] = {"error": str(e)}
            continue
        best = 0.0
        for _ in range(2):
            start = time.perf_counter()
            tokens = len(engine.generate([prompt], params)[0].token_ids)
            best = max(best, tokens / (time.perf_counter() - start))
        out[name] = {"tokens_per_s": round(best, 1), "startup_compile_s": engine.startup_compile_s}
    return out


def llama_cpp_stream(hf: torch.nn.Module, tok, prompt: list[int], max_tokens: int) -> dict:  # noqa: ANN001
    """llama.cpp's single-stream greedy decode on this model exported to GGUF f16, with as
    many threads as torch has (the faster of 2 runs); an `error` entry when it cannot run."""
    from tunesmith.compress.gguf_export import ARCHS, export_gguf
    from tunesmith.compress.llama_cpp import greedy_tokens, llama_class, open_gguf
    from tunesmith.inference import Engine, SamplingParams

    if llama_class() is None:
        return {
            "error": "not run: llama-cpp-python is not installed (pip install llama-cpp-python)"
        }
    if hf.config.model_type not in ARCHS:
        return {"error": f"not run: export gguf does not write {hf.config.model_type}"}
    with tempfile.TemporaryDirectory(prefix="tunesmith-gguf-") as tmp:
        src = Path(tmp) / "model"
        hf.save_pretrained(src)
        tok.save_pretrained(src)
        export_gguf(str(src), Path(tmp) / "gguf", "f16")
        llm = open_gguf(
            Path(tmp) / "gguf" / "model.gguf", torch.get_num_threads(), len(prompt) + max_tokens + 8
        )
        best, tokens = 0.0, []
        for _ in range(2):
            start = time.perf_counter()
            tokens = greedy_tokens(llm, prompt, max_tokens)
            best = max(best, len(tokens) / (time.perf_counter() - start))
        del llm
    ours = Engine(hf, max_batch=1).generate([prompt], SamplingParams(max_tokens, temperature=0.0))
    same = 0
    for a, b in zip(tokens, ours[0].token_ids, strict=False):
        if a != b:
            break
        same += 1
    return {"tokens_per_s": round(best, 1), "startup_compile_s": 0.0, "same_prefix_tokens": same}


def shared_prefix(
    hf: torch.nn.Module,
    pool: list[list[int]],
    max_tokens: int,
    prefix_len: int,
    prompts: int,
    samples: int,
) -> dict:
    """Prefix caching off vs on over the same queued requests (see module doc)."""
    from tunesmith.inference import Engine, SamplingParams

    flat = [t for p in pool for t in p]
    prefix = (flat * (prefix_len // max(len(flat), 1) + 1))[:prefix_len]
    requests = [prefix + pool[i % len(pool)] for i in range(prompts) for _ in range(samples)]
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
    out: dict = {"requests": len(requests), "prompt_tokens": sum(map(len, requests))}
    tokens: dict[str, list] = {}
    for name, on in (("off", False), ("on", True)):
        engine = Engine(hf, max_batch=MAX_BATCH, token_budget=TOKEN_BUDGET, prefix_caching=on)
        start = time.perf_counter()
        outs = engine.generate(requests, params)
        seconds = time.perf_counter() - start
        tokens[name] = [o.token_ids for o in outs]
        generated = sum(len(t) for t in tokens[name])
        out[name] = {
            "prefill_tokens_computed": engine.prefill_tokens_computed,
            "output_tokens_per_s": round(generated / seconds, 1),
            "seconds": round(seconds, 3),
            "hit_rate": round(engine.prefix_cache.stats.hit_rate, 3) if on else 0.0,
        }
    out["same_outputs"] = sum(a == b for a, b in zip(tokens["off"], tokens["on"], strict=True))
    return out


def print_engine_report(report: dict, console) -> None:  # noqa: ANN001
    single = report.get("single_stream") or {}
    for name, r in single.items():
        if "error" in r:
            console.print(f"single stream, {name}: {r['error']}")
        else:
            extra = (
                f" (compiled in {r['startup_compile_s']:.1f} s)" if r["startup_compile_s"] else ""
            )
            if "same_prefix_tokens" in r:
                extra = f" (first {r['same_prefix_tokens']} tokens equal to the engine's greedy)"
            console.print(f"single stream, {name}: {r['tokens_per_s']:,.1f} output tokens/s{extra}")
    ours, cpp = single.get("own forward", {}), single.get("llama.cpp f16", {})
    if "tokens_per_s" in ours and "tokens_per_s" in cpp:
        console.print(
            f"single stream: llama.cpp f16 is {cpp['tokens_per_s'] / ours['tokens_per_s']:.2f}x "
            "the engine's own forward (target: within 1.5x)"
        )
    sp = report.get("shared_prefix")
    if sp:
        console.print(
            f"shared prefix ({sp['requests']} requests, {sp['prompt_tokens']:,} prompt tokens): "
            f"prefill tokens computed {sp['off']['prefill_tokens_computed']:,} off / "
            f"{sp['on']['prefill_tokens_computed']:,} on (hit rate {sp['on']['hit_rate']:.0%}); "
            f"output tokens/s {sp['off']['output_tokens_per_s']:,.1f} off / "
            f"{sp['on']['output_tokens_per_s']:,.1f} on; same outputs "
            f"{sp['same_outputs']}/{sp['requests']}"
        )
    for name, b in (report.get("kv_bytes_per_token") or {}).items():
        console.print(
            f"KV bytes/token (bf16), {name}: latent {b['latent']:,} vs expanded "
            f"{b['expanded']:,} ({b['ratio']}x smaller)"
        )
