"""Global and augmenting steps on small inputs: balance, split, decontam, dedupe, augment."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tunesmith.data.curate.augment import Synonyms, Templates
from tunesmith.data.curate.balance import Balance
from tunesmith.data.curate.base import Drop, Step
from tunesmith.data.curate.decontam import Decontam
from tunesmith.data.curate.dedupe import ExactDedupe, NearDedupe
from tunesmith.data.curate.items import Item
from tunesmith.data.curate.options import (
    BalanceOptions,
    DecontamOptions,
    ExactDedupeOptions,
    NearDedupeOptions,
    SplitOptions,
    SynonymOptions,
    TemplateOptions,
)
from tunesmith.data.curate.split import Split
from tunesmith.errors import ConfigError
from tunesmith.records import Conversation, Message


def item(i: int, user: str = "q", answer: str = "a", **extras) -> Item:
    conv = Conversation([Message("user", user), Message("assistant", answer)], source=f"f:{i}")
    return Item(conv, i, extras)


class Listed:
    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def pick(self, indices):
        return ((i, self.items[i]) for i in sorted(set(indices)))


def run_global(step: Step, items: list[Item]) -> list[Item | Drop]:
    """observe all, finish, apply all: flattened results (lists expanded)."""
    for i, it in enumerate(items):
        step.observe(it, i)
    step.finish(Listed(items))
    out: list[Item | Drop] = []
    for i, it in enumerate(items):
        result = step.apply(it, i)
        out.extend(result if isinstance(result, list) else [result])
    return out


def labels(items: list[str]) -> list[Item]:
    return [item(i, label=label) for i, label in enumerate(items)]


def test_balance_undersample_keeps_the_smallest_class_size_per_class():
    data = labels(["a"] * 6 + ["b"] * 3 + ["c"] * 4)
    out = run_global(Balance(BalanceOptions(field="label", mode="undersample"), Path(".")), data)
    kept = Counter(r.extras["label"] for r in out if isinstance(r, Item))
    assert kept == {"a": 3, "b": 3, "c": 3}
    assert Counter(r.reason for r in out if isinstance(r, Drop)) == {"undersampled": 4}


def test_balance_oversample_adds_tagged_copies_up_to_the_largest_class():
    data = labels(["a"] * 5 + ["b"] * 2)
    step = Balance(BalanceOptions(field="label", mode="oversample", seed=1), Path("."))
    out = run_global(step, data)
    assert Counter(r.extras["label"] for r in out) == {"a": 5, "b": 5}
    assert Counter(r.origin for r in out) == {"input": 7, "oversample": 3}
    copies = Counter(r.source for r in out if r.extras["label"] == "b")
    assert sorted(copies.values()) == [2, 3]  # 5 = 2 + 2 + 1: each repeated evenly, one extra
    assert step.summary()["classes_after"] == {"a": 5, "b": 5}


def test_balance_cap_is_seeded_and_missing_labels_are_dropped():
    data = labels(["a"] * 5 + ["b"] * 2) + [item(7)]
    first = run_global(Balance(BalanceOptions(field="label", cap=2, seed=4), Path(".")), data)
    again = run_global(Balance(BalanceOptions(field="label", cap=2, seed=4), Path(".")), data)
    assert [getattr(r, "source", None) for r in first] == [
        getattr(r, "source", None) for r in again
    ]
    assert Counter(r.reason for r in first if isinstance(r, Drop)) == {"over_cap": 3, "no_label": 1}
    assert Drop("no_label", "record has no field 'label'") in first


def test_split_counts_are_exact_stratified_and_keep_groups_together():
    data = labels(["x"] * 40 + ["y"] * 20)
    data += [Item(d.conv, d.root, d.extras, "synonym") for d in data[:10]]  # copies of 0..9
    opts = SplitOptions(validation=0.1, test=0.2, stratify="label", seed=3)
    step = Split(opts, Path("."))
    out = run_global(step, data)
    # groups: x 40 -> 28 / 4 / 8, y 20 -> 14 / 2 / 4; the 10 copies follow their originals
    assert step.summary()["strata"] == {
        "x": {"train": 36, "validation": 5, "test": 9},
        "y": {"train": 14, "validation": 2, "test": 4},
    }
    by_root: dict[int, set[str]] = {}
    for r in out:
        by_root.setdefault(r.root, set()).add(r.split)
    assert all(len(s) == 1 for s in by_root.values())
    groups = Counter(next(iter(s)) for s in by_root.values())
    assert groups == {"train": 42, "validation": 6, "test": 12}


def test_exact_dedupe_ignores_case_and_whitespace_runs_but_not_roles():
    step = ExactDedupe(ExactDedupeOptions(), Path("."))
    first = item(1, "Hello  there", "Yes.")
    assert step.apply(first, None) is first
    assert step.apply(item(2, "hello there ", "YES."), None) == Drop(
        "exact_duplicate", "exact duplicate of f:1"
    )
    swapped = Item(Conversation([Message("user", "Yes."), Message("assistant", "Hello there")]), 3)
    assert not isinstance(step.apply(swapped, None), Drop)
    strict = ExactDedupe(ExactDedupeOptions(lowercase=False), Path("."))
    strict.apply(first, None)
    assert not isinstance(strict.apply(item(2, "hello there", "Yes."), None), Drop)


def test_near_dedupe_keeps_the_first_and_names_it():
    base = " ".join(f"word{i}" for i in range(60))
    near = base.replace("word30", "other")  # 5 of 57 shingles differ: Jaccard 52/62
    far = " ".join(f"word{i}" for i in range(30)) + " " + " ".join(f"new{i}" for i in range(30))
    step = NearDedupe(NearDedupeOptions(processes=1), Path("."))
    out = run_global(step, [item(0, "q", base), item(1, "q", far), item(2, "q", near)])
    assert out[:2] == [item(0, "q", base), item(1, "q", far)]
    assert out[2] == Drop("near_duplicate", "near duplicate of f:0 (Jaccard 0.839)")
    assert step.summary()["bands"] == 18 and step.summary()["rows"] == 7


def test_decontam_drops_records_sharing_a_13_gram_with_an_eval_record(tmp_path):
    words = [f"w{i}" for i in range(30)]
    evals = tmp_path / "eval.jsonl"
    evals.write_text(
        json.dumps({"question": " ".join(words[:20]), "answer": "ok"})
        + "\n"
        + json.dumps({"question": "too short", "answer": "yes"})
        + "\n"
    )
    step = Decontam(DecontamOptions(eval=[str(evals)]), Path("."))
    hit = item(1, "Q", "intro " + " ".join(words[5:18]).upper() + " outro")
    miss = item(2, "Q", "intro " + " ".join(words[5:17]) + " outro")
    assert step.apply(hit, None) == Drop(
        "contaminated", f"shares 1 13-gram(s) with eval record {evals}:1"
    )
    assert step.apply(miss, None) is miss
    assert step.summary() == {"ngram": 13, "eval_records": 2, "eval_records_too_short": 1}


def test_synonyms_make_seeded_tagged_copies_of_user_turns():
    opts = SynonymOptions(fraction=1.0, word_prob=0.5, source="builtin", seed=0)
    step = Synonyms(opts, Path("."))
    out = step.apply(item(1, "Give a quick and easy answer", "Big result"), None)
    assert isinstance(out, list) and [o.origin for o in out] == ["input", "synonym"]
    assert out[1].conv.messages[0].content != "Give a quick and easy answer"
    assert out[1].conv.messages[1].content == "Big result"
    again = Synonyms(opts, Path(".")).apply(item(1, "Give a quick and easy answer", "x"), None)
    assert again[1].conv.messages[0].content == out[1].conv.messages[0].content
    assert step.apply(item(2, "zzz qqq", "x"), None).origin == "input"
    assert step.summary() == {"records_made": 1, "chosen_without_synonyms": 1}


def test_wordnet_source_without_nltk_is_a_clear_error():
    with pytest.raises(ConfigError) as err:
        Synonyms(SynonymOptions(source="wordnet"), Path("."))
    assert str(err.value) == (
        "steps.augment_synonyms.source: WordNet is not installed (expected nltk with its data: "
        "pip install nltk; python -m nltk.downloader wordnet)"
    )


def test_templates_fill_every_combination_or_a_seeded_sample(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "slots:\n  city: [Paris, Rome, Oslo]\n  thing: [museum, park]\n"
        "templates:\n"
        "  - messages:\n"
        "      - {role: user, content: 'Name a {thing} in {city}.'}\n"
        "      - {role: assistant, content: 'The {thing} of {city}.'}\n"
        "    label: travel\n"
        "  - {instruction: 'Spell {city}.', output: '{city}'}\n"
    )
    step = Templates(TemplateOptions(file=str(path), max_per_template=4, seed=1), Path("."))
    made = list(step.extra())
    assert len(made) == 4 + 3 and {m.origin for m in made} == {"template"}
    assert made[0].extras == {"label": "travel"} and made[4].extras == {}
    assert made[4].conv.messages[0].content == "Spell Paris."
    assert made[0].source == f"{path}:templates[0]#1"
    assert len({m.root for m in made}) == 7 and all(m.root < 0 for m in made)
    assert [m.conv.messages[1].content for m in made[4:]] == ["Paris", "Rome", "Oslo"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "slots: {a: [x]}\ntemplates:\n  - {instruction: '{b}', output: o}\n",
            "{path}: templates[0]: unknown slot 'b' (slots: a)",
        ),
        (
            "slots: {a: [x]}\ntemplates:\n  - {instruction: '{a}', output: ' '}\n",
            "{path}: templates[0]: field 'output': assistant answer is empty (expected non-empty text)",
        ),
        (
            "slots: {a: []}\ntemplates: []\n",
            "{path}: 'slots' must map each slot name to a non-empty list",
        ),
        ("templates: 3\n", "{path}: expected a mapping with a 'templates' list (and 'slots')"),
    ],
)
def test_template_errors_name_the_file_and_template(tmp_path, body, message):
    path = tmp_path / "t.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        list(Templates(TemplateOptions(file=str(path)), Path(".")).extra())
    assert str(err.value) == message.format(path=path)
