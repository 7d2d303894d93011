"""Augmentation by template filling and by synonym replacement; new records carry `origin`.

Template file (YAML):

    slots:
      city: [Paris, Rome, Tokyo]
      thing: [museum, park]
    templates:
      - messages:
          - {role: user, content: "Name a {thing} in {city}."}
          - {role: assistant, content: "The main {thing} of {city}."}
        label: travel

Each template is a record in any supported format whose strings may use `{slot}`; it is filled
with every combination of the slots it uses (at most `max_per_template`, a seeded draw when
there are more), checked like an input record, and added after the input records with origin
`template` and source `FILE:templates[i]`.

Synonym replacement (EDA, Wei & Zou 2019): a seeded `fraction` of records gets a copy in which
max(1, round(word_prob x candidates)) of the words that have synonyms, in the `roles` turns, are
replaced by a random synonym (case kept), origin `synonym`. The table is the one shipped in
tunesmith/assets/synonyms.json, or WordNet (nltk with its wordnet data) when `source` says so.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import string
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from tunesmith.config.yaml_io import read_yaml
from tunesmith.data.curate.base import Result, Step
from tunesmith.data.curate.items import Item, clone, extras_of
from tunesmith.data.curate.options import SynonymOptions, TemplateOptions
from tunesmith.data.formats import convert
from tunesmith.data.validate import Invalid
from tunesmith.errors import ConfigError

WORD = re.compile(r"[A-Za-z]+")


def _slots_used(value: Any) -> set[str]:
    if isinstance(value, str):
        return {name for _, name, _, _ in string.Formatter().parse(value) if name}
    if isinstance(value, dict):
        return set().union(*map(_slots_used, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_slots_used, value)) if value else set()
    return set()


def _fill(value: Any, slots: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(slots)
    if isinstance(value, dict):
        return {k: _fill(v, slots) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, slots) for v in value]
    return value


class Templates(Step):
    name = "augment_templates"

    def __init__(self, options: TemplateOptions, work: Path) -> None:
        self.o = options
        doc = read_yaml(options.file).data
        where = options.file
        if not isinstance(doc, dict) or not isinstance(doc.get("templates"), list):
            raise ConfigError(f"{where}: expected a mapping with a 'templates' list (and 'slots')")
        slots = doc.get("slots") or {}
        if not isinstance(slots, dict) or not all(
            isinstance(v, list) and v for v in slots.values()
        ):
            raise ConfigError(f"{where}: 'slots' must map each slot name to a non-empty list")
        self.slots = {str(k): [str(x) for x in v] for k, v in slots.items()}
        self.templates = doc["templates"]
        self.made = 0

    def _combinations(self, names: list[str], rng: random.Random) -> list[dict[str, str]]:
        values = [self.slots[n] for n in names]
        total = 1
        for v in values:
            total *= len(v)
        if total <= self.o.max_per_template:
            picks: Iterable[tuple[str, ...]] = itertools.product(*values)
        else:
            picks = []
            for number in sorted(rng.sample(range(total), self.o.max_per_template)):
                combo = []
                for v in reversed(values):
                    number, digit = divmod(number, len(v))
                    combo.append(v[digit])
                picks.append(tuple(reversed(combo)))
        return [dict(zip(names, p, strict=True)) for p in picks]

    def extra(self) -> Iterable[Item]:
        rng = random.Random(self.o.seed)
        for t, template in enumerate(self.templates):
            where = f"{self.o.file}: templates[{t}]"
            names = sorted(_slots_used(template))
            unknown = [n for n in names if n not in self.slots]
            if unknown:
                raise ConfigError(
                    f"{where}: unknown slot '{unknown[0]}' (slots: {', '.join(self.slots)})"
                )
            for k, combo in enumerate(self._combinations(names, rng)):
                record = _fill(template, combo)
                try:
                    _, conv = convert(record)
                except Invalid as e:
                    field = f"field '{e.field}': " if e.field else ""
                    raise ConfigError(
                        f"{where}: {field}{e.message} (expected {e.expected})"
                    ) from None
                conv.source = f"{self.o.file}:templates[{t}]#{k + 1}"
                self.made += 1
                yield Item(conv, -self.made, extras_of(record), "template")

    def summary(self) -> dict[str, Any]:
        return {"templates": len(self.templates), "records_made": self.made}


def synonym_lookup(source: str) -> Callable[[str], list[str]]:
    """word -> synonyms, from WordNet (source wordnet, or auto when installed) or the table."""
    if source in ("wordnet", "auto"):
        try:
            from nltk.corpus import wordnet

            wordnet.synsets("good")
        except (ImportError, LookupError):
            if source == "wordnet":
                raise ConfigError(
                    "steps.augment_synonyms.source: WordNet is not installed (expected nltk "
                    "with its data: pip install nltk; python -m nltk.downloader wordnet)"
                ) from None
        else:

            def lookup(word: str) -> list[str]:
                names = {n.name() for s in wordnet.synsets(word) for n in s.lemmas()}
                return sorted(n for n in names if n.isalpha() and n.lower() != word)

            return lookup
    path = resources.files("tunesmith") / "assets" / "synonyms.json"
    table: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))["synonyms"]
    return lambda word: table.get(word, [])


class Synonyms(Step):
    name = "augment_synonyms"

    def __init__(self, options: SynonymOptions, work: Path) -> None:
        self.o = options
        self.lookup = synonym_lookup(options.source)
        self.made = self.unchanged = 0

    def rewrite(self, text: str, rng: random.Random) -> str:
        matches = [m for m in WORD.finditer(text) if self.lookup(m.group().lower())]
        if not matches:
            return text
        k = max(1, round(self.o.word_prob * len(matches)))
        chosen = sorted(rng.sample(matches, k), key=lambda m: m.start())
        out, last = [], 0
        for m in chosen:
            new = rng.choice(self.lookup(m.group().lower()))
            out += [text[last : m.start()], new.capitalize() if m.group()[0].isupper() else new]
            last = m.end()
        return "".join(out) + text[last:]

    def apply(self, item: Item, index: int | None) -> Result:
        rng = random.Random(f"{self.o.seed}:{item.root}:{item.origin}")
        if rng.random() >= self.o.fraction:
            return item
        copy = clone(item, "synonym")
        changed = False
        if copy.conv.is_text and "text" in self.o.roles:
            copy.conv.text = self.rewrite(copy.conv.text or "", rng)
            changed = copy.conv.text != item.conv.text
        for new, old in zip(copy.conv.messages, item.conv.messages, strict=True):
            if new.role in self.o.roles:
                new.content = self.rewrite(new.content, rng)
                changed = changed or new.content != old.content
        if not changed:
            self.unchanged += 1
            return item
        self.made += 1
        return [item, copy]

    def summary(self) -> dict[str, Any]:
        return {"records_made": self.made, "chosen_without_synonyms": self.unchanged}
