"""`format_help()`: every config key with its type, default, allowed values and help line."""

from __future__ import annotations

from typing import Any

from tunesmith.config.fields import constraints, num, type_name, walk
from tunesmith.config.schema import Config

_INTRO = """\
config keys: set them in the YAML file (one mapping per section) or override any of them
on the command line as key=value, e.g. train.lr=1e-4 method.lora.r=32 data.train=[a.jsonl,b.jsonl]"""


def _default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return num(value)
    if isinstance(value, list):
        return "[" + ", ".join(_default(v) for v in value) + "]"
    if isinstance(value, str) and (not value or value != value.strip()):
        return repr(value)
    return str(value)


def format_help(cls: type = Config) -> str:
    """All keys of `cls` grouped by section: `section.key  (type, default X, ...)  help`."""
    leaves = [(key, info) for key, info in walk(cls) if not info.is_section]
    width = max(len(key) for key, _ in leaves)
    lines = [_INTRO, ""]
    for key, info in walk(cls):
        if info.is_section:
            if lines[-1]:
                lines.append("")
            lines.append(f"{key}: {info.help}" if info.help else f"{key}:")
            continue
        details = [type_name(info.hint), f"default {_default(info.default())}"]
        details += constraints(info.meta)
        lines.append(f"  {key:<{width}}  ({', '.join(details)})  {info.help}".rstrip())
    return "\n".join(lines) + "\n"


def _allowed(meta: dict) -> str:
    if meta.get("choices"):
        return ", ".join(str(c) for c in meta["choices"])
    return "; ".join(constraints(meta)) or "—"


def format_reference_markdown(cls: type = Config) -> str:
    """The `## Reference` tables of docs/config.md (one per section), from the schema."""
    out: list[str] = []
    header = ["| Field | Type | Default | Allowed | Help |", "|---|---|---|---|---|"]
    for key, info in walk(cls):
        if info.is_section:
            out += ["", f"### `{key}` — {info.help}", "", *header]
            continue
        if "." not in key and not out:  # top-level settings come first
            out += ["", "### top level", "", *header]
        hint = type_name(info.hint).replace("|", "\\|")
        out.append(
            f"| `{key}` | {hint} | `{_default(info.default())}` | "
            f"{_allowed(info.meta)} | {info.help} |"
        )
    return "\n".join(out).lstrip("\n") + "\n"
