"""File types: json {"data": [...]}, csv, parquet, arrow, directories, and whole-file errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tunesmith.data import Message, load_conversations
from tunesmith.errors import DataError

ACCEPTED = "a file ending in .jsonl, .json, .csv, .parquet, .arrow or a directory of them"
CHAT_ROWS = [
    {
        "messages": [
            {"role": "user", "content": "Hi", "reasoning_content": None},
            {"role": "assistant", "content": "Hello", "reasoning_content": "greet back"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Bye", "reasoning_content": None},
            {
                "role": "assistant",
                "content": "<think>wave</think>See you",
                "reasoning_content": None,
            },
        ]
    },
]
EXPECTED_CHATS = [
    [Message("user", "Hi"), Message("assistant", "Hello", "greet back")],
    [Message("user", "Bye"), Message("assistant", "See you", "wave")],
]


def test_json_data_wrapper(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"data": [{"text": "a"}, {"text": "b"}]}))
    result = load_conversations([path])
    assert [(c.text, c.source) for c in result.conversations] == [
        ("a", f"{path}:1"),
        ("b", f"{path}:2"),
    ]


def test_parquet_nested_messages(tmp_path: Path) -> None:
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.Table.from_pylist(CHAT_ROWS), path)
    result = load_conversations([path])
    assert [c.messages for c in result.conversations] == EXPECTED_CHATS
    assert [c.source for c in result.conversations] == [f"{path}:1", f"{path}:2"]
    assert result.formats == {"messages": 2}


def test_parquet_flat_alpaca_with_nulls(tmp_path: Path) -> None:
    path = tmp_path / "alpaca.parquet"
    rows = [
        {"instruction": "Add 1 and 2.", "input": None, "output": "3"},
        {"instruction": "Echo.", "input": "ping", "output": "ping"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = load_conversations([path], fmt="alpaca")
    assert [c.messages for c in result.conversations] == [
        [Message("user", "Add 1 and 2."), Message("assistant", "3")],
        [Message("user", "Echo.\n\nping"), Message("assistant", "ping")],
    ]


def test_hf_style_directory_with_arrow_stream(tmp_path: Path) -> None:
    table = pa.Table.from_pylist(CHAT_ROWS)
    path = tmp_path / "data-00000-of-00001.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    (tmp_path / "dataset_info.json").write_text("{}")
    (tmp_path / "state.json").write_text('{"_data_files": []}')
    result = load_conversations([tmp_path])
    assert [c.messages for c in result.conversations] == EXPECTED_CHATS


def test_arrow_ipc_file_format(tmp_path: Path) -> None:
    path = tmp_path / "chat.arrow"
    table = pa.Table.from_pylist(CHAT_ROWS)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    assert [c.messages for c in load_conversations([path]).conversations] == EXPECTED_CHATS


def test_csv_quoted_multiline_field_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b'\xef\xbb\xbfinstruction,input,output\n"Two\nlines",,ok\n\nSecond,x,"y, z"\n')
    result = load_conversations([path])
    assert [(c.source, c.messages) for c in result.conversations] == [
        (f"{path}:2", [Message("user", "Two\nlines"), Message("assistant", "ok")]),
        (f"{path}:5", [Message("user", "Second\n\nx"), Message("assistant", "y, z")]),
    ]


def test_jsonl_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n\r\n{"text": "b"}\r\n')
    result = load_conversations([path])
    assert [(c.text, c.source) for c in result.conversations] == [
        ("a", f"{path}:1"),
        ("b", f"{path}:3"),
    ]
    assert result.records_in == 2


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(DataError) as info:
        load_conversations([path])
    assert str(info.value) == f"{path}: file not found (expected {ACCEPTED})"


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("hello")
    with pytest.raises(DataError) as info:
        load_conversations([path])
    assert str(info.value) == f"{path}: unknown file type '.txt' (expected {ACCEPTED})"


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(DataError) as info:
        load_conversations([tmp_path])
    assert str(info.value) == f"{tmp_path}: directory holds no data files (expected {ACCEPTED})"


def test_json_file_invalid_json_raises_even_under_skip(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"text": "a"},\n  {"text": }\n]\n')
    with pytest.raises(DataError) as info:
        load_conversations([path], on_error="skip")
    assert str(info.value) == (
        f"{path}:3: invalid JSON: Expecting value: column 12"
        ' (expected a JSON list of records, or {"data": [...]})'
    )


def test_json_file_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    path.write_text('{"text": "a"}')
    with pytest.raises(DataError) as info:
        load_conversations([path])
    assert str(info.value) == (
        f"{path}: top-level value holds no list of records"
        ' (expected a JSON list of records, or {"data": [...]})'
    )


def test_json_file_record_index_is_the_line(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    path.write_text(json.dumps([{"text": "ok"}, {"text": 5}]))
    with pytest.raises(DataError) as info:
        load_conversations([path])
    assert str(info.value) == f"{path}:2: field 'text': wrong type: got int (expected a string)"
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 2, "text")
