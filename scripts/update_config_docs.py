"""Regenerate the reference tables of docs/config.md from the config schema.

    .venv/bin/python scripts/update_config_docs.py

tests/unit/config/test_config_docs.py fails when the page and the schema disagree.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.help import format_reference_markdown

PAGE = Path(__file__).resolve().parents[1] / "docs" / "config.md"
START, END = "### `model`", "Notes on a few fields:"


def splice(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + format_reference_markdown() + "\n" + END + tail


if __name__ == "__main__":
    PAGE.write_text(splice(PAGE.read_text()))
    print(f"updated {PAGE}")
