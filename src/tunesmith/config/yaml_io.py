"""YAML reading and writing for configs.

PyYAML follows YAML 1.1, where `2e-4` is a string (a float needs a dot: `2.0e-4`). Configs
are full of such learning rates, so the loader and dumper here also read/write exponent
floats without a dot. Reading also records each key's line and each scalar's source text,
so errors can name the line and string fields can keep what the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunesmith.errors import ConfigError

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` as a float."""


class Dumper(yaml.SafeDumper):
    """SafeDumper that quotes strings `Loader` would read as floats (e.g. '1e-4')."""


for _cls in (Loader, Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


@dataclass
class YamlDoc:
    """A parsed YAML document plus, per dotted key, its line and its scalar source text."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)


def parse_value(text: str) -> Any:
    """Parse one override value as YAML (`2e-4`, `true`, `[a, b]`); unparsable text stays a str."""
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError:
        return text


def _yaml_error(name: str, err: yaml.YAMLError) -> ConfigError:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    detail = f"{context}, {problem}" if context else problem
    started = getattr(err, "context_mark", None)
    if mark and context and started and started.line != mark.line:  # e.g. an unclosed '['
        detail += f" (the {context.split()[-1]} starts at line {started.line + 1})"
    where = f"{name}, line {mark.line + 1}, column {mark.column + 1}" if mark else name
    return ConfigError(f"invalid YAML in {where}: {detail}")


def _index(node: yaml.Node, prefix: str, doc: YamlDoc, name: str) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    seen: set[str] = set()
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        key = f"{prefix}.{key_node.value}" if prefix else key_node.value
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"duplicate config key '{key}' (in {name}, line {line})")
        seen.add(key)
        doc.lines[key] = line
        if isinstance(value_node, yaml.ScalarNode):
            doc.raw[key] = value_node.value
        _index(value_node, key, doc, name)


def read_yaml(path: str | Path) -> YamlDoc:
    """Read a YAML config file; every failure is a ConfigError naming the file (and line)."""
    name = str(path)
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {name}")
    if p.is_dir():
        raise ConfigError(f"config path is a directory, expected a YAML file: {name}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {name}: {e}") from e
    try:
        node = yaml.compose(text, Loader=Loader)
        data = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(name, e) from e
    doc = YamlDoc(data)
    if node is not None:
        _index(node, "", doc, name)
    return doc


def dump_yaml(data: Any) -> str:
    """YAML text that `read_yaml` reads back to the same data."""
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)
