"""Read dataset files into raw records, one at a time.

Accepted inputs: `.jsonl` (one JSON object per line, read line by line), `.json` (a list of
records, or {"data": [...]}), `.csv` (header row; columns are fields; all values are
strings), `.parquet` and `.arrow` (an Arrow IPC stream/file, as written by HF datasets
`save_to_disk`; both read batch by batch), or a directory holding such files (its files are
read in sorted name order, not recursively; HF metadata files such as dataset_info.json
are skipped).

Line numbers are 1-based physical lines for jsonl / csv (the csv header is line 1) and
1-based record indices for json / parquet / arrow. Problems with a single record (bad JSON,
bad UTF-8, a csv row with the wrong field count) come back as `RawRecord.error`, so the
loader can skip them; problems with a whole file (missing, unknown type, unparseable json
or parquet) raise `DataError` straight away.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tunesmith.data.validate import Invalid
from tunesmith.errors import DataError

EXTENSIONS = (".jsonl", ".json", ".csv", ".parquet", ".arrow")
HF_METADATA_FILES = frozenset({"dataset_info.json", "state.json", "dataset_dict.json"})
BATCH_ROWS = 1024


@dataclass
class RawRecord:
    """One record as read: `data` is the parsed value, `raw` what goes to a rejects file."""

    file: str
    line: int
    data: Any
    raw: Any
    error: Invalid | None = None


def _accepted() -> str:
    return "a file ending in " + ", ".join(EXTENSIONS) + " or a directory of them"


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Check every path up front and expand directories into their sorted data files."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and p.suffix.lower() in EXTENSIONS
                and p.name not in HF_METADATA_FILES
            )
            if not found:
                raise DataError(
                    "directory holds no data files", file=str(path), expected=_accepted()
                )
            files.extend(found)
        elif not path.exists():
            raise DataError("file not found", file=str(path), expected=_accepted())
        elif path.suffix.lower() not in EXTENSIONS:
            raise DataError(
                f"unknown file type '{path.suffix}'", file=str(path), expected=_accepted()
            )
        else:
            files.append(path)
    return files


def iter_records(path: Path) -> Iterator[RawRecord]:
    """Raw records of one file, streamed where the format allows."""
    readers = {
        ".jsonl": _read_jsonl,
        ".json": _read_json,
        ".csv": _read_csv,
        ".parquet": _read_parquet,
        ".arrow": _read_arrow,
    }
    return readers[path.suffix.lower()](path)


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    name = str(path)
    with open(path, "rb") as f:
        for lineno, chunk in enumerate(f, start=1):
            record = parse_jsonl_line(name, lineno, chunk)
            if record is not None:
                yield record


def parse_jsonl_line(name: str, lineno: int, chunk: bytes) -> RawRecord | None:
    """One jsonl line (bytes, newline included) as a record; None for a blank line."""
    if lineno == 1 and chunk.startswith(codecs.BOM_UTF8):
        chunk = chunk[len(codecs.BOM_UTF8) :]
    try:
        text = chunk.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        raw = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
        error = Invalid(
            "invalid_utf8",
            f"invalid UTF-8 at byte {e.start + 1} of the line ({e.reason})",
            expected="UTF-8 text",
        )
        return RawRecord(name, lineno, None, raw, error)
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        error = Invalid(
            "invalid_json",
            f"invalid JSON: {e.msg}: column {e.colno}",
            expected="one JSON object per line",
        )
        return RawRecord(name, lineno, None, text, error)
    return RawRecord(name, lineno, data, text)


def _read_json(path: Path) -> Iterator[RawRecord]:
    name = str(path)
    expected = 'a JSON list of records, or {"data": [...]}'
    blob = path.read_bytes()
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = blob[: e.start].count(b"\n") + 1
        raise DataError(
            f"invalid UTF-8 ({e.reason})", file=name, line=line, expected="UTF-8 text"
        ) from None
    del blob
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(
            f"invalid JSON: {e.msg}: column {e.colno}",
            file=name,
            line=e.lineno,
            expected=expected,
        ) from None
    del text
    records = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise DataError("top-level value holds no list of records", file=name, expected=expected)
    for index, record in enumerate(records, start=1):
        yield RawRecord(name, index, record, record)


def _has_bad_bytes(value: str) -> bool:
    """True when surrogateescape decoding left undecodable bytes in `value`."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _clean(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_csv(path: Path) -> Iterator[RawRecord]:
    name = str(path)
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                return
            if any(_has_bad_bytes(col) for col in header):
                raise DataError(
                    "invalid UTF-8 in the header", file=name, line=1, expected="UTF-8 text"
                )
            header = [col.strip() for col in header]
            if len(set(header)) != len(header):
                raise DataError(
                    "duplicate column names", file=name, line=1, expected="unique column names"
                )
            last = reader.line_num
            for row in reader:
                start, last = last + 1, reader.line_num
                if not row:
                    continue
                yield _csv_record(name, start, header, row)
        except csv.Error as e:
            raise DataError(f"unreadable csv: {e}", file=name, line=reader.line_num) from None


def _csv_record(name: str, line: int, header: list[str], row: list[str]) -> RawRecord:
    raw = dict(zip(header, map(_clean, row), strict=False))
    if len(row) != len(header):
        error = Invalid(
            "bad_csv_row",
            f"row has {len(row)} fields, the header has {len(header)}",
            expected=f"{len(header)} fields: " + ", ".join(header),
        )
        return RawRecord(name, line, None, raw, error)
    if any(_has_bad_bytes(value) for value in row):
        return RawRecord(
            name, line, None, raw, Invalid("invalid_utf8", "invalid UTF-8", expected="UTF-8 text")
        )
    record = dict(zip(header, row, strict=True))
    return RawRecord(name, line, record, record)


def _read_batches(name: str, batches: Iterator[pa.RecordBatch]) -> Iterator[RawRecord]:
    index = 0
    for batch in batches:
        for record in batch.to_pylist():
            index += 1
            yield RawRecord(name, index, record, record)


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"unreadable parquet: {e}", file=str(path)) from None
    yield from _read_batches(str(path), parquet.iter_batches(batch_size=BATCH_ROWS))


def _read_arrow(path: Path) -> Iterator[RawRecord]:
    with pa.memory_map(str(path)) as source:
        try:
            reader = pa.ipc.open_stream(source)
            batches: Iterator[pa.RecordBatch] = iter(reader)
        except pa.ArrowInvalid:
            try:
                file_reader = pa.ipc.open_file(source)
            except pa.ArrowInvalid as e:
                raise DataError(f"unreadable arrow file: {e}", file=str(path)) from None
            batches = (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))
        yield from _read_batches(str(path), batches)
