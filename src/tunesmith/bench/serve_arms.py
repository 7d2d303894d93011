"""The three arms of `tunesmith bench serve`, each running one `Workload` into `Record`s.

- `run_http`: the tunesmith server over real HTTP (`aiohttp`, as vLLM's serving benchmark:
  the client shares this machine's cores with the server, so it must be light; streaming
  `/v1/completions` with token-id prompts), one asyncio task per request;
- `run_generate_batch`: transformers' continuous batching (the manager behind
  `model.generate_batch`), fed the same requests at the same times, streaming;
- `run_sequential`: `model.generate` one request at a time, tokens timed by a streamer.

Times are taken where a client would see them: at an SSE event, at a streamed
`GenerationOutput`, at a streamer's `put`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import torch

from tunesmith.bench.serve_workload import Record, Workload, wait_until


def run_http(url: str, model: str, wl: Workload) -> list[Record]:
    """Every request of `wl` against a tunesmith server at `url` (at most C in flight)."""
    return asyncio.run(_http(url, model, wl))


async def _http(url: str, model: str, wl: Workload) -> list[Record]:
    import aiohttp

    records = [Record() for _ in wl.prompts]
    slots = asyncio.Semaphore(wl.concurrency)
    connector = aiohttp.TCPConnector(limit=wl.concurrency)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        start = time.perf_counter()

        async def one(i: int) -> None:
            rec = records[i]
            rec.arrival = start + wl.arrivals[i]
            await asyncio.sleep(max(0.0, rec.arrival - time.perf_counter()))
            async with slots:
                rec.sent = time.perf_counter()
                try:
                    await _stream_one(session, model, wl.prompts[i], wl.max_tokens, rec)
                except Exception as e:  # a failed request is a result, not a crash
                    rec.error = f"{type(e).__name__}: {e}"

        await asyncio.gather(*(one(i) for i in range(len(records))))
    return records


async def _stream_one(session, model: str, prompt: list[int], max_tokens: int, rec: Record) -> None:  # noqa: ANN001
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    pieces: list[str] = []
    async with session.post("/v1/completions", json=body) as r:
        if r.status != 200:
            rec.error = f"HTTP {r.status}: {(await r.read())[:200]!r}"
            return
        async for raw in r.content:  # one line at a time
            if not raw.startswith(b"data: "):
                continue
            if raw.startswith(b"data: [DONE]"):
                break
            now = time.perf_counter()
            event = json.loads(raw[6:])
            if "error" in event:
                rec.error = f"stream error: {event['error'].get('message')}"
            for choice in event.get("choices") or []:
                if choice.get("text"):
                    rec.event_times.append(now)
                    pieces.append(choice["text"])
            if event.get("usage"):
                rec.tokens = event["usage"]["completion_tokens"]
    rec.end = time.perf_counter()
    rec.text = "".join(pieces)


def run_generate_batch(model: torch.nn.Module, wl: Workload, cb_config: object) -> list[Record]:
    """`wl` through transformers' continuous-batching manager (streaming, greedy)."""
    from transformers import GenerationConfig

    records = [Record() for _ in wl.prompts]
    gen = GenerationConfig(do_sample=False, max_new_tokens=wl.max_tokens, eos_token_id=-1)
    manager = model.init_continuous_batching(
        generation_config=gen, continuous_batching_config=cb_config
    )
    manager.start()
    try:
        failure = _warm_generate_batch(manager, wl)
        if failure is not None:  # e.g. a model its paged cache cannot hold (DeepSeek's MLA)
            for r in records:
                r.error = failure
            return records
        slots = threading.Semaphore(wl.concurrency)
        done = threading.Event()
        ids = {f"bench-{i}": i for i in range(len(records))}
        collector = threading.Thread(
            target=_collect, args=(manager, records, ids, slots, done), daemon=True
        )
        collector.start()
        start = time.perf_counter()
        for i, prompt in enumerate(wl.prompts):
            records[i].arrival = start + wl.arrivals[i]
            wait_until(records[i].arrival)
            while not slots.acquire(timeout=0.5):
                if done.is_set():  # the collector gave up: the generation thread died
                    break
            if done.is_set():
                break
            records[i].sent = time.perf_counter()
            manager.add_request(
                prompt, request_id=f"bench-{i}", max_new_tokens=wl.max_tokens, streaming=True
            )
        if not done.wait(timeout=600):
            for r in records:
                if r.end is None and r.error is None:
                    r.error = "timed out"
    finally:
        manager.stop(block=True, timeout=10)
        manager.destroy()
    return records


