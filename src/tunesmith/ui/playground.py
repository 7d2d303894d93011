"""Playground: chat with a run, an adapter, a model dir or a preset through the same engine
and text rules as `tunesmith chat` (serve/offline.stream_job, serve/text.ReasoningSplit).

A model is loaded on first use and kept (a few per UI process). The synchronous `Engine`
runs one stream at a time per model (a lock); side by side, the fine-tuned answer streams,
then the base answer, each event naming its side.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import ConfigError
from tunesmith.ui.settings import Roots

KEEP_MODELS = 3


@dataclass
class Loaded:
    engine: Any
    tok: Any
    adapter: str | None  # engine adapter for the model as given
    has_adapter: bool
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Sampling:
    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def check(self) -> None:
        if not 1 <= self.max_tokens <= 4096:
            raise ConfigError(f"max_tokens: must be 1..4096, got {self.max_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ConfigError("temperature >= 0, 0 < top_p <= 1 and top_k >= 0 are required")


class Playground:
    def __init__(self, roots: Roots) -> None:
        self.roots = roots
        self._models: dict[str, Loaded] = {}
        self._load_lock = threading.Lock()
        self._ids = itertools.count()

    def model_spec(self, text: str) -> str:
        """A preset name as is; anything else a path inside the project / runs root."""
        from tunesmith.models.registry import PRESETS

        if text in PRESETS:
            return text
        return str(self.roots.resolve(text))

    def base_spec(self, spec: str) -> str | None:
        """What 'base' means for `spec`: the same engine without adapters (None), or the
        model a full fine-tune started from."""
        path = Path(spec)
        if (path / "adapter").is_dir() or (path / "adapter_config.json").is_file():
            return None
        config = path / "config.yaml"
        if config.is_file():
            import yaml

            name = ((yaml.safe_load(config.read_text()) or {}).get("model") or {}).get(
                "name_or_path"
            )
            if name:
                return self.model_spec(name)
        raise ConfigError(f"'{spec}': no base to compare with (not a run or adapter directory)")

    def load(self, spec: str) -> Loaded:
        with self._load_lock:
            if spec not in self._models:
                if len(self._models) >= KEEP_MODELS:
                    self._models.pop(next(iter(self._models)))
                from tunesmith.inference import Engine
                from tunesmith.serve.loading import load_served

                model, tok, names = load_served(spec)
                adapter = next(iter(names.values()))
                self._models[spec] = Loaded(
                    Engine(model, max_batch=4), tok, adapter, hasattr(model, "peft_config")
                )
            return self._models[spec]

    def stream(
        self, spec: str, messages: list[dict], sampling: Sampling, compare_base: bool
    ) -> Iterator[str]:
        """Server-sent events: {side, reasoning, content, finish} deltas, then `done`."""
        sampling.check()
        sides: list[tuple[str, str, bool]] = [("tuned", spec, False)]
        if compare_base:
            base = self.base_spec(spec)
            sides.append(("base", base or spec, base is None))
        for side, model_spec, use_base in sides:
            yield from self._stream_side(side, model_spec, use_base, messages, sampling)
        yield "event: done\ndata: {}\n\n"

    def _stream_side(
        self, side: str, spec: str, use_base: bool, messages: list[dict], sampling: Sampling
    ) -> Iterator[str]:
        from tunesmith.inference import BASE, SamplingParams
        from tunesmith.serve.generation import ChoiceJob
        from tunesmith.serve.offline import stream_job
        from tunesmith.serve.prompts import opens_reasoning, render_chat
        from tunesmith.serve.text import ReasoningSplit

        loaded = self.load(spec)
        tok = loaded.tok
        prompt = render_chat(tok, messages)
        ids = tok.encode(prompt, add_special_tokens=False)
        params = SamplingParams(
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            seed=sampling.seed,
            stop_token_ids=[tok.eos_token_id] if tok.eos_token_id is not None else [],
        )
        adapter = BASE if use_base else loaded.adapter
        job = ChoiceJob(0, f"ui-{next(self._ids)}", ids, params, adapter=adapter)
        split, text = ReasoningSplit(opens_reasoning(prompt)), ""
        with loaded.lock:
            for delta, finish, _ in stream_job(loaded.engine, tok, job):
                text += delta
                reasoning, content = split.update(text, final=finish is not None)
                if reasoning or content or finish:
                    event = {
                        "side": side,
                        "reasoning": reasoning,
                        "content": content,
                        "finish": finish,
                    }
                    yield f"data: {json.dumps(event)}\n\n"
