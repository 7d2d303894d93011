"""Shingles, MinHash signatures (bit-equal to datasketch's affine32), band keys, LSH pairs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from tunesmith.data.curate.lsh import KeyHasher, candidate_pairs, candidate_probability, lsh_params
from tunesmith.data.curate.minhash import MAX32, MinHasher, band_keys, jaccard, permutations
from tunesmith.data.curate.shingles import ngram_hashes


def random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(300)]
    return [" ".join(rng.choices(vocab, k=rng.randint(3, 60))) for _ in range(n)]


def test_offsets_group_hashes_by_text_and_short_texts_get_one_hash():
    flat, offsets = ngram_hashes(["Hello, World!", "", "a b c d e f", "x y", "?!"], 5)
    assert offsets.tolist() == [0, 1, 1, 3, 4, 4]
    assert flat.dtype == np.uint64 and len(flat) == 4


def test_hashes_ignore_case_and_ascii_punctuation_but_keep_word_order():
    a, _ = ngram_hashes(["The quick, brown fox -- jumps!"], 5)
    b, _ = ngram_hashes(["the QUICK brown fox jumps"], 5)
    c, _ = ngram_hashes(["quick the brown fox jumps"], 5)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()


def test_hashes_are_pinned_across_runs_and_processes():
    flat, _ = ngram_hashes(["the quick brown fox jumps over", "café au lait"], 5)
    again, _ = ngram_hashes(["café au lait", "the quick brown fox jumps over"], 5)
    assert flat[:2].tolist() == again[1:].tolist()
    assert flat.tolist() == [9615783641114951758, 13237641496984468543, 11560208037489065858]


def test_a_short_text_equals_the_k_gram_of_the_same_words_in_a_longer_text():
    short, _ = ngram_hashes(["brown fox"], 13)
    grams, _ = ngram_hashes(["the quick brown fox jumps"], 2)
    assert short[0] in grams.tolist()


def test_jaccard_of_hashes_equals_the_jaccard_of_the_word_ngram_sets():
    texts = random_texts(40, seed=3)
    flat, off = ngram_hashes(texts, 3)
    for a, b in zip(range(0, 40, 2), range(1, 40, 2), strict=True):
        wa, wb = texts[a].split(), texts[b].split()
        sa = {tuple(wa[i : i + 3]) for i in range(len(wa) - 2)} or {tuple(wa)}
        sb = {tuple(wb[i : i + 3]) for i in range(len(wb) - 2)} or {tuple(wb)}
        expected = len(sa & sb) / len(sa | sb)
        assert jaccard(flat[off[a] : off[a + 1]], flat[off[b] : off[b + 1]]) == expected


def test_permutations_and_signatures_equal_datasketch_affine32():
    a, b = permutations(64, seed=7)
    reference = MinHash(num_perm=64, seed=7)
    assert np.array_equal(reference.permutations[0], a)
    assert np.array_equal(reference.permutations[1], b)
    hasher = MinHasher(ngram=4, num_perm=64, seed=7)
    texts = random_texts(30, seed=1) + [""]
    flat, off = hasher.shingles(texts)
    sigs = hasher.signatures(flat, off)
    folded = (flat ^ (flat >> np.uint64(32))).astype(np.uint32)
    for i in range(len(texts) - 1):
        m = MinHash(num_perm=64, seed=7, hashfunc=int)
        for h in folded[off[i] : off[i + 1]].tolist():
            m.update(h)
        assert np.array_equal(m.hashvalues, sigs[i])
    assert (sigs[-1] == MAX32).all()


def test_signatures_do_not_depend_on_chunking(monkeypatch):
    hasher = MinHasher()
    flat, off = hasher.shingles(random_texts(50, seed=2))
    whole = hasher.signatures(flat, off)
    monkeypatch.setattr("tunesmith.data.curate.minhash.CHUNK_CELLS", 128 * 7)
    assert np.array_equal(hasher.signatures(flat, off), whole)


def test_band_keys_match_when_bands_match_and_empty_texts_get_zero():
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [5, 2, 3, 4], [MAX32] * 4], dtype=np.uint32)
    keys = band_keys(sig, bands=2, rows=2)
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert keys[0, 1] == keys[2, 1] and keys[0, 0] != keys[2, 0]
    assert keys[3].tolist() == [0, 0] and (keys[:3] % 2 == 1).all()


def test_candidate_pairs_pair_each_bucket_member_with_its_head_and_predecessor():
    keys = np.array([[5, 1], [7, 3], [5, 1], [0, 9], [5, 11], [0, 9]], dtype=np.uint64)
    assert candidate_pairs(keys).tolist() == [[0, 2], [0, 4], [2, 4], [3, 5]]
    keys[3, 1], keys[5, 1] = 0, 0
    assert candidate_pairs(keys).tolist() == [[0, 2], [0, 4], [2, 4]]


def test_lsh_params_target_recall_when_verifying_and_datasketch_otherwise():
    assert lsh_params(0.8, 128, verify=True) == (18, 7)
    assert candidate_probability(0.8, 18, 7) == pytest.approx(0.985542, abs=1e-6)
    assert lsh_params(0.8, 128, verify=False) == (9, 13)
    assert lsh_params(0.5, 128, verify=True) == (42, 3)  # 4 rows: 0.873 < 0.95


def test_worker_processes_give_the_same_keys_as_inline_hashing():
    texts = random_texts(90, seed=5)
    hasher = MinHasher()
    inline = KeyHasher(hasher, 18, 7, processes=1)
    pooled = KeyHasher(hasher, 18, 7, processes=2)
    try:
        for start in range(0, 90, 30):
            inline.submit(texts[start : start + 30])
            pooled.submit(texts[start : start + 30])
        assert np.array_equal(inline.collect(), pooled.collect())
    finally:
        pooled.close()
