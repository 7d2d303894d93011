"""Comparing a completion's final answer with a gold answer (the `accuracy` reward)."""

from __future__ import annotations

import logging
import math
import re
import threading
from functools import cache

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\.\d+")
_BOXED = "\\boxed{"
MATH_VERIFY = ("auto", "on", "off")


def answer_text(completion: str) -> str | None:
    """The text after the last `</think>`; the whole text without a think block; None for
    an unclosed block (the model never answered)."""
    if THINK_CLOSE in completion:
        return completion.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in completion:
        return None
    return completion


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (braces balanced), or None."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth, i = 1, start + len(_BOXED)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def normalise(text: str) -> str:
    """Lower case, single spaces, no surrounding `$`, no final period."""
    text = " ".join(text.strip().lower().split())
    text = text.strip("$").strip()
    return text[:-1].rstrip() if text.endswith(".") else text


def parse_number(text: str) -> float | None:
    """A number written as 42, -3.5, 1,234, 3/4 or 50% (-> 50); None when it is not one."""
    text = normalise(text).rstrip("%").strip()
    m = _NUMBER.fullmatch(text)
    return _number(m.group()) if m else None


def _number(token: str) -> float | None:
    token = token.replace(",", "").replace(" ", "")
    if "/" in token:
        num, den = token.split("/")
        return float(num) / float(den) if float(den) else None
    return float(token)


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return _number(found[-1]) if found else None


def gold_text(gold: object) -> str:
    """A gold value as text; GSM8K's "reasoning #### 42" counts as "42"."""
    text = str(gold)
    return text.rsplit("####", 1)[1].strip() if "####" in text else text


@cache
def _math_verify():  # noqa: ANN202 - the optional module or None
    try:
        import math_verify
    except ImportError:
        return None
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).setLevel(logging.ERROR)  # its "timeout is disabled" notes
    return math_verify


def math_verify_available() -> bool:
    return _math_verify() is not None


def _verify(pred: str, gold: str) -> bool:
    mv = _math_verify()
    if mv is None:
        return False
    # its timeouts (against sympy hanging) use signal.alarm: main thread only
    main = threading.current_thread() is threading.main_thread()
    parse_s, verify_s = (10, 5) if main else (None, None)
    gold_parsed = mv.parse(gold, parsing_timeout=parse_s)
    if not gold_parsed:
        return False
    pred_parsed = mv.parse(pred, parsing_timeout=parse_s)
    return bool(mv.verify(gold_parsed, pred_parsed, timeout_seconds=verify_s))


def _match_one(pred: str, gold: str, tolerance: float, use_verify: bool) -> bool:
    boxed = last_boxed(pred)
    candidates = [normalise(pred)] + ([normalise(boxed)] if boxed is not None else [])
    if normalise(gold) in candidates:
        return True
    want = parse_number(gold)
    if want is not None:
        got = last_number(boxed if boxed is not None else pred)
        if got is not None and math.isclose(got, want, rel_tol=tolerance, abs_tol=tolerance):
            return True
    return use_verify and _verify(pred, gold)


def matches(pred: str, gold: object, tolerance: float = 1e-6, math_verify: str = "auto") -> bool:
    """True when `pred` (an answer text) matches `gold` or, for a list, one of its items."""
    use_verify = math_verify == "on" or (math_verify == "auto" and math_verify_available())
    golds = gold if isinstance(gold, list) else [gold]
    return any(_match_one(pred, gold_text(g), tolerance, use_verify) for g in golds)
