"""The one place the UI depends on the config system's internals: list a schema's fields.

Everything else in the UI reads `FieldSpec`s and calls the config package's public
functions (`load_config`, `config_to_dict`, `config_to_yaml`). When the config system
exposes its own field listing, only `list_fields` changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldSpec:
    key: str  # dotted: train.lr
    type: str  # str, int, float, bool, list[str], str | null
    default: Any
    help: str
    choices: list[Any] | None = None
    bounds: list[str] = field(default_factory=list)  # ["> 0", "<= 0.5"]
    section: str = ""  # dotted section: method.lora
    section_help: str = ""


def list_fields(schema: type | None = None) -> list[FieldSpec]:
    """Every leaf field of `schema` (default: the training Config), depth first."""
    from tunesmith.config.fields import constraints, type_name, walk
    from tunesmith.config.schema import Config

    section_help: dict[str, str] = {}
    out: list[FieldSpec] = []
    for key, info in walk(schema or Config):
        if info.is_section:
            section_help[key] = info.help
            continue
        section = key.rpartition(".")[0]
        choices = info.meta.get("choices")
        out.append(
            FieldSpec(
                key=key,
                type=type_name(info.hint),
                default=info.default(),
                help=info.help,
                choices=list(choices) if choices else None,
                bounds=[c for c in constraints(info.meta) if not c.startswith("one of")],
                section=section,
                section_help=section_help.get(section, ""),
            )
        )
    return out
