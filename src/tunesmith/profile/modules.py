"""Profiler ranges per module: `module::model.layers.*.mlp` around every forward call, so the
profiler's tables and the Chrome trace show time and memory by module as well as by op."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.profiler import record_function

from tunesmith.profile.flops import module_key

PREFIX = "module::"


@contextlib.contextmanager
def module_ranges(model: torch.nn.Module) -> Iterator[None]:
    """Every submodule's forward runs inside a profiler range named after it."""
    open_ranges: dict[int, list[record_function]] = {}
    handles = []

    def enter(label: str):  # noqa: ANN202
        def hook(module: torch.nn.Module, _args: object) -> None:
            scope = record_function(label)
            scope.__enter__()
            open_ranges.setdefault(id(module), []).append(scope)

        return hook

    def leave(module: torch.nn.Module, _args: object, _out: object) -> None:
        stack = open_ranges.get(id(module))
        if stack:
            stack.pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        if not name:
            continue
        label = PREFIX + module_key(name)
        handles.append(module.register_forward_pre_hook(enter(label)))
        handles.append(module.register_forward_hook(leave, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
