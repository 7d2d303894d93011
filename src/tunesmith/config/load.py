"""Load a Config: defaults <- YAML file <- dotted `key=value` overrides, each value checked.

    cfg = load_config("configs/tiny/lora.yaml", ["train.lr=2e-4", "data.train=[a.jsonl]"])

Every problem is a `ConfigError` naming the key, the file (and line) or the override, what
was expected and what was given; unknown keys suggest the nearest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.config.fields import coerce, fields_of, join, show, walk
from tunesmith.config.legacy import migrate_mapping, migrate_pairs
from tunesmith.config.schema import EVAL_METRICS, Config
from tunesmith.config.yaml_io import dump_yaml, parse_value, read_yaml
from tunesmith.errors import ConfigError

Overrides = list[str] | tuple[str, ...] | Mapping[str, Any] | None


@dataclass
class Source:
    """Where values come from, for error messages: a file (with lines), an override, a dict."""

    name: str = ""
    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    root: type = Config  # the schema the keys belong to (for "did you mean" across sections)

    def where(self, key: str) -> str:
        if not self.name:
            return ""
        line = self.lines.get(key)
        return f" (in {self.name}, line {line})" if line else f" (in {self.name})"


def did_you_mean(name: str, valid: Iterable[str], prefix: str = "") -> str:
    """`; did you mean 'PREFIX.X'?` for the valid name nearest to `name`, else ''. Every
    command's misspelled key (and `data prepare`'s misspelled step) is hinted here."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean '{join(prefix, close[0])}'?" if close else ""


def suggest(name: str, cls: type, prefix: str, root: type = Config) -> str:
    """The hint after an unknown key `name` at `prefix` of schema `cls` (`root` the whole)."""
    elsewhere = [k for k, _ in walk(root) if k.rsplit(".", 1)[-1] == name]
    if elsewhere:  # right key, wrong section
        return f"; did you mean '{elsewhere[0]}'?"
    valid = list(fields_of(cls))
    hint = did_you_mean(name, valid, prefix)
    if hint:
        return hint
    under = f" under '{prefix}'" if prefix else ""
    return f"; valid keys{under}: {', '.join(valid)}"


def unknown_key(key: str, src: Source, hint: str = "") -> ConfigError:
    """The one error of every command for a key its schema does not have."""
    return ConfigError(f"unknown config key '{key}'{src.where(key)}{hint}")


def set_value(obj: Any, parts: list[str], value: Any, src: Source, prefix: str = "") -> None:
    """Set the dotted path `parts` below `obj` (a config dataclass at `prefix`) to `value`."""
    name, rest = parts[0], parts[1:]
    key = join(prefix, name)
    infos = fields_of(type(obj))
    if name not in infos:
        raise unknown_key(key, src, suggest(name, type(obj), prefix, src.root))
    info = infos[name]
    if info.is_section:
        if rest:
            set_value(getattr(obj, name), rest, value, src, key)
        else:
            merge_values(getattr(obj, name), value, src, key)
        return
    if rest:
        full = join(key, ".".join(rest))
        raise unknown_key(full, src, f"; '{key}' is a setting, not a section")
    setattr(obj, name, coerce(value, info, key, src.where(key), src.raw.get(key)))


def merge_values(obj: Any, data: Any, src: Source, prefix: str = "") -> None:
    """Merge a mapping (YAML section) onto the config dataclass `obj` at `prefix`."""
    if data is None:  # `train:` with nothing under it
        return
    legacy = not prefix and src.root is Config
    if legacy:
        data = migrate_mapping(data)
    if not isinstance(data, Mapping):
        if not prefix:
            sections = ", ".join(fields_of(type(obj)))
            raise ConfigError(
                f"{src.name or 'config'}: expected a mapping of sections ({sections}), "
                f"got {show(data)}"
            )
        raise ConfigError(
            f"{prefix}: expected a mapping of settings, got {show(data)}{src.where(prefix)}"
        )
    items = [(str(k), v) for k, v in data.items()]
    for k, v in migrate_pairs(items) if legacy else items:
        set_value(obj, k.split("."), v, src, prefix)


