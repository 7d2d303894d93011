"""The Evaluate / Export / Data-prepare forms as `tunesmith` argv lists (never a shell).

Each builder takes the form's fields, confines every path, and returns the argv the CLI
parses, so the CLI's own checks and messages apply to what the UI launches.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import ConfigError
from tunesmith.ui.settings import Roots

JOBS_DIR = ".ui/jobs"
_SAFE = re.compile(r"^[A-Za-z0-9._,+-]*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class JobPlan:
    kind: str
    args: list[str]  # after `tunesmith`
    job_dir: Path
    output: Path | None


def _word(value: Any, name: str) -> str:
    text = str(value).strip()
    if not _SAFE.match(text) or text.startswith("-"):
        raise ConfigError(f"{name}: {text!r} may only hold letters, digits and . _ , + -")
    return text


def _name(value: Any, default: str) -> str:
    """An output directory name: one path component, never `.` or `..`."""
    text = str(value or default).strip()
    if not NAME.match(text):
        raise ConfigError(f"name {text!r}: use letters, digits, '.', '_' or '-' (1-100 characters)")
    return text


def _int(value: Any, name: str, minimum: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if n < minimum:
        raise ConfigError(f"{name}: must be >= {minimum}, got {n}")
    return n


def _model(roots: Roots, text: str) -> str:
    from tunesmith.models.registry import PRESETS

    text = str(text or "").strip()
    return text if text in PRESETS else roots.display(roots.resolve(text))


def _job(roots: Roots, kind: str, args: list[str], output: Path | None) -> JobPlan:
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 10**6:06d}"
    return JobPlan(kind, args, roots.runs / JOBS_DIR / f"{kind}-{stamp}", output)


def eval_plan(roots: Roots, form: dict[str, Any]) -> JobPlan:
    """`tunesmith eval run --model M --data F --metrics a,b --max-samples N --output DIR`."""
    model = _model(roots, form.get("model", ""))
    data = roots.display(roots.resolve(form.get("data", "")))
    metrics = _word(form.get("metrics") or "loss", "metrics")
    name = _name(form.get("name"), "eval")
    output = roots.runs / "eval" / name
    args = ["eval", "run", "--model", model, "--data", data, "--metrics", metrics]
    args += ["--max-samples", str(_int(form.get("max_samples", 0), "max_samples", 0))]
    args += ["--max-new-tokens", str(_int(form.get("max_new_tokens", 32), "max_new_tokens", 1))]
    args += ["--output", roots.display(output)]
    return _job(roots, "eval", args, output)


def export_plan(roots: Roots, form: dict[str, Any]) -> JobPlan:
    """merge / quantize / gguf / report, with the same flags as `tunesmith export`."""
    action = form.get("action")
    sources = [roots.display(roots.resolve(d)) for d in str(form.get("source", "")).split()]
    if not sources:
        raise ConfigError("source: name a run, adapter or model directory")
    source = sources[0]
    name = _name(form.get("name"), str(action or "export"))
    output = roots.runs / "export" / name
    out = roots.display(output)
    if action == "merge":
        args = ["export", "merge", "--adapter", source, "--output", out]
    elif action == "quantize":
        scheme = _word(form.get("scheme") or "int8-weight-only", "scheme")
        args = ["export", "quantize", "--model", source, "--scheme", scheme, "--output", out]
    elif action == "gguf":
        outtype = _word(form.get("outtype") or "f16", "outtype")
        args = ["export", "gguf", "--model", source, "--output", out, "--outtype", outtype]
    elif action == "report":
        args = ["export", "report", *sources, "--output", out]
        if form.get("eval_data"):
            args += ["--eval-data", roots.display(roots.resolve(form["eval_data"]))]
    else:
        raise ConfigError(f"action: {action!r} is not one of merge, quantize, gguf, report")
    if action != "report" and form.get("overwrite"):
        args.append("--overwrite")
    return _job(roots, f"export-{action}", args, output)


def prepare_plan(roots: Roots, form: dict[str, Any]) -> JobPlan:
    """`tunesmith data prepare --input FILE --output runs/prepared/NAME`."""
    data = roots.display(roots.resolve(form.get("data", "")))
    name = _name(form.get("name"), Path(data).stem)
    output = roots.runs / "prepared" / name
    args = ["data", "prepare", "--input", data, "--output", roots.display(output)]
    return _job(roots, "prepare", args, output)
