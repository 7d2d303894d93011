"""jsonl records read one line at a time, each with the position it was read from.

    reader = JsonlReader(files)
    for pos, record, after in reader.read_from(start):   # pos / after: Position
        ...
    record = reader.read_at(pos)                          # seek back to one record

A `Position` (file index, byte offset, line number) is three integers, so a consumer can put
where it is, and which records it holds, into a checkpoint and read exactly those again. The
reader holds one line at a time: its memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tunesmith.data.sources import RawRecord, expand_paths, parse_jsonl_line
from tunesmith.errors import DataError


@dataclass(frozen=True)
class Position:
    file: int  # index into the reader's files
    offset: int  # byte offset of the line
    line: int  # its 1-based line number

    def to_list(self) -> list[int]:
        return [self.file, self.offset, self.line]

    @classmethod
    def of(cls, value: list[int]) -> Position:
        return cls(*value)


START = Position(0, 0, 1)


class JsonlReader:
    """Records of jsonl files (directories expanded) in order, with their positions."""

    def __init__(self, paths: list[str | Path], key: str = "data.train") -> None:
        self.files = expand_paths(paths)
        others = [str(f) for f in self.files if f.suffix.lower() != ".jsonl"]
        if others:
            raise DataError(
                "data.streaming reads jsonl files only",
                file=others[0],
                field=key,
                expected="a .jsonl file (convert with `tunesmith data convert`), or "
                "data.streaming=false to load it whole",
            )

    def read_from(self, start: Position = START) -> Iterator[tuple[Position, RawRecord, Position]]:
        """(position, record, position after it) from `start` to the end of the last file;
        blank lines are skipped."""
        for index in range(start.file, len(self.files)):
            offset, line = (start.offset, start.line) if index == start.file else (0, 1)
            path = self.files[index]
            with open(path, "rb") as f:
                f.seek(offset)
                while True:
                    chunk = f.readline()
                    if not chunk:
                        break
                    here = Position(index, offset, line)
                    offset += len(chunk)
                    record = parse_jsonl_line(str(path), line, chunk)
                    line += 1
                    if record is not None:
                        yield here, record, Position(index, offset, line)

    def read_at(self, pos: Position) -> RawRecord:
        """The record at `pos` (as read_from gave it)."""
        path = self.files[pos.file]
        with open(path, "rb") as f:
            f.seek(pos.offset)
            record = parse_jsonl_line(str(path), pos.line, f.readline())
        if record is None:
            raise DataError(
                f"no record at byte {pos.offset} (the file changed since the checkpoint?)",
                file=str(path),
                line=pos.line,
            )
        return record
