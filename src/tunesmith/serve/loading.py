"""Load what the server serves: a base (preset, model dir, run dir, adapter dir) + adapters.

    model, tok, names = load_served("runs/demo", adapters=["sql=runs/sql"])
    # names: {"runs/demo": "default", "sql": "sql"}  (served name -> engine adapter name)
    model, tok, names = load_served("tiny-deepseek-v3-base", adapters=["sql=runs/sql"])
    # names: {"tiny-deepseek-v3-base": "__base__", "sql": "sql"}  (BASE: adapters disabled)

Every adapter is a LoRA on the same base weights (peft `load_adapter`), picked per request
by the request's `model` field. A plain base maps to None when no adapter is loaded, and to
`BASE` when adapters are (an unnamed engine request would run the active adapter).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.errors import ConfigError


def parse_adapter(spec: str) -> tuple[str, Path]:
    """`name=DIR` -> (name, adapter dir); a run directory's `adapter/` is used when present."""
    name, sep, directory = spec.partition("=")
    if not sep or not name or not directory:
        raise ConfigError(f"--adapter '{spec}': expected NAME=DIR")
    path = Path(directory).expanduser()
    if (path / "adapter").is_dir():
        path = path / "adapter"
    config = path / "adapter_config.json"
    if not config.is_file():
        raise ConfigError(f"--adapter {name}: '{path}' has no adapter_config.json")
    peft_type = json.loads(config.read_text()).get("peft_type")
    if peft_type != "LORA":
        raise ConfigError(
            f"--adapter {name}: '{path}' is a {peft_type} adapter; only LoRA adapters can be "
            "served side by side (merge it into the base and serve the merged model)"
        )
    return name, path


def load_served(
    model: str, adapters: list[str] | None = None, served_name: str | None = None
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase, dict[str, str | None]]:
    """(model, tokenizer, served name -> adapter name) for `tunesmith serve` and friends."""
    from tunesmith.models.load import load_trained

    specs = [parse_adapter(a) for a in adapters or []]
    names = [n for n, _ in specs]
    name = served_name or model.rstrip("/")
    if len(set(names)) != len(names) or name in names:
        raise ConfigError(f"--adapter names must be unique and differ from '{name}': {names}")
    loaded, tok = load_trained(model)
    served: dict[str, str | None] = {name: None}
    if hasattr(loaded, "peft_config"):
        kinds = {getattr(c.peft_type, "value", c.peft_type) for c in loaded.peft_config.values()}
        if kinds != {"LORA"}:
            raise ConfigError(f"--model {model}: only LoRA adapters can be served, not {kinds}")
        served[name] = loaded.active_adapter
    for adapter_name, path in specs:
        if not hasattr(loaded, "peft_config"):
            from peft import PeftModel

            loaded = PeftModel.from_pretrained(loaded, path, adapter_name=adapter_name)
        else:
            loaded.load_adapter(path, adapter_name=adapter_name)
        served[adapter_name] = adapter_name
    if specs and served[name] is None:
        from tunesmith.inference import BASE

        served[name] = BASE
    loaded.eval()
    return loaded, tok, served
