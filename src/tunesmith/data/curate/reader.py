"""Stream the input files as `Item`s: read, validate, normalise; file or raise bad records.

Built on `data.sources.iter_records` and `data.formats.convert` (the training loader's reading
and checks, the record-size guard of `data.limits` included: at most `input.max_record_chars`
characters, reason `too_large`), plus a check of its own for curation: all records of one file
share one format (reason `mixed_formats`). With `on_error: raise` the first bad record raises a `DataError` naming
file, line, field and expectation; with `skip` it is counted under its reason and filed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from tunesmith.data.curate.base import StepStats
from tunesmith.data.curate.items import Item, extras_of
from tunesmith.data.curate.options import InputOptions
from tunesmith.data.formats import FORMATS, convert
from tunesmith.data.limits import check_record_size
from tunesmith.data.load import RecordError, _add_system
from tunesmith.data.sources import RawRecord, expand_paths, iter_records
from tunesmith.data.validate import Invalid

SIZE_KEY = "input.max_record_chars"

Reject = Callable[[RawRecord, str, str], None]
"""(record, reason, message) -> None: files a bad input record."""


def _check_format(name: str, line: int, first: tuple[str, int] | None) -> None:
    if first is not None and name != first[0]:
        raise Invalid(
            "mixed_formats",
            f"record is in format '{name}' but the file's first record (line {first[1]}) "
            f"is in format '{first[0]}'",
            field=FORMATS[name][0],
            expected="one record format per file",
        )


def read_items(
    options: InputOptions,
    stats: StepStats,
    reject: Reject,
    empty: Callable[[Path], None] | None = None,
) -> Iterator[Item]:
    """Valid records of `options.paths` as Items with `root` = 1-based position in the input;
    `empty(path)` is called for a file that holds no record at all."""
    files = expand_paths(options.paths)
    for path in files:
        first: tuple[str, int] | None = None
        before = stats.records_in
        for record in iter_records(path):
            stats.records_in += 1
            try:
                if record.error is not None:
                    raise record.error
                name, conv = convert(record.data, options.format)
                _check_format(name, record.line, first)
                check_record_size(record.data, conv, options.max_record_chars, SIZE_KEY)
            except Invalid as invalid:
                error = RecordError(record, invalid)
                if options.on_error == "raise":
                    raise error from None
                stats.dropped[invalid.reason] += 1
                reject(record, invalid.reason, str(error))
                continue
            if first is None:
                first = (name, record.line)
            conv.source = f"{record.file}:{record.line}"
            _add_system(conv, options.system_prompt)
            stats.records_out += 1
            yield Item(conv, stats.records_in, extras_of(record.data))
        if stats.records_in == before and empty is not None:
            empty(path)
