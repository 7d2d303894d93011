"""User-facing errors. The CLI prints them without a traceback and exits non-zero."""

from __future__ import annotations


class TunesmithError(Exception):
    """An error caused by user input (config, data, paths); shown without a traceback."""

    exit_code = 2


class ConfigError(TunesmithError):
    """A config key, value or file is wrong."""


class DataError(TunesmithError):
    """A dataset file or record is wrong. The message names file, line, field and expectation."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.file, self.line, self.field, self.expected = file, line, field, expected
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        detail = message
        if field is not None:
            detail = f"field '{field}': {detail}"
        if expected is not None:
            detail = f"{detail} (expected {expected})"
        super().__init__(where + detail)
