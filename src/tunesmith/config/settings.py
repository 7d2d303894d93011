"""Any command's settings: a typed schema declared once with `opt(...)`, loaded from
defaults <- YAML file <- dotted `key=value` overrides <- the flags the user typed, then
validated once. The same schema gives the command's flags and `--help`
(`add_settings_args`), its errors (the key with file and line, the override, or the flag the
user typed) and, for a web UI, its form (`describe_fields`).

    @dataclass
    class EvalRunSettings:
        model: str = opt("", "model to evaluate", required=True)
        max_new_tokens: int = opt(64, "tokens generated per answer at most", min=1)

    settings = load_settings(EvalRunSettings, "eval.yaml", ["max_new_tokens=32"])

Parsing imports (YAML) happen inside the functions: `tunesmith --help` builds every parser.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tunesmith.config.fields import FieldInfo, coerce, constraints, type_name, walk
from tunesmith.errors import ConfigError

T = TypeVar("T")


def flag_of(key: str, info: FieldInfo) -> str:
    """The flag of a setting: `meta flag`, else `--` + the key with dashes (`--no-` + it for a
    switch that is on by default)."""
    if info.meta.get("flag"):
        return info.meta["flag"]
    dashed = key.replace(".", "-").replace("_", "-")
    return f"--no-{dashed}" if info.hint is bool and info.default() is True else f"--{dashed}"


def leaves(cls: type) -> list[tuple[str, FieldInfo]]:
    return [(key, info) for key, info in walk(cls) if not info.is_section]


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """Every setting of a schema as plain data, for generated forms (web UI) and docs:
    key, flag, type, default, help, choices, min, max, gt, lt, required, repeat (a list given
    one value per flag), positional (the command's positional arguments)."""
    out = []
    for key, info in leaves(cls):
        meta = info.meta
        out.append(
            {
                "key": key,
                "flag": flag_of(key, info),
                "type": type_name(info.hint),
                "default": info.default(),
                "help": info.help,
                "choices": list(meta["choices"]) if meta.get("choices") else None,
                "min": meta.get("min"),
                "max": meta.get("max"),
                "gt": meta.get("gt"),
                "lt": meta.get("lt"),
                "required": bool(meta.get("required")),
                "repeat": bool(meta.get("repeat")),
                "positional": bool(meta.get("positional")),
            }
        )
    return out


def _flag_error(e: ConfigError, key: str, flag: str) -> ConfigError:
    text = str(e)
    return ConfigError(flag + text[len(key) :] if text.startswith(key) else text)


def load_settings(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str] | Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    check: Callable[[T], None] | None = None,
) -> T:
    """`cls()` defaults, then the YAML file, then dotted overrides, then `flags` ({key: value}
    as typed on the command line), then required settings and `check`: validated once."""
    from tunesmith.config.load import Source, merge_values, set_value, split_override
    from tunesmith.config.yaml_io import parse_value, read_yaml

    obj = cls()
    if path is not None:
        doc = read_yaml(path)
        merge_values(obj, doc.data, Source(str(path), doc.lines, doc.raw, root=cls))
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            set_value(obj, str(key).split("."), value, Source(f"override {key!r}", root=cls))
    else:
        for text in overrides or []:
            key, raw = split_override(text)
            src = Source(f"override {text!r}", raw={key: raw}, root=cls)
            set_value(obj, key.split("."), parse_value(raw), src)
    infos = dict(leaves(cls))
    for key, value in (flags or {}).items():
        flag = flag_of(key, infos[key])
        try:
            set_value(obj, key.split("."), value, Source(root=cls))
        except ConfigError as e:
            raise _flag_error(e, key, flag) from None
    for key, info in infos.items():
        if info.meta.get("required") and _get(obj, key) in (None, "", []):
            raise ConfigError(f"{flag_of(key, info)}: required (or `{key}:` in CONFIG)")
    if check is not None:
        try:
            check(obj)
        except ConfigError as e:
            key = str(e).split(":", 1)[0].split(" ", 1)[0]
            if key in flags:  # the user typed the flag: name it as typed
                raise _flag_error(e, key, flag_of(key, infos[key])) from None
            raise
    return obj


def check_settings(obj: T, check: Callable[[T], None] | None = None) -> T:
    """Validate settings built in Python (`PruneSettings(mode=...)`) as the loader validates
    a file: every value's type, choices and bounds, required settings, then `check`."""
    cls = type(obj)
    for key, info in leaves(cls):
        value = _get(obj, key)
        if info.meta.get("required") and value in (None, "", []):
            raise ConfigError(f"{key}: required")
        parent, name = _parent(obj, key)
        setattr(parent, name, coerce(value, info, key))
    if check is not None:
        check(obj)
    return obj


