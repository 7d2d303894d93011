"""Scoring a batch of completions with every reward function, and the error a broken one
raises: its name, the sample it failed on and the last line of its traceback."""

from __future__ import annotations

import inspect
import math
import numbers
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tunesmith.errors import TunesmithError
from tunesmith.training.rl.rewards.load import RewardFunction

RESERVED = ("prompts", "completions", "completion_ids")
CLIP = 200


class RewardError(TunesmithError):
    """A reward function raised, returned the wrong number of values or a value that is
    neither a finite number nor None. Stops the run."""


@dataclass
class RewardScores:
    """Per completion: `total` = sum of weight x reward over the functions that scored it
    (NaN where none did); `per_function` = each function's raw values (None: not
    applicable)."""

    total: torch.Tensor
    per_function: dict[str, list[float | None]] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Means and stds as TRL logs them: rewards/<name>/mean, rewards/<name>/std (over
        the completions a function scored), reward and reward_std (over scored totals)."""
        out: dict[str, float] = {}
        for name, values in self.per_function.items():
            mean, std = _mean_std([v for v in values if v is not None])
            out[f"rewards/{name}/mean"], out[f"rewards/{name}/std"] = mean, std
        finite = [float(v) for v in self.total if not math.isnan(float(v))]
        out["reward"], out["reward_std"] = _mean_std(finite)
        return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= CLIP else text[: CLIP - 5] + "...'" + f" ({len(text)} chars)"


def _label(f: RewardFunction) -> str:
    return f"reward function '{f.name}'" + ("" if f.source == "builtin" else f" ({f.source})")


def _sample(prompts: Sequence, completions: Sequence[str], i: int) -> str:
    return f"\n  prompt: {_clip(prompts[i])}\n  completion: {_clip(completions[i])}"


def _frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"


def _accepts(f: RewardFunction) -> tuple[bool, set[str]]:
    try:
        params = inspect.signature(f.fn).parameters
    except (TypeError, ValueError):
        return True, set()
    any_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return any_kw, set(params)


def _call(f: RewardFunction, prompts: Sequence, completions: Sequence[str],
          fields: Mapping[str, list]) -> Any:  # fmt: skip
    any_kw, names = _accepts(f)
    kwargs = {k: v for k, v in fields.items() if any_kw or k in names}
    if "completions" in names:  # TRL-style keyword signature (completions, **kwargs)
        if any_kw or "prompts" in names:
            kwargs["prompts"] = prompts
        return f.fn(completions=completions, **kwargs)
    return f.fn(prompts, completions, **kwargs)


def _rows(fields: Mapping[str, list], idx: list[int]) -> dict[str, list]:
    return {k: [v[i] for i in idx] for k, v in fields.items()}


def _failing_sample(f: RewardFunction, prompts: Sequence, completions: Sequence[str],
                    fields: Mapping[str, list]) -> int | None:  # fmt: skip
    """The first sample the function fails on when called on it alone."""
    for i in range(len(completions)):
        try:
            _call(f, [prompts[i]], [completions[i]], _rows(fields, [i]))
        except Exception:  # noqa: BLE001 - looking for the sample that raises
            return i
    return None


def _raised(f: RewardFunction, exc: Exception, prompts: Sequence, completions: Sequence[str],
            fields: Mapping[str, list]) -> RewardError:  # fmt: skip
    n = len(completions)
    i = _failing_sample(f, prompts, completions, fields)
    where = (
        f"on sample {i + 1} of {n}" if i is not None
        else f"on a batch of {n} samples (each alone passes; the first shown)"
    )  # fmt: skip
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return RewardError(
        f"{_label(f)} raised {where}: {last}{_frame(exc)}" + _sample(prompts, completions, i or 0)
    )


def _check(f: RewardFunction, values: Any, prompts: Sequence,
           completions: Sequence[str]) -> list[float | None]:  # fmt: skip
    n = len(completions)
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    try:
        got = len(values)
    except TypeError:
        raise RewardError(
            f"{_label(f)} returned {type(values).__name__} for {n} completions "
            f"(expected a list of {n} floats or None)" + _sample(prompts, completions, 0)
        ) from None
    if got != n:
        raise RewardError(
            f"{_label(f)} returned {got} values for {n} completions "
            f"(expected a list of {n} floats or None)" + _sample(prompts, completions, 0)
        )
    out: list[float | None] = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
            continue
        if not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise RewardError(
                f"{_label(f)} returned {_clip(v)} ({type(v).__name__}) for sample {i + 1} of "
                f"{n} (expected a finite float or None)" + _sample(prompts, completions, i)
            )
        out.append(float(v))
    return out


def _columns(records: Sequence[Mapping[str, Any]], n: int) -> dict[str, list]:
    if len(records) != n:
        raise ValueError(f"{len(records)} records for {n} completions (expected one each)")
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    clash = [k for k in keys if k in RESERVED]
    if clash:
        raise RewardError(
            f"record field '{clash[0]}' clashes with a reward argument "
            f"({', '.join(RESERVED)}): rename it in the data"
        )
    return {k: [r.get(k) for r in records] for k in keys}


def _check_needs(f: RewardFunction, fields: Mapping[str, list]) -> None:
    for need in f.needs:
        values = fields.get(need)
        if values is None:
            have = ", ".join(k for k in fields if k != "completion_ids") or "none"
            raise RewardError(
                f"{_label(f)} needs '{need}', which the batch lacks (record fields: {have})"
            )


def score(
    functions: Sequence[RewardFunction],
    prompts: Sequence,
    completions: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    completion_ids: Sequence[Sequence[int]] | None = None,
) -> RewardScores:
    """Every function on the whole batch: prompts[i] (as written in the data: a string or
    messages), completions[i] (decoded text), records[i] (the record's other fields, passed
    as keyword lists) and completion_ids[i] (its tokens, for length-aware rewards)."""
    n = len(completions)
    if len(prompts) != n:
        raise ValueError(f"{len(prompts)} prompts for {n} completions (expected one each)")
    fields = _columns(records, n)
    if completion_ids is not None:
        fields["completion_ids"] = [list(ids) for ids in completion_ids]
    per_function: dict[str, list[float | None]] = {}
    total = torch.zeros(n, dtype=torch.float32)
    scored = torch.zeros(n, dtype=torch.bool)
    for f in functions:
        _check_needs(f, fields)
        try:
            raw = _call(f, prompts, completions, fields)
        except Exception as exc:  # noqa: BLE001 - user code: any error stops with a clear message
            raise _raised(f, exc, prompts, completions, fields) from exc
        values = _check(f, raw, prompts, completions)
        per_function[f.name] = values
        for i, v in enumerate(values):
            if v is not None:
                total[i] += f.weight * v
                scored[i] = True
    total[~scored] = torch.nan
    return RewardScores(total, per_function)
