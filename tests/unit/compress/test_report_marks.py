"""`export report` marks figures reused from an earlier run, in the table and the PNG."""

from __future__ import annotations

from dataclasses import replace

from tunesmith.compress.variants import Variant, footnote, plot, table


def _rows(recorded_at: str | None) -> list[Variant]:
    ref = Variant("merged", "/m", "model", 100, 2**20, 200.0, {"em": 0.5}, measured_now=True)
    int8 = Variant("int8", "/q", "quantize", 100, 2**19, 460.0, {"em": 0.5})
    return [ref, replace(int8, recorded_at=recorded_at, measured_now=recorded_at is None)]


def test_table_marks_reused_figures_and_their_ratio() -> None:
    header, body = table(_rows("2026-12-03 09:12 UTC"))
    assert header[5:] == ["tokens/s", "speed", "em"]
    assert body[0][5:] == ["200", "1.00×", "0.5000"]
    assert body[1][4:] == ["0.50×", "460 *", "2.30× *", "0.5000 *"]  # size is not a measurement
    assert footnote(_rows(None)) is None
    assert footnote(_rows("2026-12-03 09:12 UTC")).startswith(
        "* not measured in this run: tokens/s and quality of int8 (2026-12-03 09:12 UTC) are "
        "from export_report.json"
    )


def test_png_differs_only_by_the_marking(tmp_path) -> None:
    fresh = plot(_rows(None), tmp_path / "fresh.png").read_bytes()
    again = plot(_rows(None), tmp_path / "again.png").read_bytes()
    stale = plot(_rows("2026-12-03 09:12 UTC"), tmp_path / "stale.png").read_bytes()
    assert fresh == again  # deterministic, so the difference below is the marking
    assert stale != fresh
