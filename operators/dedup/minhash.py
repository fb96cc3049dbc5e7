"""Near-duplicate removal with MinHash-LSH, on disk: memory does not grow with the corpus.

    scan      per shard: datasketch signatures (bulk) → signature file; one row per (doc, band)
              with the band hash, partitioned by the hash (equal band hashes meet in one partition)
    reduce    per partition: buckets of equal (band, 64-bit hash) → candidate pairs; a pair becomes
              an edge only when its signatures' estimated Jaccard ≥ threshold (always verified)
    finalize  driver: union-find over the pairs streamed from disk, one keeper per cluster
              (keep rule), clusters.parquet and the drop list
    apply     per shard: drop the listed documents, with duplicate_of and similarity
"""
from __future__ import annotations

from typing import ClassVar, Iterator, Optional

import numpy as np
import pyarrow as pa

from garden.io import fs
from garden.io.writer import atomic_write_json, read_json, write_table
from garden.operator import Doc, GlobalOp, StageContext, Verdict
from garden.registry import register
from garden.shuffle import reduce_files, rows_for_shard
from operators.dedup._lsh import UnionFind, candidate_edges, choose_bands, s_curve
from operators.dedup._signature import band_hashes, estimated_jaccard, signatures
from operators.dedup._store import (SignatureReader, SignatureWriter, count_signatures, node_ids,
                                      refuse_older_signatures, split_nodes)
from operators.dedup.keep_rule import KeepRule

PARTITION_BITS = 6  # 64 partitions: each holds ~1/64 of all band rows


