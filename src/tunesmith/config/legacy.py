"""Release-1 spellings that still load: distillation was a method, now it is a recipe.

    method: {name: distill, distill: {teacher: T, student: lora, alpha: 0.5}}
becomes
    recipe: distill
    method: {name: lora}
    distill: {teacher: T, alpha: 0.5}

Overrides migrate the same way (`method.name=distill` -> `recipe=distill` and
`method.name=<method.distill.student, default full>`; `method.distill.X` -> `distill.X`).
Each migration logs one warning with the new spelling. Run directories written by release 1
hold a `method.distill` section in their config.yaml even for LoRA runs: that migrates
silently (nothing of it was in use).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("tunesmith.config")

_MOVED = ("teacher", "alpha", "temperature")
_OLD_DEFAULT_STUDENT = "full"


def _warn(old: str, new: str) -> None:
    log.warning("%s is the release-1 spelling; it now reads %s", old, new)


def migrate_mapping(data: Any) -> Any:
    """A YAML document with release-1 distillation keys rewritten (a new dict; others as is)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("method"), Mapping):
        return data
    method = dict(data["method"])
    old = method.pop("distill", None)
    if old is None and method.get("name") != "distill":
        return data
    old = dict(old) if isinstance(old, Mapping) else {}
    out = dict(data)
    out["method"] = method
    student = old.pop("student", None)
    if method.get("name") == "distill":
        method["name"] = student or _OLD_DEFAULT_STUDENT
        out["recipe"] = "distill"
        _warn(
            "method.name: distill (with method.distill)",
            f"recipe: distill, method.name: {method['name']}, distill: {{teacher, alpha, "
            "temperature}",
        )
    moved = {k: old[k] for k in _MOVED if k in old}
    if moved:
        section = dict(out.get("distill") or {})
        for k, v in moved.items():
            section.setdefault(k, v)
        out["distill"] = section
    return out


def migrate_pairs(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Dotted (key, value) overrides with release-1 distillation keys rewritten.

    Values are whatever the caller carries (raw text or parsed values); `method.name`'s value
    is compared as text.
    """
    keys = [k for k, _ in pairs]
    if not any(k == "method.name" or k.startswith("method.distill.") for k in keys):
        return pairs
    student = next((v for k, v in pairs if k == "method.distill.student"), None)
    out: list[tuple[str, Any]] = []
    for key, value in pairs:
        if key == "method.name" and str(value).strip() == "distill":
            name = student if student is not None else _OLD_DEFAULT_STUDENT
            out += [("recipe", "distill"), ("method.name", name)]
            _warn("method.name=distill", f"recipe=distill method.name={name}")
        elif key == "method.distill.student":
            if "method.name" not in keys:  # alone: the student's method
                out.append(("method.name", value))
                _warn(key, f"method.name={value}")
        elif key.startswith("method.distill."):
            new = "distill." + key.removeprefix("method.distill.")
            out.append((new, value))
            _warn(key, new)
        else:
            out.append((key, value))
    return out
