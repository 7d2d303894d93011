"""README.md model cards in the Hugging Face form for every output directory.

    card = ModelCard(title=..., base_model=..., relation="adapter", library_name="peft",
                     tags=["tunesmith", "lora"], sections=[("Method", "..."), ...])
    write_card(out_dir, card)

A card is YAML front matter (base_model, base_model_relation, library_name, pipeline_tag,
tags, license when the base model's own card names one) and Markdown sections. An export
made from an output of ours (merged from an adapter run, quantized or converted from a merged
model) carries the source card's provenance sections (method, data, training, results) under
"Provenance", so a GGUF file still says what it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CARD_NAME = "README.md"
PROVENANCE = ("Method", "Data", "Training", "Results")
"""Sections a derived card copies from its source's card."""


@dataclass
class ModelCard:
    title: str
    summary: str
    base_model: str | None
    relation: str | None  # adapter | finetune | quantized (Hugging Face base_model_relation)
    library_name: str  # peft | transformers | gguf
    tags: list[str]
    sections: list[tuple[str, str]] = field(default_factory=list)
    license: str | None = None

    def front_matter(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.base_model:
            meta["base_model"] = self.base_model
            if self.relation:
                meta["base_model_relation"] = self.relation
        meta["library_name"] = self.library_name
        meta["pipeline_tag"] = "text-generation"
        if self.license:
            meta["license"] = self.license
        meta["tags"] = list(dict.fromkeys(self.tags))
        return meta

    def render(self) -> str:
        head = yaml.safe_dump(self.front_matter(), sort_keys=False, allow_unicode=True)
        parts = [f"---\n{head}---\n", f"# {self.title}\n", f"{self.summary}\n"]
        parts += [f"## {name}\n\n{body.strip()}\n" for name, body in self.sections]
        return "\n".join(parts)


def write_card(out_dir: Path, card: ModelCard) -> Path:
    path = Path(out_dir) / CARD_NAME
    path.write_text(card.render(), encoding="utf-8")
    return path


def read_card(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(front matter, {section title: body}) of a card file or a directory's README.md;
    ({}, {}) when there is none or it has no front matter."""
    path = Path(path)
    if path.is_dir():
        path = path / CARD_NAME
    if not path.is_file():
        return {}, {}
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}, {}
    head, _, body = text[4:].partition("\n---\n")
    try:
        meta = yaml.safe_load(head) or {}
    except yaml.YAMLError:
        return {}, {}
    sections: dict[str, str] = {}
    current: str | None = None
    for line in body.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = ""
        elif line.startswith("### ") and current is not None or current is not None:
            sections[current] += line + "\n"
    return (meta if isinstance(meta, dict) else {}), {k: v.strip() for k, v in sections.items()}


def provenance(source: Path) -> tuple[dict[str, Any], str | None]:
    """The source card's front matter and its provenance sections as one Markdown block
    (sub-headed), or None when the source has no card of ours."""
    meta, sections = read_card(source)
    if "tunesmith" not in (meta.get("tags") or []):
        return meta, None
    # a derived card's own Provenance block is carried as is (merged -> quantized -> gguf)
    if "Provenance" in sections:
        return meta, sections["Provenance"]
    kept = [(k, sections[k]) for k in PROVENANCE if sections.get(k)]
    if not kept:
        return meta, None
    return meta, "\n\n".join(f"### {k}\n\n{v}" for k, v in kept)


def base_license(model_dir: Path | None) -> str | None:
    """The license a model directory's own card names (front matter), if any."""
    if model_dir is None:
        return None
    meta, _ = read_card(model_dir)
    value = meta.get("license")
    return str(value) if value else None


def table(rows: list[tuple[str, Any]]) -> str:
    """A two-column Markdown table of (setting, value); None values are left out."""
    lines = ["| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows if v is not None]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value) or "-"
    return f"`{value}`" if isinstance(value, str) else str(value)
