"""Inference engine: token ids in, token ids out (no tokenizer here).

    from tunesmith.inference import Engine, SamplingParams
    engine = Engine(model, max_batch=32)
    outs = engine.generate(prompt_id_lists, SamplingParams(max_tokens=32, stop_token_ids=[eos]))

`Engine` batches continuously over a slot KV cache (see `engine`, `scheduler`, `kv_cache`);
`AsyncEngine` runs it in a thread for asyncio servers. With a `PeftModel`, an unnamed request
runs its active adapter, a named one that adapter, and `BASE` the base weights.
"""

from __future__ import annotations

from tunesmith.inference.engine import Engine
from tunesmith.inference.guide import Guide
from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.inference.request import Logprob, RequestMetrics, RequestOutput
from tunesmith.inference.runner import BASE

__all__ = [
    "BASE",
    "Engine",
    "Guide",
    "InvalidRequestError",
    "Logprob",
    "RequestMetrics",
    "RequestOutput",
    "SamplingParams",
]
