"""Metric functions over plain Python values, each a thin layer over its reference.

    exact_match / token_f1   the official SQuAD v1.1 script (normalisation, max over references)
    corpus_bleu              sacrebleu.corpus_bleu with its defaults, divided by 100
    rouge                    rouge-score RougeScorer F-measure (max over references), stemmed
    accuracy / macro_f1      sklearn.metrics accuracy_score / f1_score(average="macro")
    roc_auc                  sklearn.metrics.roc_auc_score (one-vs-rest macro for > 2 classes)
    perplexity               exp(mean token loss)

Reasoning-aware: `split_reasoning` cuts a DeepSeek-R1 `<think>…</think>` block off an output,
so metrics see only the final answer (callers decide; see evaluation/score.py).
Every score is in [0, 1] except perplexity and loss.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ROUGE_TYPES = {"rouge1": "rouge1", "rouge2": "rouge2", "rouge_l": "rougeL"}
ROUGE_USE_STEMMER = True

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def split_reasoning(text: str) -> tuple[str, bool]:
    """(final answer, closed): the text after the last `</think>`, stripped.

    An output that opened `<think>` and never closed it has no answer (""), closed=False.
    An output with no reasoning block is all answer, closed=True.
    """
    if THINK_CLOSE in text:
        return text.rsplit(THINK_CLOSE, 1)[-1].strip(), True
    if THINK_OPEN in text:
        return "", False
    return text.strip(), True


def final_answer(text: str) -> str:
    return split_reasoning(text)[0]


def has_reasoning(text: str) -> bool:
    return THINK_OPEN in text or THINK_CLOSE in text


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, strip punctuation and articles, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _as_list(references: str | Sequence[str]) -> list[str]:
    return [references] if isinstance(references, str) else list(references)


def exact_match(prediction: str, references: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in _as_list(references)))


def _f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: str | Sequence[str]) -> float:
    """SQuAD token-overlap F1, max over references."""
    return max(_f1(prediction, r) for r in _as_list(references))


def corpus_bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """sacrebleu corpus BLEU (13a tokenizer, exp smoothing) / 100.

    `references[i]` lists sample i's references; samples may have different counts.
    """
    import sacrebleu

    width = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    return sacrebleu.corpus_bleu(list(predictions), streams).score / 100


@lru_cache(maxsize=1)
def _rouge_scorer():  # noqa: ANN202 - rouge_score has no type hints
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES.values()), use_stemmer=ROUGE_USE_STEMMER)


def rouge(prediction: str, references: str | Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measure of one sample, each the max over references."""
    scores = _rouge_scorer().score_multi(_as_list(references), prediction)
    return {name: scores[key].fmeasure for name, key in ROUGE_TYPES.items()}


def accuracy(labels: Sequence[str], predicted: Sequence[str]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(labels, predicted))


def macro_f1(labels: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes in labels and predictions."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predicted, average="macro", zero_division=0.0))


def roc_auc(labels: Sequence[str], scores: Sequence[Sequence[float]], classes: list[str]) -> float:
    """ROC-AUC from per-class scores (`scores[i][k]` belongs to `classes[k]`, sorted).

    Two classes: the score of the second class (sklearn's positive label). More: one-vs-rest
    macro average; each sample's scores must then be probabilities that sum to 1.
    """
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(labels, [s[1] for s in scores]))
    return float(roc_auc_score(labels, scores, multi_class="ovr", labels=classes))


def perplexity(mean_loss: float) -> float:
    """exp(mean token loss), capped at exp(50) so a diverged model still gives a number."""
    return math.exp(min(mean_loss, 50.0))
