"""Cross-field checks of a `data prepare` config: required settings, settings that would do
nothing, and step order. Each failure is a one-line `ConfigError` naming the key."""

from __future__ import annotations

from typing import Any

from tunesmith.data.curate.options import PII_KINDS, PrepareConfig
from tunesmith.errors import ConfigError

ROLES = ("system", "user", "assistant", "text")


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def check_prepare_config(cfg: PrepareConfig) -> None:
    """Cross-field checks: missing required settings and settings that would do nothing."""
    _need(
        bool(cfg.input.paths), "input.paths: no input files (give --input FILE or set input.paths)"
    )
    _need(
        bool(cfg.output.dir),
        "output.dir: no output directory (give --output DIR or set output.dir)",
    )
    names = [s.name for s in cfg.steps]
    if "split" in names and names[-1] != "split":
        raise ConfigError(
            f"steps: 'split' must be the last step (it is step {names.index('split') + 1} "
            f"of {len(names)})"
        )
    for spec in cfg.steps:
        check_step(spec.name, spec.options)


def check_step(name: str, o: Any) -> None:
    key = f"steps.{name}"
    if name == "near_dedupe" and o.bands and o.rows:
        _need(
            o.bands * o.rows <= o.num_perm,
            f"{key}: bands x rows = {o.bands * o.rows} exceeds num_perm = {o.num_perm}",
        )
    elif name == "quality":
        _need(
            len(o.max_top_ngram_frac) == 3,
            f"{key}.max_top_ngram_frac: expected 3 numbers "
            f"(for 2-, 3-, 4-grams), got {len(o.max_top_ngram_frac)}",
        )
        _need(
            len(o.max_dup_ngram_frac) == 6,
            f"{key}.max_dup_ngram_frac: expected 6 numbers "
            f"(for 5- .. 10-grams), got {len(o.max_dup_ngram_frac)}",
        )
        _need(
            o.min_chars <= o.max_chars,
            f"{key}: min_chars = {o.min_chars} is above max_chars = {o.max_chars}",
        )
        _need(
            o.max_tokens is None or o.min_tokens <= o.max_tokens,
            f"{key}: min_tokens = {o.min_tokens} is above max_tokens = {o.max_tokens}",
        )
    elif name == "pii":
        bad = [k for k in o.kinds if k not in PII_KINDS]
        _need(not bad, f"{key}.kinds: unknown {bad}; valid: {', '.join(PII_KINDS)}")
        _need(bool(o.kinds), f"{key}.kinds: empty (expected some of {', '.join(PII_KINDS)})")
    elif name == "decontam":
        _need(bool(o.eval), f"{key}.eval: no eval files (expected a list of files)")
    elif name == "balance":
        _need(
            bool(o.field), f"{key}.field: not set (expected a top-level record field, e.g. label)"
        )
        if o.mode == "cap":
            _need(
                o.cap is not None, f"{key}.cap: mode 'cap' needs a cap (expected an integer >= 1)"
            )
        else:
            _need(
                o.cap is None,
                f"{key}.cap={o.cap} has no effect with mode '{o.mode}'; "
                "set mode: cap or remove cap",
            )
    elif name == "augment_templates":
        _need(bool(o.file), f"{key}.file: not set (expected a YAML file of slots and templates)")
    elif name in ("augment_synonyms", "augment_paraphrase"):
        bad = [r for r in o.roles if r not in ROLES]
        _need(
            not bad and bool(o.roles),
            f"{key}.roles: {o.roles} (expected some of {', '.join(ROLES)})",
        )
        if name == "augment_paraphrase":
            _need(
                o.endpoint.startswith(("http://", "https://")),
                f"{key}.endpoint: {o.endpoint!r} (expected an http:// or https:// URL)",
            )
    elif name == "split":
        _need(
            o.validation + o.test < 1,
            f"{key}: validation + test = {o.validation + o.test:g} (expected less than 1)",
        )
