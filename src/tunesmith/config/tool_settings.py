"""The settings of `tunesmith profile`, `data inspect`, `eval compare`, `demo` and `ui`, declared
once: flags, `--help`, YAML files, dotted overrides, errors and UI forms come from these.

    tunesmith profile profile.yaml seq_len=256 --mode infer
    tunesmith data inspect inspect.yaml max_len=2048 raw.jsonl
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.config.schema import opt

DATA_FORMATS = ["auto", "messages", "sharegpt", "alpaca", "cqa", "text"]
DTYPES = ["float32", "bfloat16", "float16"]
PROFILE_MODES = ["train", "infer"]
LOG_LEVELS = ["debug", "info", "warning", "error"]


@dataclass
class ProfileSettings:
    """`run_profile`'s options (`tunesmith.profile.ProfileOptions` is this schema)."""

    model: str = opt("", "preset, model directory or run directory", required=True)
    adapter: str | None = opt(None, "PEFT adapter on --model (kept unmerged)", metavar="DIR")
    batch_size: int = opt(4, "sequences per step", min=1)
    seq_len: int = opt(128, "tokens per sequence", min=1)
    mode: str = opt(
        "train",
        "train: forward + backward + AdamW; infer: one forward (prefill)",
        choices=PROFILE_MODES,
    )
    steps: int = opt(3, "timed steps, then as many profiled", min=1)
    warmup: int = opt(1, "steps before timing", min=0)
    dtype: str = opt("float32", "weight dtype", choices=DTYPES)
    device: str = opt(
        "auto",
        "where to run (auto: cuda when available, else cpu)",
        choices=["auto", "cpu", "cuda"],
    )
    top: int = opt(10, "rows per table", min=1)
    output: str | None = opt(
        None, "profile.json and trace.json (default: runs/profile/NAME-MODE)", metavar="DIR"
    )
    seed: int = opt(0, "seed of the random token ids")


@dataclass
class DataInspectSettings:
    files: list[str] = opt(
        [],
        "data files or directories",
        required=True,
        positional=True,
        flag="FILE",
        metavar="FILE",
    )
    format: str = opt("auto", "record format (auto: detected per record)", choices=DATA_FORMATS)
    max_len: int = opt(1024, "count records longer than this", min=1)
    tokenizer: str | None = opt(None, "tokenizer directory (default: shipped)", metavar="DIR")
    field: list[str] = opt(
        [],
        "label field to count (the flag is repeatable; default: label, domain, category, "
        "task, language when present)",
        repeat=True,
    )
    plot: str | None = opt(
        None, "also write the token-length histogram here (default: none)", metavar="PNG"
    )
    tokens: bool = opt(True, "count tokens per record (tokens=false in CONFIG)")
    json: str | None = opt(None, "also write the report as JSON", metavar="FILE")


@dataclass
class EvalCompareSettings:
    runs: list[str] = opt(
        [],
        "eval.json files or dirs",
        required=True,
        positional=True,
        flag="RUN_OR_EVAL",
        metavar="RUN_OR_EVAL",
    )
    metrics: str | None = opt(None, "comma-separated subset to show (default: all)")
    output: str = opt("runs/compare", "compare.md/.json/.png here", metavar="DIR")


@dataclass
class DemoSettings:
    output: str | None = opt(None, "output directory (default: runs/demo)", metavar="DIR")


@dataclass
class UiSettings:
    host: str = opt("127.0.0.1", "address")
    port: int = opt(7860, "port", min=0, max=65535)
    runs: str = opt("runs", "runs root", metavar="DIR")
    project: str = opt(".", "project dir: configs/, data", metavar="DIR")
    auth_token: str | None = opt(
        None,
        "require this token (or TUNESMITH_UI_TOKEN); needed for a non-local --host",
        metavar="TOKEN",
    )
    log_level: str = opt("warning", "uvicorn log level", choices=LOG_LEVELS)
