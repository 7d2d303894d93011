"""Optional dependencies: which `pip install 'tunesmith[EXTRA]'` brings which module.

The core install is the training path (torch, transformers, peft, accelerate, ...). A command
that needs more imports it when it runs; when that import fails, the CLI prints one line
naming the extra (`missing_extra_message`) instead of a traceback.
"""

from __future__ import annotations

EXTRAS: dict[str, str] = {
    # serve: the HTTP server, its metrics, the engine-core process
    "fastapi": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "zmq": "serve",
    "msgspec": "serve",
    "httpx": "serve",
    # data: near-duplicate removal in `data prepare`
    "datasketch": "data",
    # eval: text metrics
    "sacrebleu": "eval",
    "rouge_score": "eval",
    "sklearn": "eval",
    # export: GGUF files, CPU quantization
    "gguf": "export",
    "torchao": "export",
    # bench: the HTTP load generator of `bench serve`
    "aiohttp": "bench",
    # deepspeed: ZeRO through accelerate
    "deepspeed": "deepspeed",
    # experiment trackers (output.report_to), `eval harness`, the RL LaTeX answer check
    "mlflow": "mlflow",
    "wandb": "wandb",
    "trackio": "trackio",
    "lm_eval": "harness",
    "math_verify": "math",
    # structured output (response_format, guided_*)
    "llguidance": "grammar",
}
"""top-level module -> the extra that installs it (pyproject.toml [project.optional-dependencies])"""


COMMAND_EXTRAS = {"ui": "ui", "bench": "bench"}
"""commands whose own extra pulls in the others they need (ui: serve; bench: all of them)"""


def extra_for(error: ImportError) -> str | None:
    """The extra whose module `error` failed to import, or None (not an optional module)."""
    name = (getattr(error, "name", None) or "").split(".")[0]
    return EXTRAS.get(name)


def missing_extra_message(error: ImportError, command: str | None = None) -> str | None:
    """One line naming the extra to install, or None when `error` is not about an extra."""
    extra = extra_for(error)
    if extra is None:
        return None
    extra = COMMAND_EXTRAS.get((command or "").split(" ")[0], extra)
    what = f"`tunesmith {command}`" if command else "this"
    return (
        f"error: {what} needs the '{extra}' extra (module {error.name} is not installed): "
        f"pip install 'tunesmith[{extra}]'"
    )
