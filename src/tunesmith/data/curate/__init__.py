"""Data curation: `tunesmith data inspect` and `tunesmith data prepare`.

    from tunesmith.data import prepare
    report = prepare("configs/data/prepare.yaml", ["steps.near_dedupe.threshold=0.85"])
    assert report.records_in == report.records_out + sum(report.dropped.values()) - report.added

Modules: `options` (settings per step), `config` / `checks` (YAML + overrides), `reader` (input
records), `pipeline` (passes, accounting), the steps (`dedupe`, `quality`, `pii`, `decontam`,
`balance`, `augment`, `paraphrase`, `split`), `shingles` / `minhash` / `lsh` (vectorised near
dedupe), `inspect`, `report`, `store` (files), `synth` (generated corpora with planted problems).

This package imports nothing by itself, so hashing worker processes load only what they use.
"""
