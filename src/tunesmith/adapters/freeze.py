"""`method.name: freeze`: train chosen decoder layers and modules in full, freeze the rest.

method:
  name: freeze
  freeze:
    trainable_layers: ["8-11"]        # indices or ranges; "-2:" = the last two layers
    trainable_modules: ["lm_head"]    # fnmatch patterns on parameter names
"""

from __future__ import annotations

import fnmatch
import re

from transformers import PreTrainedModel

from tunesmith.config.schema import FreezeConfig
from tunesmith.errors import ConfigError

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_RANGE = re.compile(r"^\s*(-?\d+)?\s*([-:])?\s*(-?\d+)?\s*$")


def num_layers(model: PreTrainedModel) -> int:
    return int(model.config.get_text_config().num_hidden_layers)


def parse_layers(specs: list[str], n: int) -> set[int]:
    """'3' -> {3}; '8-11' -> {8..11}; '-2:' -> the last two; ':4' -> {0..3} (Python slice)."""
    out: set[int] = set()
    for spec in specs:
        text = str(spec)
        m = _RANGE.match(text)
        if not m or (m.group(1) is None and m.group(3) is None):
            raise ConfigError(
                f"method.freeze.trainable_layers: '{text}' is not a layer index or range "
                "(expected e.g. '3', '8-11', '-2:' or ':4')"
            )
        lo, sep, hi = m.group(1), m.group(2), m.group(3)
        if sep == ":":
            picked = range(n)[slice(int(lo) if lo else None, int(hi) if hi else None)]
        elif sep == "-" and hi is not None:
            picked = range(int(lo or 0), int(hi) + 1)
        elif sep is None:
            picked = range(int(lo), int(lo) + 1)
        else:  # "3-" reads as a negative end; be explicit instead
            raise ConfigError(
                f"method.freeze.trainable_layers: '{text}' has no end; write '{lo}:' for "
                f"layers {lo} to the last"
            )
        bad = [i for i in picked if not -n <= i < n]
        if bad or not picked:
            raise ConfigError(
                f"method.freeze.trainable_layers: '{text}' is outside this model's layers 0-{n - 1}"
            )
        out |= {i % n for i in picked}
    return out


def trainable_names(model: PreTrainedModel, cfg: FreezeConfig) -> list[str]:
    """Parameter names `cfg` trains; ConfigError when it trains nothing or a pattern misses.

    Names include tied aliases (a tied `lm_head.weight` is the embedding matrix), so
    'lm_head' works on models that tie the head to the embeddings.
    """
    layers = parse_layers(cfg.trainable_layers, num_layers(model))
    names = [n for n, _ in model.named_parameters(remove_duplicate=False)]
    picked: set[str] = set()
    for name in names:
        m = _LAYER.search(name)
        if m and int(m.group(1)) in layers:
            picked.add(name)
    for pattern in cfg.trainable_modules:
        hits = {n for n in names if fnmatch.fnmatchcase(n, pattern) or _is_module(n, pattern)}
        if not hits:
            examples = ", ".join(sorted({n.rsplit(".", 1)[0] for n in names})[:6])
            raise ConfigError(
                f"method.freeze.trainable_modules: '{pattern}' matches no parameter; "
                f"names look like {examples}, lm_head (fnmatch patterns such as '*.norm.*')"
            )
        picked |= hits
    if not picked:
        raise ConfigError(
            "method.freeze: nothing to train; set trainable_layers (e.g. ['-2:']) and/or "
            "trainable_modules (e.g. ['lm_head'])"
        )
    return [n for n in names if n in picked]


def _is_module(name: str, pattern: str) -> bool:
    """A bare module name ('lm_head', 'norm') matches its parameters at any depth."""
    return name.startswith(pattern + ".") or f".{pattern}." in f".{name}"


def apply_freeze(model: PreTrainedModel, cfg: FreezeConfig) -> PreTrainedModel:
    train = set(trainable_names(model, cfg))
    chosen = {id(p) for n, p in model.named_parameters(remove_duplicate=False) if n in train}
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)
    return model