def _warm_generate_batch(manager: object, wl: Workload) -> str | None:
    """Run one short request through; the error that stopped the manager, if one did."""
    manager.add_request(wl.prompts[0], request_id="warmup", max_new_tokens=2)  # type: ignore[attr-defined]
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        out = manager.get_result(timeout=1)  # type: ignore[attr-defined]
        if out is not None and out.is_finished():
            return None if out.error is None else f"generate_batch failed: {out.error}"[:300]
        if not manager.is_running():  # type: ignore[attr-defined]
            fatal = manager.background_thread_status.fatal_error  # type: ignore[attr-defined]
            return f"generate_batch stopped: {type(fatal).__name__}: {fatal}"[:300]
    return "generate_batch: the warm-up request did not finish in 120 s"


def _collect(
    manager: object,
    records: list[Record],
    ids: dict[str, int],
    slots: threading.Semaphore,
    done: threading.Event,
) -> None:
    left = len(records)
    while left:
        out = manager.get_result(timeout=0.5)  # type: ignore[attr-defined]
        if out is None:
            if not manager.is_running():  # type: ignore[attr-defined]
                for r in records:
                    if r.end is None and r.error is None:
                        r.error = "the generation thread stopped"
                break
            continue
        now = time.perf_counter()
        i = ids.get(out.request_id)
        if i is None:
            continue
        rec = records[i]
        new = len(out.generated_tokens) - rec.tokens
        if new > 0:
            rec.event_times.append(now)
            rec.tokens = len(out.generated_tokens)
        if out.is_finished():
            rec.end, rec.token_ids = now, list(out.generated_tokens)
            if out.error is not None:
                rec.error = str(out.error)[:300]
            left -= 1
            slots.release()
    done.set()


class _TokenTimes:
    """A `generate` streamer that timestamps each new token (the first put is the prompt)."""

    def __init__(self, rec: Record):
        self.rec, self.prompt_seen = rec, False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.rec.event_times.append(time.perf_counter())

    def end(self) -> None:
        pass


@torch.inference_mode()
def run_sequential(model: torch.nn.Module, wl: Workload) -> list[Record]:
    """One `model.generate` at a time, in arrival order (greedy, exactly max_tokens)."""
    records = [Record() for _ in wl.prompts]
    kwargs = {
        "max_new_tokens": wl.max_tokens,
        "min_new_tokens": wl.max_tokens,
        "do_sample": False,
        "pad_token_id": model.config.pad_token_id,
    }
    warm = {**kwargs, "max_new_tokens": 2, "min_new_tokens": 2}
    model.generate(torch.tensor([wl.prompts[0]]), **warm)  # warm up
    start = time.perf_counter()
    for i, prompt in enumerate(wl.prompts):
        rec = records[i]
        rec.arrival = start + wl.arrivals[i]
        wait_until(rec.arrival)
        rec.sent = time.perf_counter()
        try:
            out = model.generate(torch.tensor([prompt]), streamer=_TokenTimes(rec), **kwargs)
        except Exception as e:
            rec.error = f"{type(e).__name__}: {e}"
            continue
        rec.end = time.perf_counter()
        rec.token_ids = out[0, len(prompt) :].tolist()
        rec.tokens = len(rec.token_ids)
    return records
