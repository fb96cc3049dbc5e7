"""minhash_dedup: quality on planted near-duplicates (English and Chinese), keeper rules, stats, clusters."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

import neardup_set
from conftest import run_garden, write_jsonl, write_recipe
from dedup_helpers import fixture_pool, neardup_records


def read_data(out_dir) -> list[dict]:
    rows = []
    for f in sorted(os.listdir(os.path.join(out_dir, "data"))):
        rows += pq.read_table(os.path.join(out_dir, "data", f)).to_pylist()
    return rows


def read_rejected(out_dir, label="minhash_dedup") -> list[dict]:
    d = os.path.join(out_dir, "rejected", label)
    rows = []
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        rows += pq.read_table(os.path.join(d, f)).to_pylist()
    return rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("minhash")
    records = neardup_records()
    inp = write_jsonl(tmp / "in.jsonl", [{"id": r["id"], "text": r["text"]} for r in records])
    recipe = write_recipe(tmp, [{"minhash_dedup": {"threshold": 0.8}}], [{"path": inp, "source": "nd"}],
                          workers=2, shard_size="40KB")
    run_garden("run", recipe)
    return records, tmp / "out"


@pytest.mark.slow
def test_quality_on_planted_duplicates(planted):
    records, out = planted
    kept = {r["id"] for r in read_data(out)}
    ev = neardup_set.evaluate(records, kept)
    assert ev["copies_high"] >= 60
    assert ev["recall_high"] >= 0.95, ev
    assert ev["distinct_loss_rate"] <= 0.005, ev
    assert ev["removed_by_bin"]["exact"]["rate"] == 1.0
    # pairs far below the threshold survive
    low = [r for r in records if r["kind"] == "edited" and r["jaccard"] < 0.6]
    assert low and sum(r["id"] in kept for r in low) / len(low) >= 0.9


@pytest.mark.slow
def test_chinese_copies_caught_by_character_ngrams(planted):
    records, out = planted
    kept = {r["id"] for r in read_data(out)}
    zh_high = [r for r in records
               if r["kind"] in ("exact", "edited") and r["jaccard"] >= 0.85 and neardup_set.is_cjk(r["text"])]
    assert len(zh_high) >= 10
    assert sum(r["id"] not in kept for r in zh_high) / len(zh_high) >= 0.95


@pytest.mark.slow
def test_dropped_docs_point_to_keeper_with_similarity(planted):
    records, out = planted
    by_id = {r["id"]: r for r in records}
    rejected = read_rejected(out)
    assert rejected
    for row in rejected:
        assert row["reason"] == "minhash_dedup:near_duplicate"
        keeper = by_id[row["duplicate_of"]]
        # keep=first: originals come first in input order, so the keeper is the group's original
        assert keeper["group"] == by_id[row["id"]]["group"] and keeper["kind"] == "original"
        assert 0.0 < row["similarity"] <= 1.0
    exact = [r for r in rejected if by_id[r["id"]]["kind"] == "exact"]
    assert exact and all(r["similarity"] == 1.0 for r in exact)


@pytest.mark.slow
def test_clusters_file_and_stats(planted):
    records, out = planted
    clusters = pq.read_table(os.path.join(out, "dedup", "clusters.parquet")).to_pylist()
    stats = json.loads((out / "stats.json").read_text())
    op = stats["ops"][0]
    assert op["bands"] * op["rows"] <= 128 and op["bands"] >= 1
    assert set(op["s_curve"]) >= {"0.50", "0.80", "1.00"} and op["s_curve"]["1.00"] == 1.0
    assert op["s_curve"]["0.50"] < op["s_curve"]["0.80"] < op["s_curve"]["0.90"]
    assert op["duplicates"] == len(read_rejected(out)) == sum(not c["keeper"] for c in clusters)
    assert op["clusters"] == sum(c["keeper"] for c in clusters)
    assert op["dropped"] == {"minhash_dedup:near_duplicate": op["duplicates"]}
    for c in clusters:
        if c["keeper"]:
            assert c["cluster"] == c["id"]
    assert stats["accounting_ok"]


def _near_dup_trio(tmp_path, keep, extra_field=None):
    base = fixture_pool()[0]
    words = base.split(" ")
    longer = " ".join(words + ["appendix", "text"])
    rows = [{"id": "a", "text": base}, {"id": "b", "text": longer}, {"id": "c", "text": base}]
    if extra_field:
        for r, v in zip(rows, (1.0, 2.0, 5.0)):
            r[extra_field] = v
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    return inp


@pytest.mark.parametrize("keep,keeper", [("first", "a"), ("longest", "b")])
@pytest.mark.slow
def test_keep_rule(tmp_path, keep, keeper):
    inp = _near_dup_trio(tmp_path, keep)
    recipe = write_recipe(tmp_path, [{"minhash_dedup": {"keep": keep}}], [{"path": inp, "source": "s"}])
    run_garden("run", recipe)
    kept = [r["id"] for r in read_data(tmp_path / "out")]
    assert kept == [keeper]
    assert {r["duplicate_of"] for r in read_rejected(tmp_path / "out")} == {keeper}


@pytest.mark.slow
def test_bad_keep_rule_fails_before_work(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}])
    recipe = write_recipe(tmp_path, [{"minhash_dedup": {"keep": "newest"}}], [{"path": inp, "source": "s"}])
    proc = run_garden("run", recipe, check=False)
    assert proc.returncode != 0 and "keep must be" in (proc.stdout + proc.stderr)


def test_bucket_with_two_clusters_splits_after_verification():
    from operators.dedup import candidate_edges

    # four docs share one bucket; signatures say {0, 1} and {2, 3} are two separate clusters
    sig = {0: np.zeros(16, np.uint32), 1: np.zeros(16, np.uint32),
           2: np.ones(16, np.uint32), 3: np.ones(16, np.uint32)}
    nodes = np.array([0, 1, 2, 3], dtype=np.int64)
    a, b, s, st = candidate_edges(np.zeros(4, np.int16), np.full(4, 7, np.uint64), nodes,
                                  lambda ns: np.stack([sig[int(n)] for n in ns]), 0.8)
    assert sorted(zip(nodes[a].tolist(), nodes[b].tolist())) == [(0, 1), (2, 3)]
    assert st["rejected"] == 2 and (s == 1.0).all()
    a, b, s, st = candidate_edges(np.zeros(4, np.int16), np.full(4, 7, np.uint64), nodes, None, 0.8)
    assert len(a) == 3  # unverified: the whole bucket is one cluster


def test_union_find_keeper_independent_of_pair_order():
    from operators.dedup import UnionFind

    pairs = [(5, 9), (9, 2), (7, 5), (11, 12)]
    scores = {5: 1.0, 9: 3.0, 2: 3.0, 7: 0.0, 11: 0.0, 12: 4.0}
    roots = []
    for order in (pairs, pairs[::-1]):
        uf = UnionFind(use_scores=True)
        for a, b in order:
            uf.add(a, scores[a])
            uf.add(b, scores[b])
            uf.union(a, b)
        roots.append({x: uf.find(x) for x in scores})
    assert roots[0] == roots[1]
    assert roots[0][5] == 2 and roots[0][12] == 12  # highest score, ties to the earliest node
