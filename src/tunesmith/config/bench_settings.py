"""The settings of `tunesmith bench train | data | memory | serve | preference | rl`, declared once: flags,
`--help`, YAML files, dotted overrides, errors and UI forms come from these.

    tunesmith bench train bench.yaml repeats=3 --json bench.json
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.schema import opt
from tunesmith.errors import ConfigError

JSON = "also write the results as JSON"
SERVE_MODEL = "tiny-qwen2"
SERVE_CONCURRENCY = (1, 8, 32)
SERVE_REQUESTS = (32, 128, 512)
MEMORY_SHAPES = ["qwen-1.5b", "v2-lite"]


@dataclass
class BenchTrainSettings:
    json: str | None = opt(None, JSON, metavar="FILE")
    repeats: int = opt(1, "runs per arm, alternating", min=1, metavar="N")
    model: str = opt("tiny-qwen2", "preset both arms train")
    method: str = opt("lora", "both arms", choices=["lora", "full"])
    precision: str = opt("fp32", "both arms (autocast)", choices=["fp32", "bf16"])
    budget_tokens: int = opt(200_000, "real training tokens per arm", min=1, metavar="N")


@dataclass
class BenchDataSettings:
    json: str | None = opt(None, JSON, metavar="FILE")
    docs: int = opt(20_000, "records in the generated corpus", min=1, metavar="N")
    processes: int = opt(0, "hashing processes (0: one per CPU)", min=0, metavar="N")
    seed: int = opt(0, "corpus seed")


@dataclass
class BenchMemorySettings:
    json: str | None = opt(None, JSON, metavar="FILE")
    steps: int = opt(2, "optimizer steps per arm", min=1, metavar="N")
    shape: str | None = opt(
        None,
        "real dimensions (DeepSeek-R1-Distill-Qwen-1.5B, DeepSeek-V2-Lite) at few layers: "
        "Trainer + PEFT against tunesmith, chunked loss, checkpointing (one step per arm)",
        choices=MEMORY_SHAPES,
    )
    seq: list[int] = opt([1024, 4096], "with --shape", min=1, metavar="SEQ")
    layers: list[int] = opt([1, 2], "depths measured, with --shape", min=1, metavar="LAYERS")
    arms: list[str] = opt([], "with --shape: only these arms (names as printed)", metavar="ARMS")
    threads: int = opt(0, "torch threads per arm (0: all)", min=0, metavar="THREADS")


@dataclass
class BenchServeSettings:
    json: str | None = opt(None, JSON, metavar="FILE")
    model: str = opt(SERVE_MODEL, "preset or model directory")
    concurrency: list[int] = opt(
        list(SERVE_CONCURRENCY), "requests in flight at most (one run per level)", min=1
    )
    requests: list[int] = opt(
        list(SERVE_REQUESTS), "requests per concurrency level (one count per level)", min=1
    )
    max_tokens: int = opt(64, "output tokens per request", min=1)
    rate: float = opt(8.0, "Poisson arrivals per second per concurrency slot", gt=0.0)
    threads: int = opt(1, "torch threads in every arm", min=1)
    seed: int = opt(0, "prompt and arrival seed")
    engine_process: bool = opt(False, "serve with --engine-process")
    compile_buckets: list[int] = opt(
        [],
        "torch.compile the engine's forward for steps of up to N token rows",
        min=1,
        metavar="N",
    )
    prefix_len: int = opt(256, "shared prefix tokens (0: skip)", min=0)
    prefix_prompts: int = opt(4, "shared-prefix prompts", min=1)
    prefix_samples: int = opt(8, "samples per prompt", min=1)


@dataclass
class BenchPreferenceSettings:
    json: str | None = opt(None, JSON, metavar="FILE")
    budget_tokens: int = opt(60_000, "chosen tokens of the pairs", min=1, metavar="N")


@dataclass
class BenchRLSettings:
    json: str | None = opt(None, JSON, metavar="FILE")
    steps: int = opt(20, "optimizer steps per arm", min=1, metavar="STEPS")
    prompts: int = opt(8, "prompts per step", min=1, metavar="PROMPTS")
    group_size: int = opt(
        8, "completions per prompt (GRPO needs 2 or more)", min=2, metavar="GROUP_SIZE"
    )
    max_tokens: int = opt(24, "generated tokens at most", min=1, metavar="MAX_TOKENS")
    threads: int = opt(0, "torch threads per arm (0: all)", min=0, metavar="THREADS")
    seeds: int = opt(
        1, "runs per arm (seed 42, 43, ...): rewards compared as mean and spread over them",
        min=1, metavar="SEEDS",
    )  # fmt: skip


def check_bench_serve(s: BenchServeSettings) -> None:
    if len(s.requests) != len(s.concurrency):
        raise ConfigError(
            f"--requests needs one count per --concurrency level {s.concurrency}, got {s.requests}"
        )
