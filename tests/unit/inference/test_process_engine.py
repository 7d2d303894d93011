"""The engine core in its own process: same tokens as in-process, abort, multi-LoRA across
the boundary, and a core that dies failing its in-flight requests instead of hanging."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from functools import partial

import pytest
from inference_helpers import hf_greedy, random_prompts, tiny_model

from tunesmith.inference import BASE, Engine, InvalidRequestError, SamplingParams
from tunesmith.inference.async_engine import EngineFailure
from tunesmith.inference.process_engine import ProcessEngine
from tunesmith.serve.engine_process import build_engine

GREEDY = SamplingParams(max_tokens=6, temperature=0.0)


async def collect(engine: ProcessEngine, rid: str, prompt: list[int], params, adapter=None):  # noqa: ANN001
    last = None
    async for out in engine.generate(rid, prompt, params, adapter):
        last = out
    return last


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from test_lora_batched import two_adapters

    model = two_adapters("tiny-qwen2")
    run = tmp_path_factory.mktemp("run")
    model.save_pretrained(run)  # run/sql, run/poem
    return model, run


@pytest.fixture(scope="module")
def core(lora_dir) -> ProcessEngine:  # noqa: ANN001
    adapters = [f"sql={lora_dir[1] / 'sql'}", f"poem={lora_dir[1] / 'poem'}"]
    engine = ProcessEngine(partial(build_engine, "tiny-qwen2", adapters, threads=1, max_batch=4))
    engine.start()
    yield engine
    engine.shutdown(timeout=60)  # a clean exit is the point, not its speed on a loaded machine
    assert not engine.process.is_alive() and engine.process.exitcode == 0


def test_outputs_equal_the_in_process_engine(core: ProcessEngine) -> None:
    prompts = random_prompts(6, seed=31)

    async def run() -> list:
        jobs = [collect(core, f"r{i}", p, GREEDY, BASE) for i, p in enumerate(prompts)]
        return await asyncio.gather(*jobs)

    outs = asyncio.run(run())
    model = tiny_model("tiny-qwen2")
    assert [o.token_ids for o in outs] == [hf_greedy(model, p, 6) for p in prompts]
    assert [o.finish_reason for o in outs] == ["length"] * 6
    assert core.engine.max_batch == 4 and core.engine.pid != os.getpid()


def test_validation_and_abort_across_the_boundary(core: ProcessEngine) -> None:
    with pytest.raises(InvalidRequestError, match="outside the vocabulary"):
        asyncio.run(collect(core, "bad", [5, 99999], GREEDY))

    async def leave_early() -> int:
        n = 0
        async for _ in core.generate("long", [5, 6, 7], SamplingParams(max_tokens=500)):
            n += 1
            if n == 2:
                break
        # the core aborted it: the next request runs to its end on a free slot
        out = await collect(core, "after", [5, 6, 7], GREEDY)
        return len(out.token_ids)

    assert asyncio.run(leave_early()) == 6
    assert core.engine.num_running == 0


def test_multi_lora_across_the_boundary(core: ProcessEngine, lora_dir) -> None:  # noqa: ANN001
    model = lora_dir[0]
    prompt = random_prompts(1, seed=5)[0]
    names = ["sql", "poem", BASE]
    want = Engine(model, max_batch=3).generate([prompt] * 3, GREEDY, names)

    async def mixed() -> list:
        return await asyncio.gather(
            *(collect(core, f"m{i}", prompt, GREEDY, n) for i, n in enumerate(names))
        )

    got = asyncio.run(mixed())
    assert [o.token_ids for o in got] == [o.token_ids for o in want]
    assert [o.adapter for o in got] == names
    assert len({tuple(o.token_ids) for o in got}) == 3


def test_structured_output_across_the_boundary(core: ProcessEngine, lora_dir) -> None:  # noqa: ANN001
    from tunesmith.inference.grammar import GrammarCompiler
    from tunesmith.inference.guide import Guide
    from tunesmith.tokenize.templates import load_tokenizer

    tok = load_tokenizer()
    schema = {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 3}
    params = SamplingParams(
        max_tokens=30, seed=4, stop_token_ids=[1], guide=Guide.json_schema(schema)
    )
    prompt = random_prompts(1, seed=8)[0]
    model = lora_dir[0]
    grammar = GrammarCompiler.from_tokenizer(tok, model.config.vocab_size)
    want = Engine(model, max_batch=2, grammar=grammar).generate([prompt], params, [BASE])[0]
    got = asyncio.run(collect(core, "s", prompt, params, BASE))
    assert (got.token_ids, got.finish_reason) == (want.token_ids, "stop")
    assert set(json.loads(tok.decode(got.token_ids))) <= {"a", "b"}
    with pytest.raises(InvalidRequestError, match="invalid regular expression") as e:
        bad = SamplingParams(guide=Guide.regex("a(b"))
        asyncio.run(collect(core, "bad-regex", prompt, bad))
    assert e.value.param == "guided_regex"


def test_a_dying_core_fails_in_flight_requests_and_reports() -> None:
    deaths: list[int | None] = []
    engine = ProcessEngine(
        partial(build_engine, "tiny-qwen2", threads=1, max_batch=2), on_death=deaths.append
    )
    engine.start()

    async def killed_mid_stream() -> str:
        n = 0
        try:
            async for _ in engine.generate("r", [5, 6, 7], SamplingParams(max_tokens=2000)):
                n += 1
                if n == 3:
                    os.kill(engine.process.pid, signal.SIGKILL)
        except EngineFailure as e:
            return str(e)
        return "finished"

    try:
        message = asyncio.run(asyncio.wait_for(killed_mid_stream(), timeout=60))
        assert message == "the engine core process died (exit code -9)"
        engine._thread.join(5)  # the reader calls on_death right after failing the streams
        assert engine.alive is False and deaths == [-9]
        with pytest.raises(EngineFailure, match="died"):
            asyncio.run(collect(engine, "next", [5, 6], GREEDY))
    finally:
        engine.shutdown()
