"""Files the pipeline writes: spill files between passes, the outputs, and rejects.jsonl."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from tunesmith.data.curate.items import Item, from_spill, to_output, to_spill
from tunesmith.data.sources import RawRecord
from tunesmith.errors import DataError

MAX_REJECT_CHARS = 10_000
"""A rejected record longer than this (as JSON) is filed cut, with its length noted."""
PARQUET_ROWS = 1024


class Spill:
    """Records in pipeline order on disk (one JSON line each), replayable and indexable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._out: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, item: Item) -> None:
        assert self._out is not None
        self._out.write(to_spill(item) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def __iter__(self) -> Iterator[Item]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield from_spill(line)

    def pick(self, indices: Iterable[int]) -> Iterator[tuple[int, Item]]:
        """(index, record) at `indices` (0-based) in order, parsing only those lines."""
        wanted = set(indices)
        if not wanted:
            return
        last = max(wanted)
        with open(self.path, encoding="utf-8") as f:
            for index, line in enumerate(f):
                if index in wanted:
                    yield index, from_spill(line)
                if index >= last:
                    break


def _clip(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= MAX_REJECT_CHARS:
        return value
    return text[:MAX_REJECT_CHARS] + f"... [cut: {len(text):,} characters in all]"


class Rejects:
    """rejects.jsonl: one line per dropped record with its step, reason, message and source."""

    def __init__(self, path: Path) -> None:
        self._out = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def _write(self, entry: dict[str, Any]) -> None:
        self._out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def raw(self, record: RawRecord, reason: str, message: str) -> None:
        self._write(
            {
                "source": f"{record.file}:{record.line}",
                "step": "validate",
                "reason": reason,
                "message": message,
                "record": _clip(record.raw),
            }
        )

    def item(self, item: Item, step: str, reason: str, message: str) -> None:
        self._write(
            {
                "source": item.source,
                "step": step,
                "reason": reason,
                "message": message,
                "record": _clip(to_output(item)),
            }
        )

    def close(self) -> None:
        self._out.close()


class _ParquetSink:
    def __init__(self, path: Path) -> None:
        self.path, self.rows, self.writer, self.kind = path, [], None, None

    def write(self, record: dict[str, Any]) -> None:
        kind = "text" if "text" in record else "messages"
        if self.kind is None:
            self.kind = kind
        elif kind != self.kind:
            raise DataError(
                f"parquet output holds one kind of record, but {record['tunesmith']['source']} "
                f"is a {kind} record after {self.kind} records",
                file=str(self.path),
                expected="all chat or all text records, or output.format=jsonl",
            )
        self.rows.append(record)
        if len(self.rows) >= PARQUET_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows and self.writer is not None:
            return
        if not self.rows:  # an empty split: a valid file with the chat columns
            message = pa.struct([("role", pa.string()), ("content", pa.string())])
            empty = pa.schema([("messages", pa.list_(message))])
            self.writer = pq.ParquetWriter(self.path, empty)
            return
        schema = self.writer.schema_arrow if self.writer is not None else None
        if schema is not None:
            new = sorted({k for r in self.rows for k in r} - set(schema.names))
            if new:
                raise DataError(
                    f"field '{new[0]}' first appears after the parquet schema was fixed",
                    file=str(self.path),
                    expected="the same top-level fields in every record, or output.format=jsonl",
                )
        table = pa.Table.from_pylist(self.rows, schema=schema)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        self.flush()
        self.abort()

    def abort(self) -> None:
        self.rows = []
        if self.writer is not None:
            self.writer.close()


class _JsonlSink:
    def __init__(self, path: Path) -> None:
        self._out = open(path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        self._out.close()

    abort = close


class Outputs:
    """train / validation / test files; a record goes to the file of its `split`."""

    def __init__(self, directory: Path, fmt: str, splits: list[str]) -> None:
        sink = _ParquetSink if fmt == "parquet" else _JsonlSink
        self.paths = {s: directory / f"{s}.{fmt}" for s in splits}
        self._sinks = {s: sink(p) for s, p in self.paths.items()}
        self.counts = dict.fromkeys(splits, 0)

    def write(self, item: Item) -> None:
        self._sinks[item.split].write(to_output(item))
        self.counts[item.split] += 1

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()

    def remove(self) -> None:
        """After a failed run: close without writing more, delete the files."""
        for sink in self._sinks.values():
            sink.abort()
        for path in self.paths.values():
            path.unlink(missing_ok=True)