@register
class MinHashDedup(GlobalOp):
    """Remove near-duplicates (MinHash-LSH, Jaccard of word n-grams; CJK by character n-grams)."""

    name = "minhash_dedup"
    threshold: float = 0.8
    ngram: int = 5
    num_perm: int = 128
    bands: Optional[int] = None
    rows: Optional[int] = None
    seed: int = 1
    verify: bool = True
    fn_weight: float = 0.9
    keep: str = "first"
    param_docs = {
        "threshold": "Jaccard similarity of shingle sets above which two documents are duplicates",
        "ngram": "shingle size in words (each CJK character is a word, so CJK uses character n-grams)",
        "num_perm": "MinHash permutations (signature length)",
        "bands": "LSH bands (default: datasketch's optimal search for the threshold)",
        "rows": "rows per band (default: as bands)",
        "seed": "MinHash permutation seed",
        "verify": "always true: a candidate pair is merged only when its signatures' estimated Jaccard "
                  "reaches the threshold (false is refused: a band collision alone would merge distinct documents)",
        "fn_weight": "weight of missed duplicates vs. false candidates in the bands×rows search "
                     "(verification removes false candidates, so misses cost more; 0.5 = datasketch's default)",
        "keep": "which copy survives: first (input order) | longest | highest:<column>",
    }
    num_partitions: ClassVar[int] = 1 << PARTITION_BITS
    has_apply: ClassVar[bool] = True
    reject_outputs: ClassVar[dict] = {"duplicate_of": pa.string(), "similarity": pa.float32()}

    @staticmethod
    def validate_params(params: dict) -> None:
        KeepRule.parse(params["keep"])
        if not 0.0 < params["threshold"] <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if params["ngram"] < 1 or params["num_perm"] < 2:
            raise ValueError("ngram must be ≥ 1 and num_perm ≥ 2")
        if params["verify"] is not True:
            raise ValueError("verify must be true: unverified band collisions merge distinct documents")
        if not 0.0 < params["fn_weight"] < 1.0:
            raise ValueError("fn_weight must be in (0, 1)")
        b, r = choose_bands(params["threshold"], params["num_perm"], params["bands"], params["rows"], params["fn_weight"])
        if b < 1 or r < 1 or b * r > params["num_perm"]:
            raise ValueError(f"bands × rows ({b} × {r}) must be ≥ 1 and fit in num_perm ({params['num_perm']})")

    @staticmethod
    def derived_params(params: dict) -> dict:
        """bands × rows, searched once on the driver and given to every worker as parameters."""
        b, r = choose_bands(params["threshold"], params["num_perm"], params["bands"], params["rows"], params["fn_weight"])
        return {"bands": b, "rows": r}

    def setup(self) -> None:
        self._rule = KeepRule.parse(self.keep)
        self._bands, self._rows = choose_bands(self.threshold, self.num_perm, self.bands, self.rows, self.fn_weight)
        self._writer: SignatureWriter | None = None
        self._apply_shard = -1
        self._drops: dict[str, tuple[str, float]] = {}

    # -- scan: signatures and band rows ------------------------------------------------
    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> pa.Table:
        if self._writer is None or self._writer.shard != ctx.shard or ctx.row_offset == 0:
            refuse_older_signatures(ctx.work_dir)
            self._writer = SignatureWriter(ctx.work_dir, ctx.shard)
        sigs, ok = signatures(batch.column("text").to_pylist(), self.ngram, self.num_perm, self.seed)
        self._writer.write(sigs)
        idx = np.flatnonzero(ok)
        hashes = band_hashes(sigs[idx], self._bands, self._rows)  # [docs, bands]
        nb = self._bands
        flat = hashes.reshape(-1)
        ids = batch.column("id").take(pa.array(np.repeat(idx, nb)))
        scores = self._rule.scores(batch).to_numpy()[idx]
        return pa.table({
            "partition": pa.array((flat >> np.uint64(64 - PARTITION_BITS)).astype(np.int32)),
            "band": pa.array(np.tile(np.arange(nb, dtype=np.int16), len(idx))),
            "hash": pa.array(flat),
            "node": pa.array(np.repeat(node_ids(ctx.shard, ctx.row_offset, batch.num_rows)[idx], nb)),
            "score": pa.array(np.repeat(scores, nb)),
            "id": ids,
        })

    def scan_end(self, ctx: StageContext) -> None:
        if self._writer is None or self._writer.shard != ctx.shard:
            self._writer = SignatureWriter(ctx.work_dir, ctx.shard)  # empty shard: empty file
        self._writer.close()
        self._writer = None
        return None

    # -- reduce: candidate pairs per partition -----------------------------------------
    def reduce(self, partition: int, rows: Iterator[pa.RecordBatch], ctx: StageContext) -> pa.Table | None:
        batches = list(rows)
        if not batches:
            return None
        t = pa.Table.from_batches(batches)
        nodes = t.column("node").to_numpy()
        refuse_older_signatures(ctx.work_dir)
        reader = SignatureReader(ctx.work_dir, self.num_perm)
        a, b, sim, st = candidate_edges(t.column("band").to_numpy(), t.column("hash").to_numpy(), nodes,
                                        reader.get, self.threshold)
        atomic_write_json(fs.join(ctx.work_dir, "reduce-counts", f"p{partition:04d}.json"), st)
        if len(a) == 0:
            return None
        na, nb_ = nodes[a], nodes[b]
        order = np.lexsort((nb_, na))
        na, nb_, a, b, sim = na[order], nb_[order], a[order], b[order], sim[order]
        uniq = np.ones(len(na), dtype=bool)
        uniq[1:] = (na[1:] != na[:-1]) | (nb_[1:] != nb_[:-1])
        a, b, sim = a[uniq], b[uniq], sim[uniq]
        score = t.column("score").to_numpy()
        ids = t.column("id")
        return pa.table({
            "a": pa.array(nodes[a]), "b": pa.array(nodes[b]),
            "a_id": ids.take(pa.array(a)), "b_id": ids.take(pa.array(b)),
            "a_score": pa.array(score[a]), "b_score": pa.array(score[b]),
            "sim": pa.array(sim),
        })

    # -- finalize: clusters ------------------------------------------------------------
    def finalize(self, ctx: StageContext) -> dict:
        files = reduce_files(ctx.work_dir)
        uf = UnionFind(use_scores=self._rule.kind != "first")
        ids: dict[int, str] = {}
        pairs = 0
        for f in files:
            for batch in fs.parquet_file(f).iter_batches(batch_size=65536):
                cols = batch.to_pydict()
                for a, b, ai, bi, sa, sb in zip(cols["a"], cols["b"], cols["a_id"], cols["b_id"],
                                                cols["a_score"], cols["b_score"]):
                    uf.add(a, sa)
                    uf.add(b, sb)
                    ids[a] = ai
                    ids[b] = bi
                    uf.union(a, b)
                pairs += batch.num_rows
        cand, rejected = self._reduce_counts(ctx.work_dir)
        nodes = np.array(sorted(uf.parent), dtype=np.int64)
        roots = np.array([uf.find(int(x)) for x in nodes], dtype=np.int64)
        sim = np.ones(len(nodes), dtype=np.float32)
        reader = SignatureReader(ctx.work_dir, self.num_perm)
        dup = nodes != roots
        dup_idx = np.flatnonzero(dup)
        for lo in range(0, len(dup_idx), 100_000):
            sel = dup_idx[lo:lo + 100_000]
            sim[sel] = estimated_jaccard(reader.get(nodes[sel]), reader.get(roots[sel]))
        shards, rows = split_nodes(nodes)
        id_col = pa.array([ids[int(x)] for x in nodes], pa.string())
        keeper_col = pa.array([ids[int(x)] for x in roots], pa.string())
        clusters = pa.table({"cluster": keeper_col, "id": id_col, "shard": pa.array(shards.astype(np.int32)),
                             "row": pa.array(rows), "keeper": pa.array(~dup), "similarity": pa.array(sim)})
        clusters = clusters.take(pa.array(np.lexsort((nodes, roots))))
        write_table(fs.join(ctx.run_dir, "dedup", "clusters.parquet"), clusters, row_group_size=65536)
        drops = pa.table({"shard": pa.array(shards[dup].astype(np.int32)), "row": pa.array(rows[dup]),
                          "id": id_col.filter(pa.array(dup)), "duplicate_of": keeper_col.filter(pa.array(dup)),
                          "similarity": pa.array(sim[dup])})
        write_table(fs.join(ctx.work_dir, "drops.parquet"), drops, row_group_size=16384)
        sizes = np.unique(roots, return_counts=True)[1] if len(roots) else np.zeros(0, np.int64)
        scanned = count_signatures(ctx.work_dir, self.num_perm)
        return {
            "documents": int(scanned),
            "bands": self._bands, "rows": self._rows,
            "s_curve": s_curve(self._bands, self._rows),
            "candidate_pairs": cand, "rejected_pairs": rejected, "merged_pairs": pairs,
            "clusters": int(len(sizes)), "documents_in_clusters": int(len(nodes)),
            "duplicates": int(dup.sum()), "largest_cluster": int(sizes.max()) if len(sizes) else 0,
            "cluster_sizes": {str(k): int(v) for k, v in zip(*np.unique(np.minimum(sizes, 10), return_counts=True))},
            "union_find_nodes": len(uf),
            "clusters_file": "dedup/clusters.parquet",
        }

    @staticmethod
    def _reduce_counts(work_dir: str) -> tuple[int, int]:
        cand = rejected = 0
        for f in fs.glob(fs.join(work_dir, "reduce-counts", "p*.json")):
            st = read_json(f)
            cand += st["candidates"]
            rejected += st["rejected"]
        return cand, rejected

    # -- apply: drop listed documents --------------------------------------------------
    def prepare_apply(self, ctx: StageContext) -> None:
        self._drops_path = fs.join(ctx.work_dir, "drops.parquet")

    def apply(self, docs: list[Doc], shard: int) -> list[Verdict]:
        if shard != self._apply_shard:
            table = rows_for_shard([self._drops_path], shard, ["id", "duplicate_of", "similarity"])
            self._drops = dict(zip(table.column("id").to_pylist(),
                                   zip(table.column("duplicate_of").to_pylist(), table.column("similarity").to_pylist())))
            self._apply_shard = shard
        out: list[Verdict] = []
        for doc in docs:
            hit = self._drops.get(doc["id"])
            if hit is None:
                out.append(True)
            else:
                doc["duplicate_of"], doc["similarity"] = hit[0], round(float(hit[1]), 4)
                out.append("near_duplicate")
        return out

