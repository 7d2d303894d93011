"""`tunesmith bench serve` plumbing on a tiny run: every arm runs, the JSON has the agreed
shape, no request fails, greedy outputs agree. Timings are never asserted."""

from __future__ import annotations

import json

from tunesmith.bench.serve_workload import Record, make_workload, percentile, summarize
from tunesmith.cli.main import main

ARMS = {"tunesmith", "generate_batch", "sequential"}


def test_bench_serve_tiny_run_writes_the_report(tmp_path, capsys) -> None:
    out = tmp_path / "bench_serve.json"
    argv = ["bench", "serve", "--json", str(out), "--concurrency", "1", "3"]
    assert main([*argv, "--requests", "2", "4", "--max-tokens", "3", "--rate", "50"]) == 0
    report = json.loads(out.read_text())
    assert set(report["concurrency"]) == {"1", "3"}
    for c, n in (("1", 2), ("3", 4)):
        entry = report["concurrency"][c]
        assert set(entry) >= ARMS
        assert set(entry) >= {"speedup_vs_generate_batch", "speedup_vs_sequential"}
        for arm in ARMS:
            got = entry[arm]
            assert (got["requests"], got["errors"], got["output_tokens"]) == (n, 0, 3 * n)
            assert got["output_tokens_per_s"] > 0 and got["ttft_ms_p50"] is not None
        assert entry["same_output_as_sequential"] == {"tunesmith": n, "generate_batch": n}
    assert report["settings"]["model"] == "tiny-qwen2"
    assert "concurrency 3: tunesmith" in capsys.readouterr().out


def test_bench_serve_rejects_mismatched_counts(capsys) -> None:
    assert main(["bench", "serve", "--concurrency", "1", "8", "--requests", "4"]) == 2
    assert "--requests needs one count per --concurrency level" in capsys.readouterr().err


def test_workload_arrivals_and_summary() -> None:
    wl = make_workload([[1, 2], [3]], n=5, concurrency=4, max_tokens=2, rate_per_slot=2.0)
    assert wl.prompts == [[1, 2], [3], [1, 2], [3], [1, 2]] and wl.arrivals[0] == 0.0
    assert wl.arrivals == sorted(wl.arrivals)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and percentile([], 99) is None
    ok = Record(arrival=0.0, sent=0.5, event_times=[1.0, 1.5, 2.5], end=2.5, tokens=3)
    failed = Record(arrival=0.2, error="HTTP 500")
    got = summarize([ok, failed])
    assert (got["requests"], got["errors"], got["first_error"]) == (2, 1, "HTTP 500")
    assert got["output_tokens"] == 3 and got["output_tokens_per_s"] == 1.2
    assert (got["ttft_ms_p50"], got["itl_ms_p50"], got["e2e_ms_p50"]) == (500.0, 750.0, 2500.0)
    assert (got["tpot_ms_p50"], got["events_per_request"]) == (750.0, 3.0)
    # two tokens in the last event (the server merged two steps): 3 tokens over 2 gaps of 1.5 s
    merged = Record(arrival=0.0, sent=0.0, event_times=[1.0, 4.0], end=4.0, tokens=3)
    got = summarize([merged])
    assert (got["itl_ms_p50"], got["tpot_ms_p50"], got["events_per_request"]) == (
        3000.0,
        1500.0,
        2.0,
    )
