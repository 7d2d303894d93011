"""Reward specs -> `RewardFunction`s: built-ins by name, custom functions by reference.

A spec is a string or a mapping:

    "think_format"                                      a built-in, weight 1
    {function: accuracy, weight: 2.0, tolerance: 0.01}  a built-in with a weight and options
    "rewards/my_rewards.py:brevity"                     a function in a Python file
    {function: "my_pkg.rewards:score", weight: 0.5}     a function in an importable module
    "length(cache_len=32)"                              options inline (literal values),
    "accuracy(tolerance=0.01, weight=2)"                for a config's list of strings

Keys of a mapping: `function` (required), `weight` (default 1.0), `name` (the metric name,
default: the built-in's or the function's name); every other key is an option, passed to
the function as a keyword argument. A custom function is called as
`fn(prompts, completions, **record_fields)` and returns one float or None per completion
(None: not applicable, left out of the means). Relative file paths resolve against
`base_dir` (the config file's folder), then the working directory.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tunesmith.errors import ConfigError
from tunesmith.training.rl.rewards.answers import MATH_VERIFY, math_verify_available
from tunesmith.training.rl.rewards.builtins import BUILTINS, INPUTS, NEEDS

RewardSpec = str | Mapping[str, Any]


@dataclass(frozen=True)
class RewardFunction:
    """A callable reward with its metric name, weight and origin."""

    name: str
    fn: Callable[..., Sequence[float | None]]
    weight: float = 1.0
    source: str = "builtin"
    """"builtin" or the reference it was loaded from ("file.py:fn", "module:fn")."""
    needs: tuple[str, ...] = field(default=())
    """Record fields (or `completion_ids`) the function cannot do without."""


def _where(index: int) -> str:
    return f"rewards[{index}]"


def _split_ref(ref: str, where: str) -> tuple[str, str]:
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr.isidentifier():
        raise ConfigError(
            f"{where}: unknown reward '{ref}' (expected a built-in: "
            f"{', '.join(BUILTINS)}; or path/to/file.py:function; or module:function)"
        )
    return target, attr


def _last_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _load_file(path: Path, where: str, ref: str) -> object:
    name = f"tunesmith_reward_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: cannot load '{path}' as Python (in '{ref}')")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any error in user code becomes a clear message
        sys.modules.pop(name, None)
        raise ConfigError(f"{where}: importing '{path}' failed: {_last_line(exc)}") from exc
    return module


def _resolve_file(target: str, base_dir: Path | None) -> Path | None:
    path = Path(target)
    if path.is_absolute():
        return path if path.is_file() else None
    for root in [base_dir, Path.cwd()] if base_dir is not None else [Path.cwd()]:
        if (root / path).is_file():
            return root / path
    return None


def _custom(ref: str, where: str, base_dir: Path | None) -> Callable:
    target, attr = _split_ref(ref, where)
    if target.endswith(".py"):
        path = _resolve_file(target, base_dir)
        if path is None:
            looked = f"{base_dir} or {Path.cwd()}" if base_dir is not None else str(Path.cwd())
            raise ConfigError(f"{where}: reward file '{target}' not found (looked in {looked})")
        module = _load_file(path, where, ref)
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:  # noqa: BLE001 - any import error becomes a clear message
            raise ConfigError(
                f"{where}: importing module '{target}' failed: {_last_line(exc)}"
            ) from exc
    fn = getattr(module, attr, None)
    if fn is None:
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise ConfigError(
            f"{where}: '{target}' has no function '{attr}' (its functions: "
            f"{', '.join(found) or 'none'})"
        )
    if not callable(fn):
        raise ConfigError(f"{where}: '{ref}' is a {type(fn).__name__}, not a function")
    return fn


def _check_options(fn: Callable, options: dict[str, Any], where: str, label: str) -> None:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a callable without a signature: nothing to check
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n not in INPUTS]
    if fn in BUILTINS.values():
        takes_any = False  # built-ins swallow record fields, not misspelt options
        params = {n: params[n] for n in named}
    unknown = [k for k in options if k not in params and not takes_any]
    if unknown:
        raise ConfigError(
            f"{where}: reward '{label}' has no option '{unknown[0]}' "
            f"(expected: weight, name, {', '.join(named) or 'no options'})"
        )
    required = [
        n for n in named if params[n].default is inspect.Parameter.empty and n not in options
    ]
    if required:
        raise ConfigError(f"{where}: reward '{label}' needs option '{required[0]}'")


def _required_fields(fn: Callable, options: Mapping[str, Any]) -> tuple[str, ...]:
    """The record fields a custom function names without a default (beyond prompts and
    completions, or its first two positional parameters)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return ()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = [p for p in params if p.kind in kinds]
    if not any(p.name == "completions" for p in named):
        named = named[2:]  # (prompts, completions) by position
    skip = {"prompts", "completions", *options}
    return tuple(
        p.name for p in named if p.default is inspect.Parameter.empty and p.name not in skip
    )


