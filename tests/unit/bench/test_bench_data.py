"""`tunesmith bench data` on a tiny corpus: the report's shape and the accuracy numbers."""

from __future__ import annotations

import json

from tunesmith.bench.data import baseline_dedupe, run_bench, score, tunesmith_dedupe
from tunesmith.data.curate.options import NearDedupeOptions
from tunesmith.data.curate.synth import CorpusSpec, make_corpus


def test_both_arms_find_the_planted_pairs_and_ours_misses_none():
    corpus = make_corpus(CorpusSpec(records=300, near_dups=30, distractors=15), seed=4)
    texts = ["\n\n".join(m["content"] for m in r["messages"]) for r in corpus.records]
    ours = tunesmith_dedupe(texts, NearDedupeOptions(processes=1))
    assert ours == set(corpus.truth.near_dups)
    base = baseline_dedupe(texts, 0.8, 128, 5)
    assert not base & set(corpus.truth.distractors)
    s = score(base, corpus.truth.near_dups)
    assert s["true_positives"] == len(base & set(corpus.truth.near_dups))
    assert s["recall"] == s["true_positives"] / 30


def test_run_bench_writes_json_with_three_arms(tmp_path):
    report = run_bench(str(tmp_path / "b.json"), docs=200, processes=2, quiet=True)
    saved = json.loads((tmp_path / "b.json").read_text())
    assert list(saved["arms"]) == [
        "datasketch loop",
        "tunesmith 1 proc",
        "tunesmith 2 procs",
    ]
    assert saved["settings"]["planted_near_duplicates"] == 20
    for name in ("tunesmith 1 proc", "tunesmith 2 procs"):
        arm = report["arms"][name]
        assert (arm["precision"], arm["recall"]) == (1.0, 1.0)
        assert arm["records_per_s"] > 0 and arm["speedup"] > 0
    assert report["arms"]["datasketch loop"]["speedup"] == 1.0
