"""Output directories of the commands that write one (export, deploy): check, then stage.

    check_output_dir(output, overwrite, sources=[model_dir])   # before any work
    with staged_dir(output) as tmp:                             # write into tmp
        ...                                                     # tmp replaces output on success

A failure part way leaves `output` as it was: no half-written model or manifest set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tunesmith.errors import ConfigError


def check_output_dir(output: Path, overwrite: bool, sources: Sequence[Path] = ()) -> None:
    """`--output` must not hold an input, must be a directory if it exists, and must be empty
    unless `overwrite`."""
    out = output.resolve()
    for src in sources:
        src = src.resolve()
        if out == src or out in src.parents:
            raise ConfigError(f"--output: '{output}' holds the input '{src}'; choose another dir")
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output: '{output}' exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ConfigError(
            f"--output: '{output}' exists and is not empty (pass --overwrite to replace it)"
        )


@contextmanager
def staged_dir(output: Path) -> Iterator[Path]:
    """A fresh temporary sibling of `output` to write into; it replaces `output` when the
    block succeeds and is removed when it fails."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.parent / f".{output.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if output.exists():
            shutil.rmtree(output)
        tmp.rename(output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
