"""Answer metrics. Reasoning-aware: a <think>…</think> block is not part of the answer."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def final_answer(text: str) -> str:
    """The text after the last </think>, or all of it when there is no reasoning block."""
    return text.rsplit("</think>", 1)[-1].strip()


def closed_reasoning(text: str) -> bool:
    """True when an opened <think> block was closed (or none was opened)."""
    return "<think>" not in text or "</think>" in text.split("<think>", 1)[1]


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, strip punctuation and articles, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: str | list[str]) -> float:
    refs = [references] if isinstance(references, str) else references
    pred = normalize_answer(final_answer(prediction))
    return float(any(pred == normalize_answer(final_answer(r)) for r in refs))
