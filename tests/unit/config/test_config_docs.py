"""docs/config.md's reference tables are the schema's (regenerate with
scripts/update_config_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_reference_tables_match_the_schema() -> None:
    spec = importlib.util.spec_from_file_location(
        "docs_gen", ROOT / "scripts" / "update_config_docs.py"
    )
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = (ROOT / "docs" / "config.md").read_text()
    assert gen.splice(page) == page, "run: .venv/bin/python scripts/update_config_docs.py"