def split_override(text: str) -> tuple[str, str]:
    """`'train.lr=2e-4'` -> `('train.lr', '2e-4')`; anything without `key=` is a ConfigError."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"malformed override {text!r}: expected key=value, e.g. train.lr=2e-4")
    return key, value.strip()


def apply_overrides(cfg: Config | Mapping[str, Any], overrides: Overrides) -> Any:
    """A copy of `cfg` with overrides applied: `['train.lr=2e-4']` or `{'train.lr': 2e-4}`.

    Given a Config, returns a Config; given a (nested) dict, returns the full nested dict.
    """
    if isinstance(cfg, Mapping):
        return config_to_dict(apply_overrides(config_from_dict(cfg, check=False), overrides))
    cfg = copy.deepcopy(cfg)
    if not overrides:
        return cfg
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, Mapping):
        for key, value in migrate_pairs([(str(k), v) for k, v in overrides.items()]):
            set_value(cfg, key.split("."), value, Source(f"override {key!r}"))
        return cfg
    parsed = [split_override(text) for text in overrides]
    migrated = migrate_pairs(parsed)
    texts = list(overrides) if migrated == parsed else [f"{k}={v}" for k, v in migrated]
    for (key, raw), text in zip(migrated, texts, strict=True):
        set_value(
            cfg, key.split("."), parse_value(raw), Source(f"override {text!r}", raw={key: raw})
        )
    return cfg


def check_config(cfg: Config) -> None:
    """Cross-field checks: settings that would otherwise silently do nothing."""
    if cfg.distill.teacher and cfg.recipe != "distill":
        raise ConfigError(
            f"distill.teacher is set but recipe is {cfg.recipe}; set recipe=distill to "
            "distil, or remove the teacher"
        )
    has_val = bool(cfg.data.validation) or cfg.data.val_split > 0
    if cfg.data.validation and cfg.data.val_split > 0:
        raise ConfigError(
            f"data.val_split={cfg.data.val_split} has no effect when data.validation is set; "
            "set one of them"
        )
    unknown = [m for m in cfg.eval.metrics if m not in EVAL_METRICS]
    if unknown:
        raise ConfigError(f"eval.metrics: unknown {unknown}; valid: {', '.join(EVAL_METRICS)}")
    watched = cfg.train.early_stopping_metric
    computed = [f"eval_{m}" for m in cfg.eval.metrics] + (
        ["eval_ppl"] if "loss" in cfg.eval.metrics else []
    )
    watching = cfg.train.early_stopping_patience or cfg.train.save_best
    if watching and watched not in computed:
        raise ConfigError(
            f"train.early_stopping_metric: '{watched}' is not computed; "
            f"available with eval.metrics={cfg.eval.metrics}: {', '.join(computed)}"
        )
    lower_is_better = watched in ("eval_loss", "eval_ppl")
    if watching and lower_is_better != (cfg.train.early_stopping_mode == "min"):
        better = "lower" if lower_is_better else "higher"
        raise ConfigError(
            f"train.early_stopping_mode: '{cfg.train.early_stopping_mode}' but {watched} is "
            f"better when {better}; set train.early_stopping_mode="
            + ("min" if lower_is_better else "max")
        )
    for key, value in (
        ("train.eval_every", cfg.train.eval_every),
        ("train.early_stopping_patience", cfg.train.early_stopping_patience),
        ("train.save_best", cfg.train.save_best),
    ):
        if value > 0 and not has_val:
            raise ConfigError(
                f"{key}={value} needs validation data: set data.validation or data.val_split"
            )


def config_from_dict(data: Mapping[str, Any] | None, *, check: bool = True) -> Config:
    """A Config from nested sections (`{'train': {'lr': 1e-4}}`) or dotted keys, over defaults."""
    cfg = Config()
    merge_values(cfg, data, Source())
    if check:
        check_config(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Nested plain dict (sections -> keys -> values); `config_from_dict` inverts it."""
    return dataclasses.asdict(cfg)


def config_to_yaml(cfg: Config) -> str:
    return dump_yaml(config_to_dict(cfg))


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write `cfg` as YAML; `load_config(path)` gives back an equal Config."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_to_yaml(cfg), encoding="utf-8")
    return path


def load_config(
    path: str | Path | None, overrides: Overrides = None, *, check: bool = True
) -> Config:
    """Defaults, then the YAML file at `path` (if any), then `overrides`; validated once, after
    merging (a file that only an override makes valid is accepted)."""
    cfg = Config()
    if path is not None:
        doc = read_yaml(path)
        merge_values(cfg, doc.data, Source(str(path), doc.lines, doc.raw))
    cfg = apply_overrides(cfg, overrides)
    if check:
        check_config(cfg)
    return cfg