def _inline(spec: str, where: str) -> dict[str, Any]:
    """ "name(key=value, ...)" -> {"function": name, key: value, ...}; a plain name as is."""
    spec = spec.strip()
    if not spec.endswith(")") or "(" not in spec:
        return {"function": spec}
    name, args = spec[:-1].split("(", 1)
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError("positional value")
        options = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        if None in options:
            raise ValueError("**")
    except (SyntaxError, ValueError) as exc:
        raise ConfigError(
            f"{where}: cannot read the options of '{spec}' (expected "
            "name(key=value, ...) with literal values, e.g. length(cache_len=32))"
        ) from exc
    return {"function": name.strip(), **options}


def _one(
    spec: RewardSpec, index: int, base_dir: Path | None, defaults: Mapping[str, Any]
) -> RewardFunction:
    where = _where(index)
    if isinstance(spec, str):
        spec = _inline(spec, where)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: got {type(spec).__name__} (expected a reward name, file.py:function, "
            "module:function, or a mapping with `function`, `weight` and options)"
        )
    options = dict(spec)
    ref = options.pop("function", None)
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError(f"{where}: missing `function` (a built-in name or file.py:function)")
    weight = options.pop("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ConfigError(f"{where}.weight: got {weight!r} (expected a number)")
    if ref in BUILTINS:
        fn, source, needs = BUILTINS[ref], "builtin", NEEDS.get(ref, ())
        for key, value in defaults.get(ref, {}).items():
            options.setdefault(key, value)
    else:
        fn, source = _custom(ref, where, base_dir), ref
    name = options.pop("name", None) or (ref if ref in BUILTINS else getattr(fn, "__name__", ref))
    _check_options(fn, options, where, ref)
    if source != "builtin":
        needs = _required_fields(fn, options)
    if ref == "accuracy":
        _check_math_verify(options.get("math_verify", "auto"), where)
    return RewardFunction(
        str(name), partial(fn, **options) if options else fn, float(weight), source, needs
    )


def _check_math_verify(value: object, where: str) -> None:
    if value not in MATH_VERIFY:
        raise ConfigError(f"{where}.math_verify: got {value!r} (expected auto, on or off)")
    if value == "on" and not math_verify_available():
        raise ConfigError(
            f"{where}.math_verify: on, but the math-verify package is not installed "
            "(pip install math-verify, or set auto / off)"
        )


def load_reward_functions(
    specs: Sequence[RewardSpec],
    *,
    base_dir: str | Path | None = None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[RewardFunction]:
    """The reward functions of `specs` (see the module docstring), checked up front: unknown
    names, missing files or functions, unknown options and duplicate names are ConfigErrors.
    `defaults` gives built-ins options the recipe knows (e.g. {"length": {"max_len": 256}})."""
    if not specs:
        raise ConfigError(
            "rewards: no reward functions given (expected e.g. [think_format, accuracy])"
        )
    base = Path(base_dir) if base_dir is not None else None
    out = [_one(spec, i, base, defaults or {}) for i, spec in enumerate(specs)]
    seen: dict[str, int] = {}
    for i, f in enumerate(out):
        if f.name in seen:
            raise ConfigError(
                f"{_where(i)}: a second reward named '{f.name}' (first: {_where(seen[f.name])}); "
                "give one a `name`"
            )
        seen[f.name] = i
    return out
