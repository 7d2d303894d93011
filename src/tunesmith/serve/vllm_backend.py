"""`tunesmith serve --backend vllm`: hand the same model and adapters to vLLM on a CUDA GPU.

vLLM serves the same OpenAI API (and the same `--adapter` names, as LoRA modules), so
clients do not change. It needs a CUDA device and the `vllm` package
(`pip install 'tunesmith[cuda]'`); elsewhere it fails before loading anything.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from tunesmith.errors import ConfigError
from tunesmith.serve.loading import parse_adapter


def check_vllm() -> None:
    """Raise a clear ConfigError unless vLLM can run here."""
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            "--backend vllm needs a CUDA GPU and this machine has none; "
            "use the default --backend tunesmith on CPU"
        )
    if importlib.util.find_spec("vllm") is None or vllm_executable() is None:
        raise ConfigError("--backend vllm needs vLLM: pip install 'tunesmith[cuda]'")


def vllm_executable() -> str | None:
    """The `vllm` console script: beside this interpreter (a venv that was not activated),
    else on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("vllm", path=path)


def vllm_command(
    model: str,
    adapters: list[str],
    *,
    served_name: str,
    host: str,
    port: int,
    api_key: str | None,
    max_batch: int,
    max_model_len: int | None,
) -> list[str]:
    """The `vllm serve` command line equivalent to a `tunesmith serve` one."""
    from tunesmith.models.load import resolve_model_dir

    path = Path(model)
    for sub in ("adapter", "model"):
        if (path / sub).is_dir():
            path = path / sub
            break
    lora: list[tuple[str, Path]] = [parse_adapter(a) for a in adapters]
    base_name = served_name
    if (path / "adapter_config.json").is_file():  # the model is an adapter: it keeps the name
        from tunesmith.models.adapter_base import find_adapter_base

        lora.insert(0, (served_name, path))
        base_name = f"{served_name}-base"
        model_dir = resolve_model_dir(find_adapter_base(path))
    else:
        model_dir = resolve_model_dir(str(path))
    if model_dir is None:
        raise ConfigError(f"--backend vllm: '{model}' is a random-init preset with no weights")
    cmd = [
        vllm_executable() or "vllm",
        "serve",
        str(model_dir),
        "--host",
        host,
        "--port",
        str(port),
    ]
    cmd += ["--served-model-name", base_name, "--max-num-seqs", str(max_batch)]
    if max_model_len is not None:
        cmd += ["--max-model-len", str(max_model_len)]
    if api_key is not None:
        cmd += ["--api-key", api_key]
    if lora:
        cmd += ["--enable-lora", "--lora-modules", *(f"{n}={p}" for n, p in lora)]
    return cmd
