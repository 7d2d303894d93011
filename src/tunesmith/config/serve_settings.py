"""The settings of `tunesmith serve`, `chat` and `generate`, declared once: flags, `--help`,
YAML files, dotted overrides, errors and UI forms come from these.

    tunesmith serve serve.yaml port=8080 --api-key KEY
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.schema import opt


@dataclass
class EngineSettings:
    """The model and the engine: shared by serve, chat and generate."""

    model: str = opt(
        "",
        "preset name, model directory, run directory or adapter directory",
        required=True,
        metavar="MODEL",
    )
    adapter: list[str] = opt(
        [],
        "a LoRA adapter on the same base, picked by name (the flag is repeatable)",
        repeat=True,
        metavar="NAME=DIR",
    )
    served_model_name: str | None = opt(None, "name of the base model (default: the model)")
    max_batch: int = opt(32, "KV slots: sequences run together", min=1, metavar="N")
    max_model_len: int | None = opt(
        None, "prompt + output tokens per sequence (default: the model's)", min=1, metavar="N"
    )
    token_budget: int = opt(512, "tokens per forward pass", min=1, metavar="N")
    threads: int | None = opt(None, "torch CPU threads (default: torch's)", min=1, metavar="N")
    compile_buckets: list[int] = opt(
        [],
        "torch.compile the engine's forward for steps of up to N token rows (warmed at start)",
        min=1,
        metavar="N",
    )
    prefix_caching: bool = opt(False, "reuse cached prompt prefixes")


@dataclass
class ServeSettings(EngineSettings):
    host: str = opt("127.0.0.1", "address to listen on")
    port: int = opt(8000, "TCP port", min=0, max=65535)
    api_key: str | None = opt(
        None, "require 'Authorization: Bearer KEY' (default: $TUNESMITH_API_KEY, else none)"
    )
    max_queue: int = opt(64, "waiting requests before 429", min=1, metavar="N")
    engine_process: bool = opt(
        False, "run the engine core in its own process (ZeroMQ); the server exits 1 if it dies"
    )
    request_timeout: float = opt(600.0, "seconds per request (0: none)", min=0.0, metavar="S")
    drain_seconds: float = opt(30.0, "SIGTERM: time to finish in-flight", min=0.0, metavar="S")
    backend: str = opt(
        "tunesmith",
        "engine: tunesmith's own, or hand off to vLLM (CUDA)",
        choices=["tunesmith", "vllm"],
    )
    log_level: str | None = opt(
        None,
        "the server's log level, uvicorn's and tunesmith's (default: the global --log-level, "
        "else info)",
        choices=["debug", "info", "warning", "error"],
    )


@dataclass
class SamplingSettings(EngineSettings):
    use: str | None = opt(None, "served name to generate with (an adapter)", metavar="NAME")
    max_tokens: int = opt(512, "tokens per answer", min=1, metavar="N")
    temperature: float = opt(0.0, "0: greedy", min=0.0)
    top_p: float = opt(1.0, "nucleus sampling mass; 1: off", gt=0.0, max=1.0)
    top_k: int = opt(0, "0: off", min=0)
    seed: int | None = opt(None, "sampling seed")


@dataclass
class ChatSettings(SamplingSettings):
    system: str | None = opt(None, "system prompt")


@dataclass
class GenerateSettings(SamplingSettings):
    max_tokens: int = opt(256, "tokens per answer", min=1, metavar="N")
    input: str = opt(
        "", "jsonl: {'prompt': str} or {'messages': [...]}", required=True, metavar="FILE"
    )
    output: str = opt("", "jsonl written in input order", required=True, metavar="FILE")
    stop: list[str] = opt([], "stop string (the flag is repeatable)", repeat=True)
