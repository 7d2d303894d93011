"""Load a `data prepare` config: defaults <- YAML file <- dotted overrides, every value checked.

    cfg = load_prepare_config("configs/data/prepare.yaml", ["steps.near_dedupe.threshold=0.85"])

The YAML has three sections: `input`, `output` and `steps`, an ordered list whose entries are a
step name or `{name: {settings}}`. Overrides address a step's settings by its name
(`steps.quality.max_chars=5000`) or replace the whole list (`steps=[exact_dedupe,split]`).
Errors are `ConfigError`s worded as the training config's: the key, the file and line or the
override, what was expected; unknown keys and steps suggest the nearest valid one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from tunesmith.config.fields import show
from tunesmith.config.load import (
    Source,
    did_you_mean,
    merge_values,
    set_value,
    split_override,
    suggest,
    unknown_key,
)
from tunesmith.config.yaml_io import Loader, parse_value, read_yaml
from tunesmith.data.curate.checks import check_prepare_config
from tunesmith.data.curate.options import STEPS, PrepareConfig, StepSpec
from tunesmith.errors import ConfigError

SECTIONS = ("input", "output", "steps")


def _set(obj: Any, name: str, value: Any, src: Source, prefix: str) -> None:
    set_value(obj, [name], value, replace(src, root=type(obj)), prefix)


def _merge(obj: Any, data: Any, src: Source, prefix: str) -> None:
    merge_values(obj, data, replace(src, root=type(obj)), prefix)


def _unknown_section(key: str, src: Source, head: str | None = None) -> ConfigError:
    return unknown_key(key, src, suggest(head or key, PrepareConfig, "", PrepareConfig))


def _unknown_step(name: str, where: str) -> ConfigError:
    if name == "validate":
        hint = "; reading always validates and normalises records (settings under 'input')"
    else:
        hint = did_you_mean(name, STEPS)
    return ConfigError(f"unknown step '{name}'{where}{hint} (steps: {', '.join(STEPS)})")


def parse_steps(value: Any, src: Source, lines: list[int] | None = None) -> list[StepSpec]:
    """StepSpecs from a YAML list of names or single-key mappings {name: settings}."""
    if not isinstance(value, list):
        raise ConfigError(f"steps: expected a list of steps, got {show(value)}{src.where('steps')}")
    specs: list[StepSpec] = []
    for i, entry in enumerate(value):
        line = lines[i] if lines and i < len(lines) else None
        where = f" (in {src.name}, line {line})" if line else src.where("steps")
        if isinstance(entry, str):
            name, settings = entry, None
        elif isinstance(entry, Mapping) and len(entry) == 1:
            ((name, settings),) = entry.items()
            name = str(name)
        else:
            raise ConfigError(
                f"steps[{i}]: expected a step name or {{name: {{settings}}}}, "
                f"got {show(entry)}{where}"
            )
        if name not in STEPS:
            raise _unknown_step(name, where)
        if any(s.name == name for s in specs):
            raise ConfigError(f"steps: step '{name}' is listed twice{where}; list each step once")
        options = STEPS[name]()
        _merge(options, settings, src, f"steps.{name}")
        specs.append(StepSpec(name, options, line))
    return specs


def _index_steps(text: str, src: Source) -> list[int]:
    """Lines of the `steps` entries, and of their settings into `src.lines` / `src.raw`."""
    root = yaml.compose(text, Loader=Loader)
    steps = None
    if isinstance(root, yaml.MappingNode):
        steps = next((v for k, v in root.value if getattr(k, "value", None) == "steps"), None)
    if not isinstance(steps, yaml.SequenceNode):
        return []
    lines = []
    for item in steps.value:
        lines.append(item.start_mark.line + 1)
        if not (isinstance(item, yaml.MappingNode) and len(item.value) == 1):
            continue
        name_node, settings = item.value[0]
        if not isinstance(settings, yaml.MappingNode):
            continue
        for key_node, value_node in settings.value:
            key = f"steps.{name_node.value}.{key_node.value}"
            src.lines[key] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode):
                src.raw[key] = value_node.value
    return lines


def _apply_file(cfg: PrepareConfig, path: str | Path) -> None:
    doc = read_yaml(path)
    src = Source(str(path), dict(doc.lines), dict(doc.raw))
    step_lines = _index_steps(Path(path).read_text(encoding="utf-8"), src)
    apply_mapping(cfg, doc.data, src, step_lines)


def apply_mapping(
    cfg: PrepareConfig, data: Any, src: Source, step_lines: list[int] | None = None
) -> None:
    """Apply a parsed document {input: ..., output: ..., steps: [...]} onto `cfg`."""
    if data is None:
        return
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{src.name or 'config'}: expected a mapping of sections ({', '.join(SECTIONS)}), "
            f"got {show(data)}"
        )
    for key, value in data.items():
        key = str(key)
        if key == "steps":
            cfg.steps = parse_steps(value if value is not None else [], src, step_lines)
        elif key in ("input", "output"):
            _merge(getattr(cfg, key), value, src, key)
        else:
            raise _unknown_section(key, src)


def _apply_override(cfg: PrepareConfig, text: str) -> None:
    key, raw = split_override(text)
    value = parse_value(raw)
    src = Source(f"override {text!r}", raw={key: raw})
    head, *rest = key.split(".")
    if head == "steps" and not rest:
        cfg.steps = parse_steps(value, src)
    elif head == "steps":
        name = rest[0]
        spec = cfg.step(name)
        if spec is None:
            if name not in STEPS:
                raise _unknown_step(name, src.where(key))
            listed = ", ".join(s.name for s in cfg.steps) or "none"
            raise ConfigError(
                f"{key}: step '{name}' is not in the pipeline{src.where(key)} (steps: {listed})"
            )
        if len(rest) == 1:
            _merge(spec.options, value, src, f"steps.{name}")
        elif len(rest) == 2:
            _set(spec.options, rest[1], value, src, f"steps.{name}")
        else:
            raise unknown_key(key, src)
    elif head in ("input", "output"):
        if len(rest) > 1:
            raise unknown_key(key, src)
        section = getattr(cfg, head)
        if rest:
            _set(section, rest[0], value, src, head)
        else:
            _merge(section, value, src, head)
    else:
        raise _unknown_section(key, src, head)


def load_prepare_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] | None = None,
    *,
    inputs: list[str] | None = None,
    output: str | None = None,
) -> PrepareConfig:
    """Defaults, then the YAML file (if any), then overrides, then --input / --output; checked."""
    cfg = PrepareConfig()
    if path is not None:
        _apply_file(cfg, path)
    for text in overrides or ():
        _apply_override(cfg, text)
    if inputs:
        cfg.input.paths = [str(p) for p in inputs]
    if output:
        cfg.output.dir = str(output)
    check_prepare_config(cfg)
    return cfg


def prepare_config_from(
    config: PrepareConfig | Mapping | str | Path | None,
    overrides: list[str] | None = None,
    **kw: Any,
) -> PrepareConfig:
    """A checked PrepareConfig from a PrepareConfig, a dict, a YAML path or None (defaults)."""
    if isinstance(config, PrepareConfig):
        check_prepare_config(config)
        return config
    if isinstance(config, Mapping):
        cfg = PrepareConfig()
        apply_mapping(cfg, config, Source())
        for text in overrides or ():
            _apply_override(cfg, text)
        check_prepare_config(cfg)
        return cfg
    return load_prepare_config(config, overrides, **kw)


def format_prepare_help() -> str:
    """Every `data prepare` setting: `section.key  (type, default X, ...)  help`."""
    from tunesmith.config.fields import constraints, type_name, walk
    from tunesmith.config.help import _default
    from tunesmith.data.curate.options import DEFAULT_STEPS, InputOptions, OutputOptions

    sections = [("input", InputOptions), ("output", OutputOptions)]
    sections += [(f"steps.{name}", cls) for name, cls in STEPS.items()]
    width = max(len(key) for s, c in sections for key, _ in walk(c, s))
    lines = [
        "settings: in the YAML file (input: / output: mappings, steps: an ordered list of",
        "step names or {name: {settings}}) or on the command line as KEY=VALUE, e.g.",
        "steps.near_dedupe.threshold=0.85 steps=[exact_dedupe,split]; default steps: "
        + ", ".join(DEFAULT_STEPS),
    ]
    for section, cls in sections:
        lines += ["", f"{section}:"]
        for key, info in walk(cls, section):
            details = [type_name(info.hint), f"default {_default(info.default())}"]
            details += constraints(info.meta)
            lines.append(f"  {key:<{width}}  ({', '.join(details)})  {info.help}".rstrip())
    return "\n".join(lines) + "\n"
