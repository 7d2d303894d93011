"""Built-in reward functions, each `(prompts, completions, **fields) -> list[float | None]`.

    think_format  1 when the completion is exactly one non-empty <think>...</think> block
                  (any number of lines) followed by a non-empty answer, else 0
    accuracy      1 when the answer (the text after </think>) matches the record's `answer`
                  (normalised text, numbers within a tolerance, math-verify if installed);
                  None for a record without an answer
    length        DAPO's soft overlong punishment on the completion's token count (0 .. -1)
    repetition    -(share of repeated n-grams) x |max_penalty| (Yeo et al. 2025, C.2)

Options are keyword-only parameters (set from the reward spec, e.g. `{function: length,
max_len: 256, cache_len: 64}`); record fields arrive as lists, one value per completion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

from tunesmith.training.rl.advantages import overlong_penalty
from tunesmith.training.rl.rewards.answers import answer_text, matches

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# One block at the start, its content over any number of lines (DOTALL: without it a
# multi-line block never matches and the reward is silently always 0), then the answer.
_THINK_RE = re.compile(r"\s*<think>(?P<think>.*?)</think>(?P<answer>.*)", re.DOTALL)


def think_format(
    prompts: Sequence, completions: Sequence[str], *, opened: bool = False, **_: object
) -> list[float | None]:
    """1.0 for `<think>reasoning</think>answer` with exactly one block, both parts non-empty
    (whitespace aside) and the reasoning on any number of lines; else 0.0.

    opened: the prompt already ends with `<think>` (as R1-Distill's newer chat template
    does), so the completion holds `reasoning</think>answer`."""
    out: list[float | None] = []
    for text in completions:
        if opened:
            text = THINK_OPEN + text
        m = _THINK_RE.fullmatch(text)
        ok = (
            m is not None
            and text.count(THINK_OPEN) == 1
            and text.count(THINK_CLOSE) == 1
            and bool(m["think"].strip())
            and bool(m["answer"].strip())
        )
        out.append(1.0 if ok else 0.0)
    return out


def accuracy(
    prompts: Sequence,
    completions: Sequence[str],
    *,
    answer: Sequence[object] | None = None,
    tolerance: float = 1e-6,
    math_verify: str = "auto",
    opened: bool = False,
    **_: object,
) -> list[float | None]:
    """1.0 when the completion's answer matches the record's `answer`, 0.0 when not, None
    for a record without one (left out of the means, as TRL does).

    The answer is the text after the last `</think>` (the whole completion when it has no
    think block; an unclosed block has no answer). It matches when, after normalising
    (case, spaces, surrounding $ and a final period), it equals the gold text or the last
    `\\boxed{}` in it does; or the gold is a number and the last number of the answer is
    within `tolerance` (relative and absolute) of it; or, with math_verify on ("auto": when
    the package is installed), math-verify judges them equal. A gold answer may be a list
    of accepted answers; a GSM8K-style "reasoning #### 42" counts as 42."""
    golds = answer if answer is not None else [None] * len(completions)
    out: list[float | None] = []
    for text, gold in zip(completions, golds, strict=True):
        if gold is None:
            out.append(None)
            continue
        pred = answer_text(THINK_OPEN + text if opened else text)
        out.append(1.0 if pred is not None and matches(pred, gold, tolerance, math_verify) else 0.0)
    return out


def _token_counts(completion_ids: Sequence[Sequence[int]] | None, name: str) -> list[int]:
    if completion_ids is None:
        raise ValueError(f"the '{name}' reward counts completion tokens: pass completion_ids")
    return [len(ids) for ids in completion_ids]


def length(
    prompts: Sequence,
    completions: Sequence[str],
    *,
    completion_ids: Sequence[Sequence[int]] | None = None,
    max_len: int,
    cache_len: int = 0,
    **_: object,
) -> list[float | None]:
    """DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13) on token counts: 0 up to
    max_len - cache_len tokens, then falling linearly to -1 at max_len, -1 beyond."""
    lengths = torch.tensor(_token_counts(completion_ids, "length"), dtype=torch.float32)
    return [float(v) for v in overlong_penalty(lengths, max_len, cache_len)]


def _ngram_penalty(units: Sequence, n: int, max_penalty: float) -> float:
    if len(units) < n:
        return 0.0
    grams = list(zip(*(units[i:] for i in range(n)), strict=False))
    share = 1 - len(set(grams)) / len(grams)
    return share * max_penalty if share else 0.0


def repetition(
    prompts: Sequence,
    completions: Sequence[str],
    *,
    completion_ids: Sequence[Sequence[int]] | None = None,
    ngram_size: int = 3,
    max_penalty: float = -1.0,
    unit: str = "tokens",
    **_: object,
) -> list[float | None]:
    """N-gram repetition penalty (Yeo et al. 2025, "Demystifying Long Chain-of-Thought
    Reasoning", arXiv:2502.03373, Appendix C.2): (1 - unique n-grams / n-grams) x
    max_penalty, 0 for a completion shorter than n. unit: `tokens` (completion token ids,
    as TRL's get_repetition_penalty_reward) or `words` (lower-cased whitespace words)."""
    if max_penalty > 0 or not math.isfinite(max_penalty):
        raise ValueError(f"max_penalty={max_penalty} must be a finite value <= 0")
    if ngram_size < 1:
        raise ValueError(f"ngram_size={ngram_size} must be >= 1")
    if unit == "tokens":
        _token_counts(completion_ids, "repetition")
        seqs: Sequence[Sequence] = [list(ids) for ids in completion_ids or []]
    elif unit == "words":
        seqs = [text.lower().split() for text in completions]
    else:
        raise ValueError(f"unit='{unit}' (expected tokens or words)")
    return [_ngram_penalty(s, ngram_size, max_penalty) for s in seqs]


BUILTINS = {
    "think_format": think_format,
    "accuracy": accuracy,
    "length": length,
    "repetition": repetition,
}
# the record fields (or inputs) a built-in needs; checked before a run starts
# inputs a built-in reads from the batch, never options
INPUTS = ("answer", "completion_ids")
NEEDS = {"accuracy": ("answer",), "length": ("completion_ids",)}