def _parent(obj: Any, key: str) -> tuple[Any, str]:
    *path, name = key.split(".")
    for part in path:
        obj = getattr(obj, part)
    return obj, name


def _get(obj: Any, key: str) -> Any:
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def settings_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


# -- argparse: flags, positionals and help generated from the schema


def _help(info: FieldInfo) -> str:
    details = constraints(info.meta)
    default = info.default()
    if info.meta.get("required"):
        details.insert(0, "required, here or in CONFIG")
    elif info.hint is bool and default is True:  # the flag is --no-KEY
        details.insert(0, "on by default; the flag turns it off")
    elif not (default is None or default is False or default in ("", [])):
        details.insert(0, f"default: {default}")
    text = info.help.replace("%", "%%")
    return f"{text} ({'; '.join(details)})" if details else text


def positional(cls: type) -> tuple[str, FieldInfo] | None:
    """The setting that takes the command's positional arguments (`meta positional`), if any."""
    return next(((k, i) for k, i in leaves(cls) if i.meta.get("positional")), None)


def add_settings_args(
    parser: argparse.ArgumentParser, cls: type, *, config: bool = True
) -> argparse.ArgumentParser:
    """`[CONFIG.yaml] [KEY=VALUE ...]` (when `config`) and one flag per setting, with the
    schema's help, default and bounds; values are parsed and checked by `load_settings`.
    A `positional` setting takes the other positional arguments (`export report DIR ...`)."""
    pos = positional(cls)
    if pos is not None:
        key, info = pos
        parser.add_argument(
            "config",
            metavar=f"[CONFIG.yaml] [KEY=VALUE ...] {info.meta.get('metavar', key.upper())}",
            nargs="*",
            help=f"{_help(info)}; a first argument ending .yaml is a file of these settings, "
            "KEY=VALUE arguments are dotted overrides",
        )
    elif config:
        parser.add_argument(
            "config", metavar="CONFIG", nargs="?", help="YAML file with these settings (optional)"
        )
        parser.add_argument(
            "overrides", metavar="KEY=VALUE", nargs="*", help="dotted overrides, e.g. max_len=512"
        )
    for key, info in leaves(cls):
        if info.meta.get("positional"):
            continue
        flag = flag_of(key, info)
        inner = typing.get_args(info.hint) or (info.hint,)
        kwargs: dict[str, Any] = {"dest": "setting__" + key.replace(".", "__"), "default": None}
        if info.hint is bool:
            kwargs["action"] = "store_false" if info.default() is True else "store_true"
        else:
            if info.meta.get("repeat"):
                kwargs["action"] = "append"
            elif any(typing.get_origin(a) is list for a in (info.hint, *inner)):
                kwargs["nargs"] = "+"
            kwargs["metavar"] = info.meta.get("metavar") or key.rsplit(".", 1)[-1].upper()
        parser.add_argument(flag, help=_help(info), **kwargs)
    parser.set_defaults(settings_schema=cls)
    return parser


def _flag_value(raw: Any, info: FieldInfo) -> Any:
    """A flag's text parsed as an override's value would be (YAML scalars), strings kept."""
    from tunesmith.config.yaml_io import parse_value

    if isinstance(raw, list):
        return [str(v) for v in raw] if _is_str_list(info) else [parse_value(v) for v in raw]
    if isinstance(raw, bool):
        return raw
    inner = typing.get_args(info.hint) or (info.hint,)
    if str in inner:
        return raw
    return parse_value(raw)


def _is_str_list(info: FieldInfo) -> bool:
    inner = typing.get_args(info.hint) or (info.hint,)
    return any(typing.get_args(a) == (str,) for a in (info.hint, *inner))


def settings_from_args(
    args: argparse.Namespace, *, check: Callable[[Any], None] | None = None
) -> Any:
    """The settings of a command parsed by `add_settings_args`: CONFIG, overrides, flags."""
    cls = args.settings_schema
    path, overrides = getattr(args, "config", None), list(getattr(args, "overrides", []) or [])
    flags = {}
    pos = positional(cls)
    if pos is not None:  # [CONFIG.yaml] [KEY=VALUE ...] VALUE ...
        words, path = list(path or []), None
        if words and words[0].endswith((".yaml", ".yml")):
            path = words.pop(0)
        overrides = [w for w in words if "=" in w]
        values = [w for w in words if "=" not in w]
        if values:
            flags[pos[0]] = values
    elif path is not None and "=" in path and not path.endswith((".yaml", ".yml")):
        path, overrides = None, [path, *overrides]  # no CONFIG, only KEY=VALUE overrides
    for key, info in leaves(cls):
        raw = getattr(args, "setting__" + key.replace(".", "__"), None)
        if raw is not None:
            flags[key] = _flag_value(copy.copy(raw), info)
    return load_settings(cls, path, overrides, flags, check=check)
