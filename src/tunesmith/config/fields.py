"""Field introspection and value checking for the config dataclasses.

`coerce()` turns a parsed YAML value into the field's type or raises `ConfigError` with a
message that names the dotted key, what was expected and what was given.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from tunesmith.errors import ConfigError

NoneType = type(None)


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One config field: its resolved type hint and the dataclass field (default, metadata)."""

    name: str
    hint: Any
    field: dataclasses.Field

    @property
    def is_section(self) -> bool:
        return dataclasses.is_dataclass(self.hint)

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.field.metadata

    @property
    def help(self) -> str:
        return str(self.meta.get("help", "")).strip()

    def default(self) -> Any:
        f = self.field
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory()
        return None if f.default is dataclasses.MISSING else f.default


@functools.cache
def fields_of(cls: type) -> dict[str, FieldInfo]:
    """The fields of a config dataclass by name, with string annotations resolved."""
    hints = typing.get_type_hints(cls)
    return {f.name: FieldInfo(f.name, hints[f.name], f) for f in dataclasses.fields(cls)}


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def walk(cls: type, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every field below `cls` as (dotted key, info), depth first, sections before their keys."""
    for name, info in fields_of(cls).items():
        key = join(prefix, name)
        yield key, info
        if info.is_section:
            yield from walk(info.hint, key)


def show(value: Any) -> str:
    """A value as shown in error messages: `'abc' (str)`, `null`."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def num(x: float) -> str:
    """A bound or number as a person writes it: 0 not 0.0, 1e-08 stays as is."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _optional_inner(hint: Any) -> tuple[Any, bool]:
    """(inner type, is optional) for `X | None`; (hint, False) otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not NoneType]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool"}


def expected(hint: Any) -> str:
    """How a type is described in an error: 'a number', 'a list of strings', ..."""
    inner, optional = _optional_inner(hint)
    if inner in _EXPECTED:
        text = _EXPECTED[inner]
    elif typing.get_origin(inner) is list:
        item = typing.get_args(inner)[0]
        text = f"a list of {_TYPE_NAMES.get(item, getattr(item, '__name__', 'item'))}s"
        text = text.replace("strs", "strings").replace("ints", "integers")
    elif dataclasses.is_dataclass(inner):
        text = "a mapping of settings"
    else:
        text = str(inner)
    return f"{text} or null" if optional else text


def type_name(hint: Any) -> str:
    """Short type for --help: str, int, float, bool, list[str], str | null."""
    inner, optional = _optional_inner(hint)
    if inner in _TYPE_NAMES:
        text = _TYPE_NAMES[inner]
    elif typing.get_origin(inner) is list:
        item = typing.get_args(inner)[0]
        text = f"list[{_TYPE_NAMES.get(item, getattr(item, '__name__', 'item'))}]"
    else:
        text = getattr(inner, "__name__", str(inner))
    return f"{text} | null" if optional else text


def coerce(value: Any, info: FieldInfo, key: str, where: str = "", raw: str | None = None) -> Any:
    """Check `value` against a leaf field and return it in the field's type.

    `raw` is the text the value was parsed from (YAML scalar or override): a string field
    given `no`, `123` or `2024-01-01` keeps that text instead of YAML's bool/int/date.
    """
    out = _coerce_type(value, info.hint, key, where, raw)
    items = out if isinstance(out, list) else [out]
    for i, item in enumerate(items):
        item_key = f"{key}[{i}]" if isinstance(out, list) else key
        _check_meta(item, info.meta, item_key, where)
    return out


def _fail(key: str, hint: Any, value: Any, where: str) -> ConfigError:
    return ConfigError(f"{key}: expected {expected(hint)}, got {show(value)}{where}")


def _coerce_type(value: Any, hint: Any, key: str, where: str, raw: str | None) -> Any:
    inner, optional = _optional_inner(hint)
    if value is None:
        if optional:
            return None
        raise _fail(key, hint, value, where)
    if inner is str:
        if isinstance(value, str):
            return value
        if raw is not None:
            return raw
        raise _fail(key, hint, value, where)
    if inner is bool:
        if isinstance(value, bool):
            return value
        raise _fail(key, hint, value, where)
    if inner is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _fail(key, hint, value, where)
    if inner is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _fail(key, hint, value, where)
    if typing.get_origin(inner) is list:
        (item_hint,) = typing.get_args(inner)
        if isinstance(value, str) and item_hint is str:
            value = [value]
        if not isinstance(value, list | tuple):
            raise _fail(key, hint, value, where)
        return [_coerce_type(v, item_hint, f"{key}[{i}]", where, None) for i, v in enumerate(value)]
    raise TypeError(f"{key}: unsupported config field type {hint!r}")


def _check_meta(value: Any, meta: Mapping[str, Any], key: str, where: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise ConfigError(f"{key}: {value!r} is not one of {allowed}{where}")
    for name, op, ok in (
        ("gt", ">", lambda v, b: v > b),
        ("min", ">=", lambda v, b: v >= b),
        ("max", "<=", lambda v, b: v <= b),
        ("lt", "<", lambda v, b: v < b),
    ):
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"{key}: must be {op} {num(bound)}, got {num(value)}{where}")


def constraints(meta: Mapping[str, Any]) -> list[str]:
    """The metadata checks of a field as --help text: 'one of: a|b', '> 0', '>= 0, <= 0.5'."""
    out = []
    if meta.get("choices"):
        out.append("one of: " + "|".join(str(c) for c in meta["choices"]))
    for name, op in (("gt", ">"), ("min", ">="), ("max", "<="), ("lt", "<")):
        if meta.get(name) is not None:
            out.append(f"{op} {num(meta[name])}")
    return out
