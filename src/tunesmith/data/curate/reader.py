"""Stream the input files as `Item`s: read, validate, normalise; file or raise bad records.

Built on `data.sources.iter_records` and `data.formats.convert` (the training loader's reading
and checks), plus two checks of its own for curation: all records of one file share one format
(reason `mixed_formats`), and a record holds at most `input.max_record_chars` characters
(reason `too_large`). With `on_error: raise` the first bad record raises a `DataError` naming
file, line, field and expectation; with `skip` it is counted under its reason and filed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tunesmith.data.curate.base import StepStats
from tunesmith.data.curate.items import Item, extras_of, segments
from tunesmith.data.curate.options import InputOptions
from tunesmith.data.formats import FORMATS, convert
from tunesmith.data.load import RecordError, _add_system
from tunesmith.data.sources import RawRecord, expand_paths, iter_records
from tunesmith.data.types import Conversation
from tunesmith.data.validate import Invalid

Reject = Callable[[RawRecord, str, str], None]
"""(record, reason, message) -> None: files a bad input record."""


def _check_size(record: RawRecord, conv: Conversation, limit: int) -> None:
    size = sum(len(text) for _, text in segments(conv))
    if size > limit:
        data = record.data
        biggest = max(data, key=lambda k: len(str(data[k]))) if isinstance(data, dict) else None
        raise Invalid(
            "too_large",
            f"record has {size:,} characters",
            field=biggest,
            expected=f"at most {limit:,} characters per record; input.max_record_chars sets it",
        )


def _check_format(name: str, line: int, first: tuple[str, int] | None) -> None:
    if first is not None and name != first[0]:
        raise Invalid(
            "mixed_formats",
            f"record is in format '{name}' but the file's first record (line {first[1]}) "
            f"is in format '{first[0]}'",
            field=FORMATS[name][0],
            expected="one record format per file",
        )


def read_items(options: InputOptions, stats: StepStats, reject: Reject) -> Iterator[Item]:
    """Valid records of `options.paths` as Items with `root` = 1-based position in the input."""
    files = expand_paths(options.paths)
    for path in files:
        first: tuple[str, int] | None = None
        for record in iter_records(path):
            stats.records_in += 1
            try:
                if record.error is not None:
                    raise record.error
                name, conv = convert(record.data, options.format)
                _check_format(name, record.line, first)
                _check_size(record, conv, options.max_record_chars)
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
