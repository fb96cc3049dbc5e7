"""minhash_dedup keeps different documents whose shingles collide in 32 bits (issue 12, item 4).

The pairs below were found once by brute force with the old scheme (tests/minhash32.py): the
texts f"Order {i} shipped to Lisbon" for i < 400,000 are one word-5-gram each, and their 32-bit
shingle hashes gave 17 colliding pairs (the birthday bound predicts 400,000² / 2³³ ≈ 19).
"""
from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import minhash32
from conftest import read_data, run_garden, write_jsonl, write_recipe

COLLIDING_32BIT = [
    ("Order 69659 shipped to Lisbon", "Order 180221 shipped to Lisbon"),
    ("Order 121796 shipped to Lisbon", "Order 208877 shipped to Lisbon"),
]
NGRAM, NUM_PERM, SEED, THRESHOLD = 5, 128, 1, 0.8


def read_rejected(out_dir) -> list[dict]:
    rows = []
    for f in sorted(glob.glob(os.path.join(str(out_dir), "rejected", "minhash_dedup", "*.parquet"))):
        rows += pq.read_table(f).to_pylist()
    return rows


@pytest.mark.parametrize("pair", COLLIDING_32BIT)
def test_fixture_pair_collided_in_the_old_scheme_and_not_in_the_new(pair):
    from operators.dedup import choose_bands
    from operators.dedup import band_hashes, estimated_jaccard, shingle_hashes, signatures

    old = minhash32
    a, b = pair
    # old scheme: one shingle each, the same 32-bit hash → identical signatures, every band equal,
    # estimated Jaccard 1.0: verification could not save them, both were one cluster
    assert old.shingle_hashes32(a, NGRAM) == old.shingle_hashes32(b, NGRAM)
    assert len(old.shingle_hashes32(a, NGRAM)) == 1
    sig32, _ = old.signatures32([a, b], NGRAM, NUM_PERM, SEED)
    assert estimated_jaccard(sig32[:1], sig32[1:])[0] == 1.0
    bands, rows = choose_bands(THRESHOLD, NUM_PERM, None, None, 0.9)
    assert (band_hashes(sig32[:1], bands, rows) == band_hashes(sig32[1:], bands, rows)).all()

    # new scheme: distinct 64-bit shingle hashes, signatures that agree nowhere
    assert shingle_hashes(a, NGRAM) != shingle_hashes(b, NGRAM)
    sig64, ok = signatures([a, b], NGRAM, NUM_PERM, SEED)
    assert ok.all() and sig64.dtype == np.uint64
    assert (sig64 >= 1 << 32).any()  # the values use the upper 32 bits: nothing folds them back
    assert estimated_jaccard(sig64[:1], sig64[1:])[0] < THRESHOLD
    assert not (band_hashes(sig64[:1], bands, rows) == band_hashes(sig64[1:], bands, rows)).any()


@pytest.mark.slow
def test_colliding_documents_are_kept_and_true_duplicates_dropped(tmp_path):
    rows = []
    for i, (a, b) in enumerate(COLLIDING_32BIT):
        rows += [{"id": f"p{i}a", "text": a}, {"id": f"p{i}b", "text": b}]
    rows.append({"id": "copy", "text": COLLIDING_32BIT[0][0]})  # a true duplicate of a short document
    long_text = " ".join(f"word{k} follows" for k in range(60))
    edited = long_text + " " + " ".join(f"extra{k}" for k in range(8))  # Jaccard 116/124 ≈ 0.94
    rows += [{"id": "long", "text": long_text}, {"id": "long-edited", "text": edited}]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = write_recipe(tmp_path, [{"minhash_dedup": {"threshold": THRESHOLD}}], [{"path": inp, "source": "s"}])
    run_garden("run", recipe)

    kept = {r["id"] for r in read_data(tmp_path / "out")}
    assert kept == {"p0a", "p0b", "p1a", "p1b", "long"}
    rejected = {r["id"]: r for r in read_rejected(tmp_path / "out")}
    assert set(rejected) == {"copy", "long-edited"}
    assert rejected["copy"]["duplicate_of"] == "p0a" and rejected["copy"]["similarity"] == 1.0
    assert rejected["long-edited"]["duplicate_of"] == "long"
    assert THRESHOLD <= rejected["long-edited"]["similarity"] < 1.0


@pytest.mark.slow
def test_unverified_merging_is_refused(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    recipe = write_recipe(tmp_path, [{"minhash_dedup": {"verify": False}}], [{"path": inp, "source": "s"}])
    proc = run_garden("validate", recipe, check=False)
    assert proc.returncode != 0 and "verify must be true" in proc.stdout + proc.stderr


def test_signatures_of_an_older_run_are_not_read_as_64_bit(tmp_path):
    from operators.dedup import (SignatureReader, SignatureWriter, count_signatures, node_ids,
                                          refuse_older_signatures)

    sig_dir = tmp_path / "signatures"
    w = SignatureWriter(str(tmp_path), 0)
    w.write(np.arange(2 * NUM_PERM, dtype=np.uint64).reshape(2, NUM_PERM) << np.uint64(40))
    w.close()
    reader = SignatureReader(str(tmp_path), NUM_PERM)
    assert count_signatures(str(tmp_path), NUM_PERM) == 2
    assert reader.get(node_ids(0, 1, 1))[0, 0] == NUM_PERM << 40  # full 64-bit values round-trip
    (sig_dir / "shard-00001.u32").write_bytes(np.zeros(NUM_PERM, np.uint32).tobytes())
    with pytest.raises(IOError, match="32-bit signatures written by an older Garden"):
        count_signatures(str(tmp_path), NUM_PERM)
    with pytest.raises(IOError, match="shard-00001.u32 .* rerun with --no-resume"):
        refuse_older_signatures(str(tmp_path))  # what scan and reduce check before they start
    reader.close()
